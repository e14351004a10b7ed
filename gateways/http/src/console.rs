//! `/console`: the operators', partners' and shoppers' pages, from assets built into the binary
//! (uPlot, vendored from npm, draws the charts). They call the JSON API of this process with
//! the signed-in key; the content security policy lets them reach nothing else.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::problem::ReadProblems;
use crate::{ApiError, AppState};

/// Every asset: its path under `/console/`, its type and its bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../console/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/console.css"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/vendor/uPlot.min.css"),
    ),
    (
        "vendor/uPlot-LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../console/vendor/uPlot-LICENSE"),
    ),
];

/// Scripts, styles, data and images from this origin only; no frames.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'self'";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .route(
            "/console",
            axum::routing::get(async || asset(String::new())),
        )
        .route(
            "/console/",
            axum::routing::get(async || asset(String::new())),
        )
        .route(
            "/console/{*path}",
            axum::routing::get(async |Path(path): Path<String>| asset(path)),
        )
}

fn asset(path: String) -> Response {
    let Some((_, kind, bytes)) = ASSETS.iter().find(|(name, ..)| *name == path) else {
        return ApiError::NotFound(format!("no console asset {path}")).into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Who the caller's key says it is.
#[derive(Serialize, ToSchema)]
struct Me {
    /// `anonymous`, `admin`, `partner` or `customer`; `open` on a server without keys.
    role: &'static str,
    /// The partner's or customer's id, or the admin key's id.
    subject: Option<String>,
}

/// The caller as its key names it: what the console signs in with.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "operations",
    responses((status = 200, description = "The caller's role and subject", body = Me), ReadProblems),
)]
async fn me(caller: Caller) -> Json<Me> {
    use eventmall_store::keys::Principal;
    let (role, subject) = match caller {
        Caller::Anonymous => ("anonymous", None),
        Caller::Open => ("open", None),
        Caller::Key(Principal::Admin { key_id }) => ("admin", Some(key_id)),
        Caller::Key(Principal::Partner(partner)) => ("partner", Some(partner)),
        Caller::Key(Principal::Customer(customer)) => ("customer", Some(customer)),
    };
    Json(Me { role, subject })
}
