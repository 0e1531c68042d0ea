//! agent-vault (tour to come).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod crypto;
mod environment;
mod error;
mod model;
mod provider;
mod records;
mod rules;
pub mod store;
mod token;
mod vault;

pub use environment::{
    AgentStatus, DeployedEntry, DeploymentReceipt, Environment, ItemStatus, SyncState, Target,
};
pub use error::{Error, Result};
pub use model::{
    AgentId, DEFAULT_MAX_VALUE_LEN, ItemId, ItemInfo, Kind, MAX_NAME_LEN, MAX_USER_ID_LEN, Name,
    NameError, NamePolicy, SecretValue, Timestamp, UserId, UserIdError, ValueError,
};
pub use provider::{
    CodexTokens, ConnectionId, Credential, CredentialKind, CustomEndpoint, Provider, VARIABLES,
    VariableRow, variables_of,
};
pub use token::GatewayToken;
pub use vault::{
    AgentInfo, Attachable, ConnectionInfo, DEFAULT_GATEWAY_TOKEN_VAR, MAX_AGENT_NAME_CHARS, Vault,
    VaultConfig,
};
