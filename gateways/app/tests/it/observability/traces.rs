//! One order's trace, exported over OTLP/HTTP by `eventmall up` to a small receiver: the
//! request's server span, the command under it, the relay's producer span under the command,
//! and the projectors' consumer spans linked to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::helpers::get_json;
use crate::up::up_with;

/// A span as the receiver keeps it: ids in hex.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    kind: SpanKind,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// (trace id, span id) of each link.
    links: Vec<(String, String)>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// `POST /v1/traces` of OTLP/HTTP in protobuf: keeps every span it is sent.
async fn receive(State(spans): State<Spans>, body: Bytes) -> axum::http::StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let mut kept = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|attribute| attribute.key == "service.name")
            .and_then(|attribute| attribute.value.as_ref())
            .map(|value| format!("{:?}", value.value))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                kept.push(Received {
                    service: service.clone(),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    links: span
                        .links
                        .iter()
                        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                        .collect(),
                });
            }
        }
    }
    axum::http::StatusCode::OK
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `ancestor` is `span`'s parent, or its parent's, and so on.
fn descends(spans: &HashMap<String, Received>, span: &Received, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.as_str();
    while !parent.is_empty() {
        if parent == ancestor {
            return true;
        }
        parent = spans.get(parent).map_or("", |s| s.parent_span_id.as_str());
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_from_the_request_to_the_relay_and_linked_from_the_projectors() {
    let spans: Spans = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", receiver.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(receiver, app).await });

    let logs = tempfile::NamedTempFile::new().unwrap();
    let log_file = logs.reopen().unwrap();
    let mut up = up_with(|command| {
        command
            .env("EVENTMALL__TELEMETRY__OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("EVENTMALL__LOG__FORMAT", "json")
            // The HTTP layer's line for each response, written in the request's span.
            .env("EVENTMALL__LOG__FILTER", "warn,tower_http=debug")
            .stderr(log_file);
    })
    .await;
    up.wait_relayed().await;
    let admin = up.admin().unwrap();
    let found = get_json(&admin, &format!("{}/v1/search?q=청소기", up.api)).await;
    let product = found["hits"][0]["product"]["product_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The caller's own trace: the order must join it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let placed = admin
        .post(format!("{}/v1/orders", up.api))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({"customer_id": "trace-customer", "lines": [{"product_id": product, "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);

    let (mut server, mut command, mut producer, mut projector) = (None, None, None, None);
    for _ in 0..150 {
        let received = spans.lock().unwrap().clone();
        let by_id: HashMap<String, Received> = received
            .iter()
            .map(|span| (span.span_id.clone(), span.clone()))
            .collect();
        let in_trace = || received.iter().filter(|span| span.trace_id == trace_id);
        server = in_trace()
            .find(|s| s.kind == SpanKind::Server && s.parent_span_id == caller_span)
            .cloned();
        if let Some(server) = &server {
            command = in_trace()
                .find(|s| s.name == "order command" && descends(&by_id, s, &server.span_id))
                .cloned();
        }
        if let Some(command) = &command {
            producer = in_trace()
                .find(|s| s.kind == SpanKind::Producer && s.parent_span_id == command.span_id)
                .cloned();
        }
        if let Some(producer) = &producer {
            let linked = (trace_id.to_owned(), producer.span_id.clone());
            projector = received
                .iter()
                .find(|s| s.kind == SpanKind::Consumer && s.links.contains(&linked))
                .cloned();
        }
        if projector.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let server = server.expect("the request's server span, a child of the caller's");
    let command = command.expect("the order command's span, under the request's");
    let producer = producer.expect("the relay's producer span, a child of the command's");
    let projector = projector.expect("a projector's consumer span, linked to the producer's");
    for span in [&server, &command, &producer, &projector] {
        println!(
            "{} {:?} {:?} trace {}",
            span.service, span.kind, span.name, span.trace_id
        );
    }
    assert_eq!(server.name, "POST /v1/orders");
    assert!(
        producer.name.starts_with("send eventmall."),
        "{}",
        producer.name
    );
    assert!(projector.name.starts_with("process "), "{}", projector.name);
    assert!(
        server.service.contains("eventmall-up"),
        "{}",
        server.service
    );
    up.terminate().await;

    // The JSON log lines written in the request's span carry its trace and span ids.
    let lines = std::fs::read_to_string(logs.path()).unwrap();
    let in_request = lines
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["trace_id"] == trace_id && line["span_id"] == server.span_id.as_str());
    assert!(
        in_request.is_some(),
        "no log line of the request's span:\n{lines}"
    );
}
