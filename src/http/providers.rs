//! `/v0/providers`: provider connections. The product's API documents no
//! routes for these; they follow the secrets routes' shapes, and a
//! connection's id (`provider:kind`) is usable in `secretIds`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::error::{ApiError, JsonBody, PathParam};
use super::wire::{Done, NewCredential, ProviderConnected, ProviderJson, ProviderList, agent_refs};
use super::{App, agent_names};
use crate::store::Store;
use crate::{
    CodexTokens, ConnectionId, Credential, CredentialKind, CustomEndpoint, Error, Input, Provider,
    SecretValue,
};

fn invalid(field: Input, reason: impl Into<String>) -> ApiError {
    ApiError::from(Error::InvalidInput {
        field,
        reason: reason.into(),
    })
}

/// The credential a request describes; errors name the field, never a
/// value.
fn credential(request: NewCredential) -> Result<Credential, ApiError> {
    // The parse errors list the valid spellings, from `VARIABLES`.
    let provider = Provider::parse(&request.provider).map_err(Error::from)?;
    let id = match &request.kind {
        Some(kind) => {
            let kind = CredentialKind::parse(kind).map_err(Error::from)?;
            ConnectionId::new(provider, kind).map_err(Error::from)?
        }
        None => ConnectionId::default_for(provider),
    };
    let api_key = request
        .api_key
        .as_ref()
        .map(|key| SecretValue::parse(SecretString::from(key.as_str())))
        .transpose()
        .map_err(|reason| invalid(Input::Credential, reason.to_string()))?;
    let needs_key = |key: Option<SecretValue>| {
        key.ok_or_else(|| invalid(Input::Credential, format!("{id} needs an apiKey")))
    };
    let credential = match id.kind() {
        CredentialKind::ApiKey => {
            Credential::api_key(provider, needs_key(api_key)?).map_err(Error::from)?
        }
        CredentialKind::Hosted => Credential::pinata(needs_key(api_key)?),
        CredentialKind::CodexSubscription => {
            let tokens = request
                .tokens
                .ok_or_else(|| invalid(Input::CodexBundle, "codex-subscription needs tokens"))?;
            // Moved, not copied, into a buffer wiped on drop.
            let tokens = Zeroizing::new(String::from(Box::<str>::from(tokens)));
            Credential::CodexSubscription(CodexTokens::from_json(&tokens)?)
        }
        CredentialKind::Custom => {
            let base_url = request
                .base_url
                .ok_or_else(|| invalid(Input::BaseUrl, "custom needs a baseUrl"))?;
            Credential::Custom(CustomEndpoint::new(&base_url, api_key, request.models)?)
        }
    };
    // A second provider with a kind other than `api-key` would need its
    // own arm above; until then, its credential would make another
    // connection than the one asked for.
    if credential.connection_id() != id {
        return Err(invalid(
            Input::CredentialKind,
            format!("{provider} does not connect as {id}"),
        ));
    }
    Ok(credential)
}

fn connection_id(text: &str) -> Result<ConnectionId, ApiError> {
    ConnectionId::parse(text)
        .ok()
        .filter(|id| id.record_id().eq_ignore_ascii_case(text))
        .ok_or_else(ApiError::not_found)
}

/// Lists the caller's provider connections (never their credentials).
#[utoipa::path(
    get, path = "/v0/providers", tag = "providers",
    responses((status = 200, body = ProviderList), (status = 401, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn list<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<ProviderList>, ApiError> {
    let user = app.user(&headers).await?;
    let connections = app.vault.connections(&user).await?;
    let names = agent_names(&app, &user).await?;
    Ok(Json(ProviderList {
        providers: connections
            .into_iter()
            .map(|c| ProviderJson::new(c, &names))
            .collect(),
    }))
}

/// Connects a provider; 409 if that connection exists (update it instead).
#[utoipa::path(
    post, path = "/v0/providers", tag = "providers", request_body = NewCredential,
    responses(
        (status = 201, body = ProviderConnected),
        (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody),
        (status = 503, description = "Secrets not configured", body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn connect<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<NewCredential>,
) -> Result<(StatusCode, Json<ProviderConnected>), ApiError> {
    let user = app.user(&headers).await?;
    let credential = credential(request)?;
    let info = app.vault.create_connection(&user, &credential).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProviderConnected {
            success: true,
            provider: ProviderJson::new(info, &BTreeMap::new()),
        }),
    ))
}

/// Replaces a connection's credential; agents it is attached to become
/// stale until their gateways restart.
#[utoipa::path(
    put, path = "/v0/providers/{connectionId}", tag = "providers", request_body = NewCredential,
    params(("connectionId" = String, Path, description = "provider:kind")),
    responses(
        (status = 200, body = ProviderConnected),
        (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn update<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
    JsonBody(request): JsonBody<NewCredential>,
) -> Result<Json<ProviderConnected>, ApiError> {
    let user = app.user(&headers).await?;
    let id = connection_id(&id)?;
    let credential = credential(request)?;
    if credential.connection_id() != id {
        return Err(invalid(
            Input::Provider,
            format!("the credential is not for {id}"),
        ));
    }
    let info = match app.vault.update_connection(&user, &credential).await {
        Ok(info) => info,
        // Which agents hold it, so the caller knows what to detach.
        Err(Error::VariablesWouldChange { connection, agents }) => {
            let names = agent_names(&app, &user).await?;
            let refs = agent_refs(&agents, &names);
            let error = Error::VariablesWouldChange { connection, agents };
            return Err(ApiError::from(error).with_agents(refs));
        }
        Err(other) => return Err(other.into()),
    };
    let names = agent_names(&app, &user).await?;
    Ok(Json(ProviderConnected {
        success: true,
        provider: ProviderJson::new(info, &names),
    }))
}

/// Disconnects a provider; 409 while the connection is attached.
#[utoipa::path(
    delete, path = "/v0/providers/{connectionId}", tag = "providers",
    params(("connectionId" = String, Path, description = "provider:kind")),
    responses(
        (status = 200, body = Done),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn disconnect<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Json<Done>, ApiError> {
    let user = app.user(&headers).await?;
    let id = connection_id(&id)?;
    app.vault.delete_connection(&user, id).await?;
    Ok(Json(Done { success: true }))
}
