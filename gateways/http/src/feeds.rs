//! `POST /v1/partners/{id}/feeds`: a partner's product feed, read from the request body as a
//! stream; `GET /v1/partners/{id}/feeds/{run}`: what a run did, and `…/rejections` every line
//! it rejected, a page at a time.

mod mappings;

use std::io::BufReader;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventmall_events::PartnerId;
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use eventmall_feeds::{FeedEncoding, FeedFormat, FeedRun, FeedRunPage, RejectionPage};

use crate::auth::Caller;
use crate::extract::Query;
use crate::problem::{Problem, ReadProblems, feed_store};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, runs))
        .routes(routes!(run))
        .routes(routes!(rejections))
        .merge(mappings::router())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The feed's format: `ep-tsv` (Naver Shopping EP 3.0), or `csv` and `jsonl` through the
    /// partner's field mapping; else named by `Content-Type` (`text/csv`,
    /// `application/x-ndjson` or `application/jsonl`), else `ep-tsv`.
    #[param(value_type = Option<String>, pattern = "^(ep-tsv|csv|jsonl)$")]
    format: Option<String>,
    /// `utf-8` (with or without a BOM) or `euc-kr` (CP949); else the `charset` of
    /// `Content-Type`, else UTF-8.
    #[param(
        value_type = Option<String>,
        pattern = "^([Uu][Tt][Ff][-_]?8|[Ee][Uu][Cc][-_]?[Kk][Rr]|[Cc][Pp]949|[Ww][Ii][Nn][Dd][Oo][Ww][Ss][-_]949|[Kk][Ss][-_][Cc][-_]5601[-_]1987)$"
    )]
    encoding: Option<String>,
}

/// The format named by the query, else by the media type of `Content-Type`, else EP TSV.
fn format(query: Option<&str>, headers: &HeaderMap) -> Result<FeedFormat, ApiError> {
    if let Some(name) = query {
        return name.parse().map_err(ApiError::BadRequest);
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|media_type| media_type.trim().to_ascii_lowercase());
    Ok(match media_type.as_deref() {
        Some("text/csv") => FeedFormat::Csv,
        Some("application/x-ndjson" | "application/jsonl" | "application/jsonlines") => {
            FeedFormat::Jsonl
        }
        _ => FeedFormat::EpTsv,
    })
}

/// The encoding named by the query, else by the `charset` of `Content-Type`, else UTF-8.
fn encoding(query: Option<&str>, headers: &HeaderMap) -> Result<FeedEncoding, ApiError> {
    let charset = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .split(';')
                .filter_map(|param| param.trim().split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
                .map(|(_, charset)| charset.trim().trim_matches('"').to_owned())
        });
    query
        .map(str::to_owned)
        .or(charset)
        .map_or(Ok(FeedEncoding::Utf8), |name| {
            name.parse().map_err(ApiError::BadRequest)
        })
}

/// The body's chunks, ending in an error (and `timed_out` set) when none comes for `idle`: a
/// client that stops sending must not hold a run, and its blocking reader, for ever.
fn idle_bounded(
    chunks: BodyDataStream,
    idle: Duration,
    timed_out: Arc<AtomicBool>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> {
    futures::stream::unfold(Some(chunks), move |chunks| {
        let timed_out = timed_out.clone();
        async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(idle, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), Some(chunks))),
                Ok(None) => None,
                Err(_) => {
                    timed_out.store(true, Ordering::Relaxed);
                    let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "idle upload");
                    Some((Err(error), None))
                }
            }
        }
    })
}

/// What a path segment escapes: all but RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The feed upload's route: it gets a deadline of its own.
pub const UPLOAD: &str = "/v1/partners/{id}/feeds";

/// Upload a product feed.
///
/// The body is read as a stream, a line at a time. A bad row is rejected with its line number
/// and reason and never stops the run; a feed whose header row cannot be read is refused
/// whole with 422. A *full* feed delists the partner's products it does not list; a *summary* feed
/// (with `class` and `update_time` columns) applies `I`, `U` and `D` lines.
#[utoipa::path(
    post,
    path = "/v1/partners/{id}/feeds",
    tag = "feeds",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"), FeedQuery),
    request_body(content = String, content_type = "text/tab-separated-values", description = "Naver Shopping EP 3.0 TSV"),
    responses(
        (status = 201, description = "The run, with its counts and rejected lines", body = FeedRun,
         headers(("Location" = String, description = "The run's URL"))),
        (status = 408, description = "The upload sent nothing for the idle timeout", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The partner has a feed run going; one at a time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The feed is larger than the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a feed (its header row is missing, unreadable or lacks a required column), or the run stopped after too many rejected lines", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "As many feed runs are going as the server takes; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        ReadProblems,
    ),
)]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<FeedQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partner = PartnerId(caller.own_partner(id)?);
    let format = format(query.format.as_deref(), &headers)?;
    let encoding = encoding(query.encoding.as_deref(), &headers)?;
    let limit = state.feed_limit_bytes;
    let idle = state.feed_idle_timeout;
    let read = Arc::new(AtomicU64::new(0));
    let too_large = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let counted = {
        let too_large = too_large.clone();
        let timed_out = timed_out.clone();
        Box::pin(idle_bounded(body.into_data_stream(), idle, timed_out)).map(move |chunk| {
            let chunk = chunk?;
            if read.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64 > limit {
                too_large.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other("the feed is larger than the limit"));
            }
            Ok(chunk)
        })
    };
    let input = BufReader::with_capacity(64 * 1024, SyncIoBridge::new(StreamReader::new(counted)));
    let run = state
        .feeds
        .run(partner.clone(), format, encoding, input)
        .await;
    match run {
        Ok(run) => {
            // The partner id's charset needs no escaping; encoding it keeps that true whatever
            // the rule becomes, so a committed run never answers 500 for its Location.
            let partner = utf8_percent_encode(&partner.0, PATH_SEGMENT);
            let location = format!("/v1/partners/{partner}/feeds/{}", run.summary.run_id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(run),
            )
                .into_response())
        }
        Err(_) if too_large.load(Ordering::Relaxed) => Err(ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }),
        Err(_) if timed_out.load(Ordering::Relaxed) => Err(ApiError::RequestTimeout(format!(
            "the upload sent nothing for {} ms; the run stopped there",
            idle.as_millis()
        ))),
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RunsQuery {
    /// Runs to skip.
    #[serde(default)]
    #[param(minimum = 0)]
    offset: i64,
    /// Runs to return.
    #[serde(default = "twenty")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
}

fn twenty() -> i64 {
    20
}

/// A partner's feed runs, newest first, without their rejected lines.
#[utoipa::path(
    get,
    path = "/v1/partners/{id}/feeds",
    tag = "feeds",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"), RunsQuery),
    responses((status = 200, description = "The runs and how many there are", body = FeedRunPage), ReadProblems),
)]
async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<FeedRunPage>, ApiError> {
    let partner = caller.own_partner(id)?;
    if !(1..=100).contains(&query.limit) || query.offset < 0 {
        return Err(ApiError::BadRequest(
            "limit must be 1 to 100 and offset at least 0".into(),
        ));
    }
    state
        .feeds
        .records()
        .runs(&partner, query.offset, query.limit)
        .await
        .map(Json)
        .map_err(feed_store)
}

/// What a feed run read and did, with its first 100 rejected lines (`rejected` counts them
/// all; `more_rejections_after` says where the rest continue).
#[utoipa::path(
    get,
    path = "/v1/partners/{id}/feeds/{run}",
    tag = "feeds",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"),
        ("run" = Uuid, Path, description = "The run id the upload answered"),
    ),
    responses((status = 200, description = "The run", body = FeedRun), ReadProblems),
)]
async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, run)): Path<(String, String)>,
) -> Result<Json<FeedRun>, ApiError> {
    let (partner, run) = run_path(&caller, id, &run)?;
    state
        .feeds
        .records()
        .find(&partner, run)
        .await
        .map_err(feed_store)?
        .map(Json)
        .ok_or_else(|| no_run(&partner, run))
}

fn run_path(caller: &Caller, id: String, run: &str) -> Result<(String, Uuid), ApiError> {
    let partner = caller.own_partner(id)?;
    let run = run
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{run} is not a run id")))?;
    Ok((partner, run))
}

fn no_run(partner: &str, run: Uuid) -> ApiError {
    ApiError::NotFound(format!("partner {partner} has no feed run {run}"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RejectionsQuery {
    /// The page starts after this line (a page's `next_after`).
    #[serde(default)]
    #[param(minimum = 0)]
    after: i64,
    /// Rejected lines to return.
    #[serde(default = "thousand")]
    #[param(minimum = 1, maximum = 1000, default = 1000)]
    limit: usize,
}

fn thousand() -> usize {
    1000
}

/// A feed run's rejected lines, in line order, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/partners/{id}/feeds/{run}/rejections",
    tag = "feeds",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"),
        ("run" = Uuid, Path, description = "The run id the upload answered"),
        RejectionsQuery,
    ),
    responses((status = 200, description = "A page of rejected lines", body = RejectionPage), ReadProblems),
)]
async fn rejections(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, run)): Path<(String, String)>,
    Query(query): Query<RejectionsQuery>,
) -> Result<Json<RejectionPage>, ApiError> {
    let (partner, run) = run_path(&caller, id, &run)?;
    if !(1..=1000).contains(&query.limit) || query.after < 0 {
        return Err(ApiError::BadRequest(
            "limit must be 1 to 1000 and after at least 0".into(),
        ));
    }
    let records = state.feeds.records();
    if records
        .find_summary(&partner, run)
        .await
        .map_err(feed_store)?
        .is_none()
    {
        return Err(no_run(&partner, run));
    }
    records
        .rejections(run, query.after, query.limit)
        .await
        .map(Json)
        .map_err(feed_store)
}
