//! Every error as JSON, `{"error": "…"}`, with the status
//! [`Error::http_status`] gives: the product's texts where it has one.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::Rejection;
use crate::{Entity, Error};

/// An answer other than success: a status and a JSON body that never
/// carries a value, a key or a token.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, in the product's words where it has some.
    error: String,
    /// More about it, when there is more to say (names and ids only).
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// The agents a secret is still attached to (409 on delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    agents: Option<Vec<super::wire::AgentRef>>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                detail: None,
                agents: None,
            },
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found")
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn detail(mut self, detail: String) -> Self {
        self.body.detail = Some(detail);
        self
    }

    /// With the agents a refused delete names.
    pub(crate) fn with_agents(mut self, agents: Vec<super::wire::AgentRef>) -> Self {
        self.body.agents = Some(agents);
        self
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headline = match &error {
            Error::AlreadyExists {
                what: Entity::Connection,
                ..
            } => "Connection already exists",
            Error::AlreadyExists { .. } => "Duplicate secret name",
            Error::RequirementsMissing { .. } => "Required secrets missing",
            Error::ProviderConflict { .. } | Error::DuplicateVariable { .. } => {
                "Conflicting secrets"
            }
            Error::Attached { .. } => "Secret is attached to agents",
            Error::VariablesWouldChange { .. } => "Connection is attached to agents",
            Error::NotConfigured => "Secrets not configured",
            Error::NotFound { .. } => "Not found",
            Error::TokenRejected => "Invalid gateway token",
            Error::Contention { .. } => "Busy, try again",
            Error::TooLarge { .. } => "Request too large",
            Error::KeyMismatch { .. } => "Secrets misconfigured",
            _ if status.is_server_error() => "Internal error",
            _ => "Invalid request",
        };
        if status.is_server_error() {
            // The detail of a server fault (a database's message) is for the
            // operator's log, not for the caller.
            tracing::error!(%error, "request failed");
            return Self::new(status, headline);
        }
        // Client errors: the vault's messages name things, never values.
        Self::new(status, headline).detail(error.to_string())
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::new(rejection.status(), rejection.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A JSON request body whose refusals are JSON too: 400 for malformed JSON
/// or the wrong shape, 413 over the body limit, 415 without a JSON content
/// type. The refusal never quotes the body.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    // axum answers a body of the wrong shape with 422; the product uses 400
    // for every invalid input.
    let status = match rejection {
        JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
        _ => rejection.status(),
    };
    let error = match rejection {
        JsonRejection::JsonDataError(_) => "Invalid request body",
        JsonRejection::JsonSyntaxError(_) => "Malformed JSON",
        JsonRejection::MissingJsonContentType(_) => "Expected Content-Type: application/json",
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        _ => "Unreadable request body",
    };
    let error = ApiError::new(status, error);
    match rejection {
        // Only serde's "missing field" message is passed on, cut to the
        // field's name: one of this API's own fields. The others can quote
        // what the client sent (`invalid type: integer `1234``, ``unknown
        // variant `sk-…` ``), which may be a value sent by mistake.
        JsonRejection::JsonDataError(data) => {
            let text = data.body_text();
            let field = text
                .split_once("missing field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(field, _)| field);
            match field {
                Some(field) => error.detail(format!("missing field `{field}`")),
                None => error,
            }
        }
        _ => error,
    }
}

/// A path parameter whose refusals are JSON too: a segment that is not
/// valid UTF-8 (or not what the route expects) names nothing here, 404.
pub(crate) struct PathParam<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}
