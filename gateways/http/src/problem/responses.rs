//! The problems each kind of route documents in the OpenAPI document.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as ApiResponse, ResponseBuilder};

use super::PROBLEM_JSON;

/// A documented response whose body is the component `schema` as `content_type`.
pub(crate) fn documented(description: &str, content_type: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        content_type,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

/// The problems a route may answer with, for the OpenAPI document.
fn problem_responses(statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<ApiResponse>> {
    statuses
        .iter()
        .map(|(status, description)| {
            let response = documented(description, PROBLEM_JSON, "Problem").build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

const BAD_REQUEST: (u16, &str) = (
    400,
    "Malformed JSON, a wrong type, a bad header, path id or query parameter",
);
const NOT_FOUND: (u16, &str) = (404, "No such resource");
const TOKEN_AHEAD: (u16, &str) = (
    422,
    "`X-Consistency-Token` is past the event store's last position: no receipt carried it",
);
const INTERNAL: (u16, &str) = (
    500,
    "The request could not be completed; the server logged the cause under the problem's `request_id`",
);
const UNAVAILABLE: (u16, &str) = (503, "A store or read model cannot be reached");

/// What a command route answers when the command is not accepted.
pub struct CommandProblems;

impl IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[
            BAD_REQUEST,
            (403, "The partner does not own the product"),
            NOT_FOUND,
            (
                409,
                "The aggregate is not at the version `If-Match` names, or a concurrent command won the version",
            ),
            (413, "The body is larger than the limit"),
            (415, "The body is not JSON"),
            (
                422,
                "The aggregate refuses the command: an invariant the schema cannot express (an unknown product, an amount that is not the total, a transition its state does not allow), or the `Idempotency-Key` was used for another request",
            ),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

/// What a read route answers when it cannot.
pub struct ReadProblems;

impl IntoResponses for ReadProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[BAD_REQUEST, NOT_FOUND, INTERNAL, UNAVAILABLE])
    }
}

/// What a read route that takes `X-Consistency-Token` answers when it cannot.
pub struct ConsistentReadProblems;

impl IntoResponses for ConsistentReadProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[BAD_REQUEST, NOT_FOUND, TOKEN_AHEAD, INTERNAL, UNAVAILABLE])
    }
}

/// What a replay route answers when it cannot.
pub struct ReplayProblems;

impl IntoResponses for ReplayProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[
            BAD_REQUEST,
            (404, "No projection (or rebuild) of that name"),
            (
                409,
                "Refused in the projection's present state: another rebuild holds it \
                 (`rebuild-running`, naming the holder), a generation is not in a state the step \
                 takes (`generation-state`), or the new generation is not caught up \
                 (`replay-refused`)",
            ),
            (413, "The body is larger than the limit"),
            (415, "The body is not JSON"),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}
