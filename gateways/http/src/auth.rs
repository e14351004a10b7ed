//! Who is calling, and what it may do.
//!
//! Every request passes [`gate`]: its `Authorization: Bearer <key>` names a principal (an
//! admin, a partner, a customer), or none makes it anonymous. [`ACCESS`] says, route by route,
//! which roles may call it; the gate answers 401 to an anonymous call of a route that needs a
//! key, 403 to a key of the wrong role, and 429 to a key past its rate. The route then checks
//! that the resource is the caller's own ([`Caller::for_partner`] and its kin): a partner's key
//! acts for that partner only, and a body naming another is 403. An admin key may do anything.
//!
//! The OpenAPI document's `security` comes from [`ACCESS`] (`access.rs`), and a test checks that
//! every route has its line. `limits.rs` holds the keys' token buckets.

mod access;
mod limits;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use eventmall_store::keys::{ApiKey, ApiKeys, Principal};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use tracing::warn;

pub use access::{ACCESS, Access, SCHEME, access, document};
pub use limits::RateLimits;

use crate::extract::party_id;
use crate::problem::ApiError;

/// How callers are told apart (`[auth]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `keys`: every call is checked against its key. `open`: anyone may do anything, acting
    /// as its `X-Actor` says; for local experiments only (the server warns).
    pub mode: AuthMode,
    /// Requests a key may make per second, sustained.
    pub rate_per_second: f64,
    /// Requests a key may make at once above its rate: the bucket's size.
    pub burst: u32,
    /// How long a checked key is remembered before it is looked up again, in ms: a key revoked
    /// on another replica stops working there within this.
    pub key_cache_ms: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Keys,
            rate_per_second: 100.0,
            burst: 200,
            key_cache_ms: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Keys,
    Open,
}

/// Who is calling, as the gate found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Key(Principal),
    /// A server in `open` mode: anyone, who may do anything.
    Open,
}

impl Caller {
    fn is_admin(&self) -> bool {
        matches!(self, Caller::Open | Caller::Key(Principal::Admin { .. }))
    }

    /// Whether the caller may act for the partner `partner`; 403 otherwise.
    pub fn for_partner(&self, partner: &str) -> Result<(), ApiError> {
        match self {
            Caller::Key(Principal::Partner(own)) if own == partner => Ok(()),
            _ if self.is_admin() => Ok(()),
            _ => Err(self.refused(&format!("partner {partner}"))),
        }
    }

    /// Whether the caller may act for the customer `customer`; 403 otherwise.
    pub fn for_customer(&self, customer: &str) -> Result<(), ApiError> {
        match self {
            Caller::Key(Principal::Customer(own)) if own == customer => Ok(()),
            _ if self.is_admin() => Ok(()),
            _ => Err(self.refused(&format!("customer {customer}"))),
        }
    }

    /// A partner id from a path, checked as an id and as the caller's own (400, 403).
    pub fn own_partner(&self, id: String) -> Result<String, ApiError> {
        let id = party_id(id)?;
        self.for_partner(&id)?;
        Ok(id)
    }

    /// A customer id from a path, checked as an id and as the caller's own (400, 403).
    pub fn own_customer(&self, id: String) -> Result<String, ApiError> {
        let id = party_id(id)?;
        self.for_customer(&id)?;
        Ok(id)
    }

    /// Whether the caller is the customer or the partner of an order; 403 otherwise.
    pub fn for_order(&self, customer: &str, partner: &str) -> Result<(), ApiError> {
        self.for_customer(customer)
            .or_else(|_| self.for_partner(partner))
            .map_err(|_| self.refused("the order's customer or partner"))
    }

    fn refused(&self, whose: &str) -> ApiError {
        match self {
            Caller::Anonymous => ApiError::Unauthorized("this route needs an API key".into()),
            _ => ApiError::Forbidden(format!("this key does not act for {whose}")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Without the gate nobody was checked: anonymous, which opens nothing.
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous))
    }
}

/// What the gate needs: the keys, the settings, the keys it checked lately and the rate
/// limits.
#[derive(Clone)]
pub struct Gate {
    keys: ApiKeys,
    settings: AuthSettings,
    checked: Arc<Mutex<LruCache<String, (ApiKey, Instant)>>>,
    limits: RateLimits,
}

/// Keys remembered at most.
const CHECKED_KEYS: usize = 16_384;

impl Gate {
    pub fn new(keys: ApiKeys, settings: AuthSettings) -> Self {
        if settings.mode == AuthMode::Open {
            warn!(
                "EVENTMALL__AUTH__MODE=open: every caller may act as anyone; for local experiments only"
            );
        }
        let capacity =
            std::num::NonZeroUsize::new(CHECKED_KEYS).unwrap_or(std::num::NonZeroUsize::MIN);
        Self {
            limits: RateLimits::new(settings.rate_per_second, settings.burst),
            keys,
            settings,
            checked: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// Forgets every key checked so far: after a revocation, so it takes effect here at once.
    pub fn forget_checked(&self) {
        if let Ok(mut checked) = self.checked.lock() {
            checked.clear();
        }
    }

    /// The live key of `secret`, from memory when it was checked lately.
    async fn key(&self, secret: &str) -> Result<Option<ApiKey>, ApiError> {
        let fresh = Duration::from_millis(self.settings.key_cache_ms);
        if let Ok(mut checked) = self.checked.lock()
            && let Some((key, at)) = checked.get(secret)
            && at.elapsed() < fresh
        {
            return Ok(Some(key.clone()));
        }
        let key = self.keys.authenticate(secret).await?;
        if let (Some(key), Ok(mut checked)) = (&key, self.checked.lock()) {
            checked.put(secret.to_owned(), (key.clone(), Instant::now()));
        }
        Ok(key)
    }

    /// The caller of a request with these headers.
    async fn caller(&self, parts: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
        if self.settings.mode == AuthMode::Open {
            return Ok(Caller::Open);
        }
        let Some(value) = parts.get(header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be `Bearer <API key>`".into())
            })?;
        match self.key(secret).await? {
            Some(key) => {
                self.limits.take(&key.key_id)?;
                Ok(Caller::Key(key.principal()))
            }
            None => Err(ApiError::Unauthorized(
                "the API key is unknown or revoked".into(),
            )),
        }
    }
}

/// The middleware every request passes: finds the caller, holds it to its key's rate and its
/// route's [`Access`], and hands it on to the route as [`Caller`].
pub async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let caller = match gate.caller(request.headers()).await {
        Ok(caller) => caller,
        Err(error) => return axum::response::IntoResponse::into_response(error),
    };
    // A path no route matches is answered by the fallback (404), whoever asks.
    if let Some(path) = request.extensions().get::<MatchedPath>() {
        let access = access(request.method(), path.as_str());
        let refusal = match &caller {
            Caller::Open => None,
            _ if access == Access::Anyone => None,
            Caller::Anonymous => Some(ApiError::Unauthorized(
                "this route needs an API key: `Authorization: Bearer <key>`".into(),
            )),
            Caller::Key(principal) if !access.admits(principal.role()) => {
                Some(ApiError::Forbidden(format!(
                    "a {} key may not call this route",
                    principal.role()
                )))
            }
            Caller::Key(_) => None,
        };
        if let Some(refusal) = refusal {
            return axum::response::IntoResponse::into_response(refusal);
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
