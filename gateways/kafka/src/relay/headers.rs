//! What each record of an event carries besides its value: the DESIGN headers, and the
//! traceparent of the producer span it is sent in.

use eventmall_events::StoredEvent;
use rdkafka::message::{Header, OwnedHeaders};

/// A record's producer span (OpenTelemetry's messaging conventions), a child of the command
/// that stored the event; its context is the traceparent the record carries.
pub(super) fn publish_span(stored: &StoredEvent, topic: &str) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "publish",
        otel.name = format!("send {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = topic,
        messaging.kafka.message.key = stored.aggregate_id.as_str(),
        eventmall.global_position = stored.global_position,
    );
    eventmall_telemetry::continue_from(&span, stored.metadata.traceparent.as_deref());
    span
}

/// The DESIGN headers of an event's record.
pub fn headers(stored: &StoredEvent) -> OwnedHeaders {
    traced_headers(stored, None)
}

/// [`headers`], with `traceparent` in place of the stored one when given: the producer span's.
pub(super) fn traced_headers(stored: &StoredEvent, traceparent: Option<&str>) -> OwnedHeaders {
    let metadata = &stored.metadata;
    let event_id = metadata.event_id.to_string();
    let sequence = stored.sequence.to_string();
    let position = stored.global_position.to_string();
    let mut headers = OwnedHeaders::new_with_capacity(8);
    for (key, value) in [
        ("event_id", Some(event_id.as_str())),
        ("event_type", Some(stored.event_type.as_str())),
        ("aggregate_type", Some(stored.aggregate_type.as_str())),
        ("sequence", Some(sequence.as_str())),
        ("global_position", Some(position.as_str())),
        ("correlation_id", Some(metadata.correlation_id.as_str())),
        ("causation_id", Some(metadata.causation_id.as_str())),
        (
            "traceparent",
            traceparent.or(metadata.traceparent.as_deref()),
        ),
    ] {
        if let Some(value) = value {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
    }
    headers
}
