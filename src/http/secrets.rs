//! `/v0/secrets`: a user's secrets and variables.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::error::{ApiError, JsonBody, PathParam};
use super::wire::{Done, NewSecret, NewValue, SecretCreated, SecretJson, SecretList, agent_refs};
use super::{App, agent_names};
use crate::store::Store;
use crate::{Error, ItemId, Kind, Name, SecretValue};

/// The value of a request as a vault value; the error names the item.
fn value_of(name: &str, value: Zeroizing<String>) -> Result<SecretValue, ApiError> {
    SecretValue::parse(SecretString::from(value.as_str())).map_err(|reason| {
        ApiError::from(Error::InvalidValue {
            name: name.to_owned(),
            reason,
        })
    })
}

fn item_id(text: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(text).map_err(|_| ApiError::not_found())
}

/// Lists the caller's secrets (without values) and variables (with them).
#[utoipa::path(
    get, path = "/v0/secrets", tag = "secrets",
    responses((status = 200, body = SecretList), (status = 401, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn list<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<SecretList>, ApiError> {
    let user = app.user(&headers).await?;
    let items = app.vault.items(&user).await?;
    let names = agent_names(&app, &user).await?;
    let secrets = items
        .into_iter()
        .map(|item| SecretJson::new(user.as_str(), item, &names))
        .collect();
    Ok(Json(SecretList { secrets }))
}

/// Creates a secret (sealed, never readable again) or a variable.
#[utoipa::path(
    post, path = "/v0/secrets", tag = "secrets", request_body = NewSecret,
    responses(
        (status = 201, body = SecretCreated),
        (status = 400, description = "Empty or invalid name or value", body = super::error::ErrorBody),
        (status = 409, description = "Duplicate secret name", body = super::error::ErrorBody),
        (status = 503, description = "Secrets not configured", body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn create<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<NewSecret>,
) -> Result<(StatusCode, Json<SecretCreated>), ApiError> {
    let user = app.user(&headers).await?;
    let name = Name::parse(&request.name)
        .map_err(|reason| ApiError::from(Error::invalid_name(&request.name, reason)))?;
    let value = value_of(&request.name, request.value)?;
    let kind = request.kind.unwrap_or(Kind::Secret);
    let item = app.vault.create_item(&user, &name, kind, value).await?;
    let secret = SecretJson::new(user.as_str(), item, &BTreeMap::new());
    Ok((
        StatusCode::CREATED,
        Json(SecretCreated {
            success: true,
            secret,
        }),
    ))
}

/// Replaces a value. A running agent keeps the old one until its gateway
/// restarts (its `synced` turns false).
#[utoipa::path(
    put, path = "/v0/secrets/{id}", tag = "secrets", request_body = NewValue,
    params(("id" = String, Path, description = "The item's id")),
    responses(
        (status = 200, body = SecretCreated),
        (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn update<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
    JsonBody(request): JsonBody<NewValue>,
) -> Result<Json<SecretCreated>, ApiError> {
    let user = app.user(&headers).await?;
    let id = item_id(&id)?;
    let value = value_of(&id.to_string(), request.value)?;
    let item = app.vault.update_item(&user, id, value).await?;
    let names = agent_names(&app, &user).await?;
    Ok(Json(SecretCreated {
        success: true,
        secret: SecretJson::new(user.as_str(), item, &names),
    }))
}

/// Deletes a secret or variable; 409 while it is attached, naming the
/// agents.
#[utoipa::path(
    delete, path = "/v0/secrets/{id}", tag = "secrets",
    params(("id" = String, Path, description = "The item's id")),
    responses(
        (status = 200, body = Done),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "Still attached", body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn delete<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Json<Done>, ApiError> {
    let user = app.user(&headers).await?;
    let id = item_id(&id)?;
    match app.vault.delete_item(&user, id).await {
        Ok(()) => Ok(Json(Done { success: true })),
        Err(Error::Attached { what, name, agents }) => {
            let names = agent_names(&app, &user).await?;
            let refs = agent_refs(&agents, &names);
            Err(ApiError::from(Error::Attached { what, name, agents }).with_agents(refs))
        }
        Err(other) => Err(other.into()),
    }
}
