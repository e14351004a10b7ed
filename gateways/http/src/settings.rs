//! What the HTTP API is configured with (`[http]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on; port 0 picks a free one.
    pub addr: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Largest feed upload (`POST /v1/partners/{id}/feeds`), read as a stream; larger ones
    /// stop with 413.
    pub feed_limit_bytes: u64,
    /// How long a feed upload may send nothing before it stops with 408, in ms.
    pub feed_idle_timeout_ms: u64,
    /// How long a request may take before it is answered 503, in ms.
    pub request_timeout_ms: u64,
    /// How long a feed upload may take in all, in ms: a large feed streams for a while.
    pub feed_upload_timeout_ms: u64,
}

impl HttpSettings {
    pub fn deadlines(&self) -> crate::Deadlines {
        crate::Deadlines {
            request: Duration::from_millis(self.request_timeout_ms),
            feed_upload: Duration::from_millis(self.feed_upload_timeout_ms),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
            feed_limit_bytes: 1 << 30,
            feed_idle_timeout_ms: 30_000,
            request_timeout_ms: 30_000,
            feed_upload_timeout_ms: 3_600_000,
        }
    }
}
