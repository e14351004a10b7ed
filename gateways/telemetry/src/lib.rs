//! Trace context across the system's hops, in W3C Trace Context's `traceparent` form: from an
//! HTTP request into the command's span, from the command into its events' metadata, from the
//! metadata into the Kafka headers, and from a consumed record into the span that handles it.
//!
//! Spans are `tracing` spans; the OpenTelemetry layer (installed by the binary when spans are
//! exported or logged as JSON) gives them trace and span ids. Without it there is no current
//! context, and every function here leaves the traceparent it was given as it was.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static RECORDING: AtomicBool = AtomicBool::new(false);

/// Says that spans are recorded from now on: the binary calls it once it has installed the
/// OpenTelemetry layer.
pub fn start_recording() {
    RECORDING.store(true, Ordering::Relaxed);
}

/// Whether spans are recorded (with trace ids) in this process.
pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// The `traceparent` of the current span, when spans are recorded.
pub fn current() -> Option<String> {
    if !recording() {
        return None;
    }
    traceparent_of(&Span::current())
}

/// The `traceparent` of `span`, when spans are recorded and it has a valid context.
pub fn traceparent_of(span: &Span) -> Option<String> {
    if !recording() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| format(&span_context))
}

/// Makes `span` a child of the remote context `traceparent`: the span that handles a request
/// or a record continues its sender's trace. A missing or malformed traceparent starts a new
/// trace. Call before the span is first entered.
pub fn continue_from(span: &Span, traceparent: Option<&str>) {
    if !recording() {
        return;
    }
    if let Some(remote) = traceparent.and_then(parse) {
        let context = opentelemetry::Context::new().with_remote_span_context(remote);
        let _ = span.set_parent(context);
    }
}

/// Renames `span` once it has started: a server span learns its route template after routing.
pub fn rename(span: &Span, name: String) {
    if recording() {
        span.context().span().update_name(name);
    }
}

/// Links `span` to each traceparent's context: a batch's span and the records in it, each of
/// its own trace.
pub fn link_to<'a>(span: &Span, traceparents: impl IntoIterator<Item = Option<&'a str>>) {
    if !recording() {
        return;
    }
    for remote in traceparents.into_iter().flatten().filter_map(parse) {
        span.add_link(remote);
    }
}

/// `00-<trace id>-<span id>-<flags>`, the only version there is.
pub fn format(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

/// A remote span context from a `traceparent`, if it is one: version 00, a 32-digit trace id
/// and a 16-digit span id in lowercase hex, neither all zeros, and 2 digits of flags.
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.trim().split('-');
    let (Some("00"), Some(trace), Some(span), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let lower_hex = |text: &str, length: usize| {
        text.len() == length && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !lower_hex(trace, 32) || !lower_hex(span, 16) || !lower_hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    let context = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    context.is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = parse(text).unwrap();
        assert!(context.is_remote());
        assert_eq!(format(&context), text);
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for text in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
