//! `/v0/agents`: agents, their attachments and their gateway tokens.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use zeroize::Zeroizing;

use super::App;
use super::error::{ApiError, JsonBody, PathParam};
use super::wire::{
    AgentCreated, AgentDetail, AgentJson, AgentList, Attached, AttachedJson, Done, NewAgent,
    SecretIds, TokenJson,
};
use crate::store::Store;
use crate::{AgentId, AgentName, Attachable, Error, SyncState, Target};

fn agent_id(text: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(text).map_err(|_| ApiError::not_found())
}

fn targets(ids: &[String]) -> Result<Vec<Attachable>, ApiError> {
    ids.iter()
        .map(|id| Attachable::parse_id(id).map_err(ApiError::from))
        .collect()
}

/// Lists the caller's agents (without their tokens).
#[utoipa::path(
    get, path = "/v0/agents", tag = "agents",
    responses((status = 200, body = AgentList), (status = 401, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn list<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<AgentList>, ApiError> {
    let user = app.user(&headers).await?;
    let agents = app.vault.agents(&user).await?;
    Ok(Json(AgentList {
        agents: agents.into_iter().map(AgentJson::new).collect(),
    }))
}

/// Creates an agent and its gateway token (returned here, once), with
/// `secretIds` attached in the same commit.
#[utoipa::path(
    post, path = "/v0/agents", tag = "agents", request_body = NewAgent,
    responses(
        (status = 201, body = AgentCreated),
        (status = 400, body = super::error::ErrorBody),
        (status = 404, description = "A secret id names nothing", body = super::error::ErrorBody),
        (status = 409, description = "Conflicting secrets", body = super::error::ErrorBody),
    ),
    security(("user" = []))
)]
pub(crate) async fn create<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<NewAgent>,
) -> Result<(StatusCode, Json<AgentCreated>), ApiError> {
    let user = app.user(&headers).await?;
    let name = AgentName::parse(&request.name).map_err(Error::from)?;
    let targets = targets(&request.secret_ids)?;
    let (info, token) = app.vault.create_agent_with(&user, &name, &targets).await?;
    let mut agent = AgentJson::new(info);
    agent.gateway_token = Some(Zeroizing::new(token.expose_secret().to_owned()));
    Ok((
        StatusCode::CREATED,
        Json(AgentCreated {
            success: true,
            agent,
        }),
    ))
}

/// One agent, what is attached, and per attached thing whether the running
/// agent has its current value. Takes the owner's credentials or the
/// agent's gateway token.
#[utoipa::path(
    get, path = "/v0/agents/{agentId}", tag = "agents",
    params(("agentId" = String, Path)),
    responses(
        (status = 200, body = AgentDetail),
        (status = 401, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
    ),
    security(("user" = []), ("gatewayToken" = []))
)]
pub(crate) async fn get<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    PathParam(agent): PathParam<String>,
) -> Result<Json<AgentDetail>, ApiError> {
    let agent = agent_id(&agent)?;
    let user = app
        .user_or_gateway(&headers, query.as_deref(), agent)
        .await?;
    let info = app.vault.agent(&user, agent).await?;
    let status = app.vault.status(&user, agent).await?;
    let has = |item: bool| {
        status
            .items
            .iter()
            .any(|s| matches!(s.target, Target::Item(_)) == item)
    };
    let items = if has(true) {
        app.vault.items(&user).await?
    } else {
        Vec::new()
    };
    let connections = if has(false) {
        app.vault.connections(&user).await?
    } else {
        Vec::new()
    };
    let mut secrets = Vec::with_capacity(status.items.len());
    for row in status
        .items
        .iter()
        .filter(|s| s.state != SyncState::Removed)
    {
        let times = match row.target {
            Target::Item(id) => items
                .iter()
                .find(|i| i.id == id)
                .map(|i| (i.created_at, i.updated_at)),
            Target::Connection(id) => connections
                .iter()
                .find(|c| c.id == id)
                .map(|c| (c.connected_at, c.updated_at)),
            // `Target` may grow; a kind this router does not know is left out.
            #[allow(unreachable_patterns)]
            _ => None,
        };
        // Detached or deleted between the reads: left out, as it would be a
        // moment later.
        let Some((created_at, updated_at)) = times else {
            continue;
        };
        secrets.push(AttachedJson {
            id: target_id(row.target),
            name: row.name.clone(),
            created_at: created_at.to_rfc3339(),
            updated_at: updated_at.to_rfc3339(),
            synced: row.state == SyncState::Synced,
        });
    }
    Ok(Json(AgentDetail {
        agent: AgentJson::new(info),
        secrets,
        restart_needed: status.restart_needed,
    }))
}

fn target_id(target: Target) -> String {
    match target {
        Target::Item(id) => id.to_string(),
        Target::Connection(id) => id.to_string(),
    }
}

/// Deletes an agent, detaching everything attached to it.
#[utoipa::path(
    delete, path = "/v0/agents/{agentId}", tag = "agents",
    params(("agentId" = String, Path)),
    responses((status = 200, body = Done), (status = 404, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn delete<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(agent): PathParam<String>,
) -> Result<Json<Done>, ApiError> {
    let user = app.user(&headers).await?;
    let agent = agent_id(&agent)?;
    app.vault.delete_agent(&user, agent).await?;
    Ok(Json(Done { success: true }))
}

/// Attaches secrets, variables and provider connections (by id), all or
/// none. 409 "Conflicting secrets" if the agent would hold two credentials
/// for one provider.
#[utoipa::path(
    post, path = "/v0/agents/{agentId}/secrets", tag = "agents", request_body = SecretIds,
    params(("agentId" = String, Path)),
    responses(
        (status = 200, body = Attached),
        (status = 401, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "Conflicting secrets", body = super::error::ErrorBody),
    ),
    security(("user" = []), ("gatewayToken" = []))
)]
pub(crate) async fn attach<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    PathParam(agent): PathParam<String>,
    JsonBody(request): JsonBody<SecretIds>,
) -> Result<Json<Attached>, ApiError> {
    let agent = agent_id(&agent)?;
    let user = app
        .user_or_gateway(&headers, query.as_deref(), agent)
        .await?;
    let mut targets = targets(&request.secret_ids)?;
    app.vault.attach(&user, agent, &targets).await?;
    // All or none: every distinct id asked for is attached now.
    targets.sort_by_key(ToString::to_string);
    targets.dedup();
    Ok(Json(Attached {
        success: true,
        attached: targets.len(),
    }))
}

/// Detaches one secret, variable or connection.
#[utoipa::path(
    delete, path = "/v0/agents/{agentId}/secrets/{secretId}", tag = "agents",
    params(("agentId" = String, Path), ("secretId" = String, Path)),
    responses(
        (status = 200, body = Done),
        (status = 401, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
    ),
    security(("user" = []), ("gatewayToken" = []))
)]
pub(crate) async fn detach<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    PathParam((agent, secret)): PathParam<(String, String)>,
) -> Result<Json<Done>, ApiError> {
    let agent = agent_id(&agent)?;
    let user = app
        .user_or_gateway(&headers, query.as_deref(), agent)
        .await?;
    let target = Attachable::parse_id(&secret).map_err(|_| ApiError::not_found())?;
    app.vault.detach(&user, agent, &[target]).await?;
    Ok(Json(Done { success: true }))
}

/// The agent's current gateway token (the owner only).
#[utoipa::path(
    get, path = "/v0/agents/{agentId}/gateway-token", tag = "agents",
    params(("agentId" = String, Path)),
    responses((status = 200, body = TokenJson), (status = 404, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn gateway_token<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(agent): PathParam<String>,
) -> Result<Json<TokenJson>, ApiError> {
    let user = app.user(&headers).await?;
    let agent = agent_id(&agent)?;
    let token = app.vault.gateway_token(&user, agent).await?;
    Ok(Json(TokenJson {
        gateway_token: Zeroizing::new(token.expose_secret().to_owned()),
    }))
}

/// Replaces the gateway token: the old one gets 401 at once, on every
/// replica.
#[utoipa::path(
    post, path = "/v0/agents/{agentId}/gateway-token/rotate", tag = "agents",
    params(("agentId" = String, Path)),
    responses((status = 200, body = TokenJson), (status = 404, body = super::error::ErrorBody)),
    security(("user" = []))
)]
pub(crate) async fn rotate_gateway_token<S: Store + 'static>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    PathParam(agent): PathParam<String>,
) -> Result<Json<TokenJson>, ApiError> {
    let user = app.user(&headers).await?;
    let agent = agent_id(&agent)?;
    let token = app.vault.rotate_gateway_token(&user, agent).await?;
    Ok(Json(TokenJson {
        gateway_token: Zeroizing::new(token.expose_secret().to_owned()),
    }))
}
