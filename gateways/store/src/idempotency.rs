//! Idempotency keys' namespaces and their retention.
//!
//! Every key lives in a namespace, written as its prefix:
//!
//! | namespace | whose | kept |
//! |---|---|---|
//! | `http/<principal>/<key>` | an HTTP client's `Idempotency-Key`, one keyspace per principal | the retention period |
//! | `legacy/<key>` | a client's key recorded before namespaces existed | the retention period |
//! | `ingest/<topic>/<event id>` | the ingest consumer's, one per upstream record | forever |
//! | `policy/<event id>/<step>` | the payment policy's, one per step of an event | forever |
//! | `demo/<seed>-<step>` | the demo's | forever |
//!
//! An HTTP client's key always gets its `http/<principal>/` prefix, so whatever it spells it
//! cannot land in another principal's keyspace or in the system's own. The system's keys never
//! expire: a record redelivered by Kafka, or read again by a consumer group reset to the
//! beginning of a topic that keeps its records for longer than any retention, must still be
//! recognised, and a key is small beside the events its command wrote.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{EventBackend, IdempotencyClaim, IdempotencyRecord, StoreResult};

/// The namespaces whose keys expire.
pub const EXPIRING: [&str; 2] = [HTTP, LEGACY];
const HTTP: &str = "http/";
const LEGACY: &str = "legacy/";

/// The SQL condition on `key` that holds for keys of the expiring namespaces.
pub(crate) fn expiring_keys() -> String {
    let clauses: Vec<String> = EXPIRING
        .iter()
        .map(|namespace| format!("key LIKE '{namespace}%'"))
        .collect();
    clauses.join(" OR ")
}

/// The system's own namespaces, out of reach of HTTP clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Internal {
    Ingest,
    Policy,
    Demo,
}

impl Internal {
    fn prefix(self) -> &'static str {
        match self {
            Internal::Ingest => "ingest/",
            Internal::Policy => "policy/",
            Internal::Demo => "demo/",
        }
    }
}

impl IdempotencyClaim {
    /// An HTTP client's key, in the keyspace of `principal` (`partner:p-1`, `customer:c-9`,
    /// `admin:<key id>`, or the `X-Actor` of a server without keys).
    pub fn http(principal: &str, key: &str, fingerprint: String) -> Self {
        // A principal is one path segment, whatever it contains.
        let principal = principal.replace('%', "%25").replace('/', "%2F");
        Self {
            key: format!("{HTTP}{principal}/{key}"),
            fingerprint,
        }
    }

    /// A key of one of the system's own namespaces.
    pub fn internal(namespace: Internal, key: impl std::fmt::Display, fingerprint: String) -> Self {
        Self {
            key: format!("{}{key}", namespace.prefix()),
            fingerprint,
        }
    }

    /// The key as it was recorded before namespaces existed, for an HTTP client's key.
    fn legacy(&self) -> Option<String> {
        let (_principal, key) = self.key.strip_prefix(HTTP)?.split_once('/')?;
        Some(format!("{LEGACY}{key}"))
    }
}

/// How long a client's keys are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention(pub Duration);

impl Retention {
    /// Keys recorded before this have expired.
    pub fn cutoff(&self) -> DateTime<Utc> {
        let age = chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX);
        Utc::now()
            .checked_sub_signed(age)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn expired(&self, record: &IdempotencyRecord) -> bool {
        EXPIRING.iter().any(|ns| record.key.starts_with(ns)) && record.created_at < self.cutoff()
    }
}

/// The recorded outcome of `claim`'s key, if it was used and has not expired. An HTTP key
/// not found in its principal's keyspace may be a retry of a request made before namespaces
/// existed: the same request (same fingerprint) under its legacy key is that outcome too. An
/// expired key is removed here, so its retry is taken as a new request.
pub async fn recorded(
    backend: &dyn EventBackend,
    claim: &IdempotencyClaim,
    retention: Retention,
) -> StoreResult<Option<IdempotencyRecord>> {
    let legacy = claim.legacy();
    for key in std::iter::once(&claim.key).chain(legacy.as_ref()) {
        let Some(record) = backend.idempotency(key).await? else {
            continue;
        };
        if retention.expired(&record) {
            backend.forget_idempotency(key, retention.cutoff()).await?;
            continue;
        }
        if *key == claim.key || record.fingerprint == claim.fingerprint {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Removes expired keys in batches of `batch`, pausing `pause` between batches so a large
/// backlog does not hold the writer; how many it removed.
pub async fn sweep(
    backend: &dyn EventBackend,
    retention: Retention,
    batch: u32,
    pause: Duration,
) -> StoreResult<u64> {
    let mut removed = 0;
    loop {
        let swept = backend.sweep_idempotency(retention.cutoff(), batch).await?;
        removed += swept;
        if swept < u64::from(batch) {
            return Ok(removed);
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_key_stays_in_its_principal_keyspace_whatever_it_spells() {
        let claim = IdempotencyClaim::http("customer:c-1", "ingest/topic/id", "f".into());
        assert_eq!(claim.key, "http/customer:c-1/ingest/topic/id");
        assert_eq!(claim.legacy().as_deref(), Some("legacy/ingest/topic/id"));
        let sneaky = IdempotencyClaim::http("a/b", "k", "f".into());
        assert_eq!(sneaky.key, "http/a%2Fb/k");
        assert_eq!(sneaky.legacy().as_deref(), Some("legacy/k"));
        let own = IdempotencyClaim::internal(Internal::Policy, "e/1", "f".into());
        assert_eq!(own.key, "policy/e/1");
        assert_eq!(own.legacy(), None);
    }
}
