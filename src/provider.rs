//! AI providers, how each connects, and the environment variables each
//! connection becomes.
//!
//! One job per file: `table` holds [`Provider`], [`CredentialKind`],
//! [`ConnectionId`] and the one [`VARIABLES`] table every rule about
//! connections reads; `unknown` the parse errors; `credential` what a user
//! hands in; `codex` the OAuth token files; `base_url` a custom endpoint's
//! URL; `payload` the sealed bytes.

mod base_url;
mod codex;
mod credential;
mod payload;
mod table;
#[cfg(test)]
mod tests;
mod unknown;

pub use codex::CodexTokens;
pub use credential::{ApiKey, Credential, CustomEndpoint};
pub(crate) use payload::decode_payload;
pub use table::{ConnectionId, CredentialKind, Provider, VARIABLES, VariableRow, variables_of};
pub use unknown::{UnknownConnection, UnknownCredentialKind, UnknownProvider};
