//! Logs and spans, set up once per process.
//!
//! Spans are recorded (given trace and span ids by the OpenTelemetry layer) when they are
//! exported, `[telemetry] otlp_endpoint` set, or when logs are JSON, whose lines then carry the
//! `trace_id` and `span_id` of the span they were written in. Pretty logs without an exporter
//! record none, which costs least.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Level, Subscriber, warn};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

/// The process's span pipeline; dropping it sends the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("spans not flushed: {error}");
        }
    }
}

/// Installs the global subscriber for `role`; a second call (tests) keeps the first.
pub fn init(log: &LogSettings, telemetry: &TelemetrySettings, role: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let exporter = match telemetry.otlp_endpoint.trim_end_matches('/') {
        "" => None,
        endpoint => SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .build()
            .inspect_err(|error| eprintln!("spans not exported: {error}"))
            .ok(),
    };
    let json = log.format == LogFormat::Json;
    let provider = (exporter.is_some() || json).then(|| {
        let service = match telemetry.service_name.as_str() {
            "" => format!("eventmall-{role}"),
            name => name.to_owned(),
        };
        let ratio = Sampler::TraceIdRatioBased(telemetry.sample_ratio.clamp(0.0, 1.0));
        let builder = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(ratio)))
            .with_resource(Resource::builder().with_service_name(service).build());
        match exporter {
            Some(exporter) => builder.with_batch_exporter(exporter).build(),
            None => builder.build(),
        }
    });
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("eventmall"))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(|metadata| {
                // Eventmall's own spans at info and above, whatever the log filter says, and
                // its warnings and errors as span events; never the exporter's HTTP client.
                metadata.target().starts_with("eventmall")
                    && match metadata.is_span() {
                        true => *metadata.level() <= Level::INFO,
                        false => *metadata.level() <= Level::WARN,
                    }
            }))
    });
    let lines = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceIds(Format::default().json().flatten_event(true)))
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(spans).with(lines);
    let dispatch = Dispatch::new(subscriber);
    let weak = dispatch.downgrade();
    if tracing::dispatcher::set_global_default(dispatch).is_ok() {
        let _ = DISPATCH.set(weak);
        if provider.is_some() {
            eventmall_telemetry::start_recording();
        }
    } else if provider.is_some() {
        warn!("a subscriber was installed first: spans are not recorded by this one");
    }
    Telemetry { provider }
}

/// The installed dispatcher, for the log formatter to read span contexts through.
static DISPATCH: OnceLock<WeakDispatch> = OnceLock::new();

/// A JSON log line with the `trace_id` and `span_id` of the span it was written in.
struct WithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // The current span as the registry knows it, not as this layer's filter sees it: a
        // span recorded for the trace may be one this log filter leaves out.
        let ids = DISPATCH
            .get()
            .and_then(WeakDispatch::upgrade)
            .and_then(|dispatch| {
                let current = dispatch.current_span();
                let otel = tracing_opentelemetry::get_otel_context(current.id()?, &dispatch)?;
                let span_context = otel.span().span_context().clone();
                span_context.is_valid().then(|| {
                    (
                        span_context.trace_id().to_string(),
                        span_context.span_id().to_string(),
                    )
                })
            });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(context, writer, event);
        };
        let mut line = String::new();
        self.0
            .format_event(context, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}
