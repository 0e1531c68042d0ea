//! Why a provider, a kind or a connection was not recognised. Each message
//! lists the spellings that would have been, read from
//! [`VARIABLES`](super::VARIABLES).

use crate::echo::Echo;
use crate::{Error, Input};

use super::table::spellings;

/// A provider name [`Provider::parse`](crate::Provider::parse) does not
/// know. Its message lists the providers:
/// `unknown provider (6 characters, not shown): expected one of anthropic,
/// openai, ...`. The text given is never repeated: it may be a key pasted
/// into the wrong field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {given}: expected one of {}", spellings(|row| row.provider))]
#[non_exhaustive]
pub struct UnknownProvider {
    given: Echo,
}

impl UnknownProvider {
    pub(super) fn new(given: &str) -> Self {
        Self {
            given: Echo::hidden(given),
        }
    }
}

/// A connection kind [`CredentialKind::parse`](crate::CredentialKind::parse)
/// does not know. Its message lists the kinds:
/// `unknown credential kind (5 characters, not shown): expected one of api-key, ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown credential kind {given}: expected one of {}", spellings(|row| row.kind))]
#[non_exhaustive]
pub struct UnknownCredentialKind {
    given: Echo,
}

impl UnknownCredentialKind {
    pub(super) fn new(given: &str) -> Self {
        Self {
            given: Echo::hidden(given),
        }
    }
}

/// A connection that does not exist: an unknown provider or kind, or a
/// provider that does not connect by that kind (`pinata:api-key`). Its
/// message lists the connections:
/// `unknown connection (1 character, not shown): expected one of anthropic:api-key, ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown connection {given}: expected one of {} \
     (or a provider alone, for its first kind)",
    spellings(|row| format!("{}:{}", row.provider, row.kind))
)]
#[non_exhaustive]
pub struct UnknownConnection {
    given: Echo,
}

impl UnknownConnection {
    pub(super) fn new(given: &str) -> Self {
        Self {
            given: Echo::hidden(given),
        }
    }

    /// For a pair of typed values, which holds no secret.
    pub(super) fn of_pair(pair: String) -> Self {
        Self {
            given: Echo::known(pair),
        }
    }

    /// The `provider:kind` pair that was asked for, when the connection was
    /// built from a [`Provider`](crate::Provider) and a
    /// [`CredentialKind`](crate::CredentialKind). Text that was parsed is
    /// never kept (it may be a key pasted into the wrong field).
    pub fn given(&self) -> Option<&str> {
        self.given.shown()
    }
}

/// For `?` in a function returning this crate's `Result` (400).
impl From<UnknownProvider> for Error {
    fn from(error: UnknownProvider) -> Self {
        Self::InvalidInput {
            field: Input::Provider,
            reason: error.to_string(),
        }
    }
}

/// For `?` in a function returning this crate's `Result` (400).
impl From<UnknownCredentialKind> for Error {
    fn from(error: UnknownCredentialKind) -> Self {
        Self::InvalidInput {
            field: Input::CredentialKind,
            reason: error.to_string(),
        }
    }
}

/// For `?` in a function returning this crate's `Result` (400).
impl From<UnknownConnection> for Error {
    fn from(error: UnknownConnection) -> Self {
        Self::InvalidInput {
            field: Input::Connection,
            reason: error.to_string(),
        }
    }
}
