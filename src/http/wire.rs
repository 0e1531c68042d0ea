//! The JSON shapes of the API, named as the product names them
//! (camelCase, RFC 3339 times).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::{AgentId, AgentInfo, ConnectionInfo, ItemInfo, Kind};

/// An agent as a secret's listing names it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentRef {
    pub agent_id: String,
    pub name: String,
}

/// A secret or variable. `value` is there for variables only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretJson {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// `secret` or `variable`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub agents: Vec<AgentRef>,
}

impl SecretJson {
    pub(crate) fn new(user: &str, item: ItemInfo, names: &BTreeMap<AgentId, String>) -> Self {
        Self {
            id: item.id.to_string(),
            user_id: user.to_owned(),
            name: item.name.to_string(),
            kind: item.kind.as_str(),
            value: item.value,
            version: item.version,
            created_at: item.created_at.to_rfc3339(),
            updated_at: item.updated_at.to_rfc3339(),
            agents: agent_refs(&item.agents, names),
        }
    }
}

pub(crate) fn agent_refs(agents: &[AgentId], names: &BTreeMap<AgentId, String>) -> Vec<AgentRef> {
    agents
        .iter()
        .map(|id| AgentRef {
            agent_id: id.to_string(),
            name: names.get(id).cloned().unwrap_or_default(),
        })
        .collect()
}

/// `{"secrets": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretList {
    pub secrets: Vec<SecretJson>,
}

/// `{"success": true, "secret": {…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretCreated {
    pub success: bool,
    pub secret: SecretJson,
}

/// `POST /v0/secrets`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    pub name: String,
    /// The value: sealed for a secret, kept as given for a variable.
    #[schema(value_type = String)]
    pub value: Zeroizing<String>,
    /// `secret` (the default) or `variable`.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Kind>,
}

/// `PUT /v0/secrets/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewValue {
    #[schema(value_type = String)]
    pub value: Zeroizing<String>,
}

/// `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Done {
    pub success: bool,
}

/// An agent. `gatewayToken` is there only in the answer that created it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentJson {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// When the host last recorded a deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// What is attached: item names and connection ids.
    pub attached: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub gateway_token: Option<Zeroizing<String>>,
}

impl AgentJson {
    pub(crate) fn new(agent: AgentInfo) -> Self {
        Self {
            id: agent.id.to_string(),
            name: agent.name.to_string(),
            created_at: agent.created_at.to_rfc3339(),
            deployed_at: agent.deployed_at.map(|at| at.to_rfc3339()),
            attached: agent.attached,
            gateway_token: None,
        }
    }
}

/// `POST /v0/agents`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewAgent {
    pub name: String,
    /// Attached at creation, in the same commit.
    #[serde(default)]
    pub secret_ids: Vec<String>,
}

/// `{"success": true, "agent": {…}}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgentCreated {
    pub success: bool,
    pub agent: AgentJson,
}

/// `{"agents": […]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgentList {
    pub agents: Vec<AgentJson>,
}

/// One attached thing and whether the running agent has its current value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachedJson {
    /// An item id, or a connection id (`provider:kind`).
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub synced: bool,
}

/// `GET /v0/agents/{agentId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentDetail {
    pub agent: AgentJson,
    pub secrets: Vec<AttachedJson>,
    /// Whether the gateway must restart to run with the current values.
    pub restart_needed: bool,
}

/// `POST /v0/agents/{agentId}/secrets`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SecretIds {
    pub secret_ids: Vec<String>,
}

/// `{"success": true, "attached": N}`: how many distinct ids of the request
/// are attached now (all of them: attaching is all or none).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attached {
    pub success: bool,
    pub attached: usize,
}

/// `{"gatewayToken": "…"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenJson {
    #[schema(value_type = String)]
    pub gateway_token: Zeroizing<String>,
}

/// A provider connection.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProviderJson {
    /// `provider:kind`, usable in `secretIds`.
    pub id: String,
    pub provider: String,
    pub kind: String,
    /// The environment variables it sets.
    pub variables: Vec<String>,
    pub version: u64,
    pub connected_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub agents: Vec<AgentRef>,
}

impl ProviderJson {
    pub(crate) fn new(info: ConnectionInfo, names: &BTreeMap<AgentId, String>) -> Self {
        Self {
            id: info.id.to_string(),
            provider: info.provider.as_str().to_owned(),
            kind: info.kind.as_str().to_owned(),
            variables: info.variables,
            version: info.version,
            connected_at: info.connected_at.to_rfc3339(),
            updated_at: info.updated_at.to_rfc3339(),
            expires_at: info.expires_at.map(|at| at.to_rfc3339()),
            agents: agent_refs(&info.agents, names),
        }
    }
}

/// `{"providers": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderList {
    pub providers: Vec<ProviderJson>,
}

/// `{"success": true, "provider": {…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderConnected {
    pub success: bool,
    pub provider: ProviderJson,
}

/// `POST /v0/providers` and `PUT /v0/providers/{connectionId}`: the
/// credential. Which fields apply depends on the kind:
///
/// - `api-key` (Anthropic, OpenAI, OpenRouter, Venice) and `hosted`
///   (Pinata): `apiKey`;
/// - `codex-subscription` (OpenAI): `tokens`, the token bundle
///   `{"access_token","refresh_token","expires_at"}` or the Codex CLI's
///   `auth.json`;
/// - `custom`: `baseUrl`, optional `apiKey` and `models`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewCredential {
    /// `anthropic`, `openai`, `openrouter`, `venice`, `pinata` or `custom`.
    pub provider: String,
    /// `api-key`, `codex-subscription`, `hosted` or `custom`; the
    /// provider's usual kind when left out.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Zeroizing<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub tokens: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    pub ok: bool,
}
