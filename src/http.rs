//! The product's HTTP API as an [axum] router a service nests in its own
//! app (feature `http`).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::http::{self, ApiKeys};
//! use agent_vault::store::MemoryStore;
//! use agent_vault::Vault;
//!
//! let vault = Arc::new(Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate())));
//! // The service's own user authentication goes here; `ApiKeys` is a stand-in.
//! let auth = ApiKeys::parse("an-api-key-of-alice=alice")?;
//! let app = axum::Router::new().merge(http::router(vault, auth));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `GET /v0/secrets` | user | `{"secrets":[{"id","userId","name","type","createdAt","updatedAt","agents":[{"agentId","name"}]}]}`; a variable also has `"value"` |
//! | `POST /v0/secrets` `{"name","value","type"?}` | user | 201 `{"success":true,"secret":{…}}`; 400, 409 "Duplicate secret name", 503 "Secrets not configured" |
//! | `PUT /v0/secrets/{id}` `{"value"}` | user | `{"success":true,"secret":{…}}` |
//! | `DELETE /v0/secrets/{id}` | user | `{"success":true}`; 409 while attached, with `"agents"` |
//! | `GET /v0/providers`, `POST /v0/providers`, `PUT`/`DELETE /v0/providers/{provider:kind}` | user | connections, shaped like secrets |
//! | `POST /v0/agents` `{"name","secretIds"?}` | user | 201 `{"success":true,"agent":{"id","name","createdAt","gatewayToken",…}}` |
//! | `GET /v0/agents` | user | `{"agents":[…]}` (no tokens) |
//! | `GET /v0/agents/{agentId}` | user or gateway token | `{"agent":{…},"secrets":[{"id","name","createdAt","updatedAt","synced"}],"restartNeeded"}` |
//! | `DELETE /v0/agents/{agentId}` | user | `{"success":true}` |
//! | `POST /v0/agents/{agentId}/secrets` `{"secretIds"}` | user or gateway token | `{"success":true,"attached":N}`; 409 "Conflicting secrets" |
//! | `DELETE /v0/agents/{agentId}/secrets/{secretId}` | user or gateway token | `{"success":true}` |
//! | `GET /v0/agents/{agentId}/gateway-token` | user | `{"gatewayToken"}` |
//! | `POST /v0/agents/{agentId}/gateway-token/rotate` | user | `{"gatewayToken"}` |
//! | `GET /openapi.json` | none | the OpenAPI 3 document, generated from the handlers |
//! | `GET /healthz` | none | `{"ok":true}` |
//!
//! `secretIds` holds item ids and connection ids (`openai:api-key`).
//!
//! # Who is calling
//!
//! - **Users**: the router asks the service's [`UserAuth`] with the
//!   request's headers. Another user's ids answer 404, never 403 and never
//!   their data.
//! - **Gateway tokens**, on the routes marked "user or gateway token": from
//!   `Authorization: Bearer`, `?token=` or the `gw_token` cookie. The
//!   router finds the agent's owner by the agent id alone
//!   ([`Vault::agent_owner`]) and checks the token in constant time
//!   ([`Vault::verify_gateway_token`]). A token acts only on its own agent;
//!   anything else, and a rotated token, answers 401. Only the first
//!   candidate with a token's shape is checked, so a request can't make the
//!   vault test many guesses.
//! - What a token may do is what the product lets it do: read its agent and
//!   attach or detach, by id, any of the owner's secrets, variables and
//!   connections (ids of connections are predictable, `openai:api-key`).
//!   The vault acts and audits such a call as the owner. A rotation refuses
//!   the old token from the next request on; a request already past its
//!   check finishes.
//! - Put rate limiting in front of the router: every rejected token is an
//!   audited event (with the store-backed audit log, a write).
//!
//! # Errors and logs
//!
//! Every error is JSON, `{"error": "…"}` (plus `"detail"` naming what was
//! refused, for a client error): unknown routes (404), malformed JSON
//! (400), bodies over 1 MiB (413). Statuses follow [`Error::http_status`].
//! No answer or log carries a secret's value, a key, or a token other than
//! the gateway-token routes' own (and the creating answer's). Each request
//! is a `tracing` span `http` with its method, route template, status and
//! latency: the path's query (which may hold `?token=`) is never logged.
//!
//! Request bodies pass through hyper's buffers, which this crate can't
//! wipe; the values parsed out of them are wiped on drop.
//!
//! Path segments that are not valid ids (or not UTF-8) answer 404 in JSON.
//!
//! [`Error::http_status`]: crate::Error::http_status
//! [`Vault::agent_owner`]: crate::Vault::agent_owner
//! [`Vault::verify_gateway_token`]: crate::Vault::verify_gateway_token

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::OpenApi as _;

use crate::store::Store;
use crate::{AgentId, Error, GatewayToken, UserId, Vault};

mod agents;
mod auth;
mod error;
mod openapi;
mod providers;
mod secrets;
mod wire;

pub use auth::{ApiKeys, ApiKeysError, GATEWAY_TOKEN_COOKIE, MIN_API_KEY_LEN, Rejection, UserAuth};

use error::ApiError;

/// The largest request body the router reads: 1 MiB (413 above).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
struct App<S> {
    vault: Arc<Vault<S>>,
    auth: Arc<dyn UserAuth>,
}

impl<S> Clone for App<S> {
    fn clone(&self) -> Self {
        Self {
            vault: Arc::clone(&self.vault),
            auth: Arc::clone(&self.auth),
        }
    }
}

impl<S: Store> App<S> {
    /// The user the service's authentication names.
    async fn user(&self, headers: &HeaderMap) -> Result<UserId, ApiError> {
        Ok(self.auth.authenticate(headers).await?)
    }

    /// The user a request acts for on a route that takes a gateway token:
    /// the service's user if its authentication names one, else the owner
    /// of `agent` if a presented token is `agent`'s current one.
    async fn user_or_gateway(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        agent: AgentId,
    ) -> Result<UserId, ApiError> {
        let rejection = match self.auth.authenticate(headers).await {
            Ok(user) => return Ok(user),
            Err(rejection) => rejection,
        };
        // Exactly one candidate is checked, the first with a token's shape
        // and checksum (Bearer, then `?token=`, then the cookie): a request
        // carrying a thousand guesses costs one check and at most one
        // audited rejection, like a request carrying one.
        let Some(token) = auth::presented_tokens(headers, query)
            .into_iter()
            .find(|token| GatewayToken::looks_valid(token))
        else {
            return Err(rejection.into());
        };
        // An agent that does not exist gets the same answer as a wrong
        // token: a token holder learns nothing about other agents.
        let owner = match self.vault.agent_owner(agent).await {
            Ok(owner) => owner,
            Err(Error::NotFound { .. }) => return Err(invalid_token()),
            Err(other) => return Err(other.into()),
        };
        match self.vault.verify_gateway_token(&owner, agent, &token).await {
            Ok(()) => Ok(owner),
            Err(Error::TokenRejected | Error::NotFound { .. }) => Err(invalid_token()),
            Err(other) => Err(other.into()),
        }
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("Invalid gateway token")
}

/// The names of `user`'s agents, for the `agents` lists of secrets and
/// connections.
async fn agent_names<S: Store>(
    app: &App<S>,
    user: &UserId,
) -> Result<BTreeMap<AgentId, String>, ApiError> {
    Ok(app
        .vault
        .agents(user)
        .await?
        .into_iter()
        .map(|agent| (agent.id, agent.name.to_string()))
        .collect())
}

/// The API's router: nest or merge it into the service's app. `auth`
/// authenticates users ([`UserAuth`]); gateway tokens are checked by the
/// router itself.
pub fn router<S: Store + 'static>(vault: Arc<Vault<S>>, auth: impl UserAuth) -> Router {
    let app = App {
        vault,
        auth: Arc::new(auth),
    };
    Router::new()
        .route(
            "/v0/secrets",
            get(secrets::list::<S>).post(secrets::create::<S>),
        )
        .route(
            "/v0/secrets/{id}",
            put(secrets::update::<S>).delete(secrets::delete::<S>),
        )
        .route(
            "/v0/providers",
            get(providers::list::<S>).post(providers::connect::<S>),
        )
        .route(
            "/v0/providers/{connection}",
            put(providers::update::<S>).delete(providers::disconnect::<S>),
        )
        .route(
            "/v0/agents",
            get(agents::list::<S>).post(agents::create::<S>),
        )
        .route(
            "/v0/agents/{agent}",
            get(agents::get::<S>).delete(agents::delete::<S>),
        )
        .route("/v0/agents/{agent}/secrets", post(agents::attach::<S>))
        .route(
            "/v0/agents/{agent}/secrets/{secret}",
            axum::routing::delete(agents::detach::<S>),
        )
        .route(
            "/v0/agents/{agent}/gateway-token",
            get(agents::gateway_token::<S>),
        )
        .route(
            "/v0/agents/{agent}/gateway-token/rotate",
            post(agents::rotate_gateway_token::<S>),
        )
        .route("/openapi.json", get(openapi_json))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
}

/// The OpenAPI 3 document of [`router`], generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::ApiDoc::openapi()
}

/// The span of one request: method and route template, never the query.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str);
    tracing::info_span!(
        "http",
        method = %request.method(),
        route,
        status = tracing::field::Empty,
    )
}

fn log_response(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    tracing::info!(
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "answered"
    );
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = wire::Health)))]
async fn healthz() -> Json<wire::Health> {
    Json(wire::Health { ok: true })
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "No such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}
