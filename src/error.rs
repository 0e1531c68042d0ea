//! The crate's one error type and its mapping to HTTP statuses.

use std::error::Error as StdError;

use std::fmt;

use crate::crypto::{CryptoError, KeyId};
use crate::{
    AgentId, AgentNameError, ConnectionId, Kind, Name, NameError, Provider, UserIdError, ValueError,
};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a vault call.
///
/// Variants fall in three groups, as in `rustls`: bad input from the user
/// (`Invalid*`, `Dotenv`), the state of the vault refusing the request
/// (`AlreadyExists`, `Attached`, `NotFound`, conflicts), and faults of the
/// deployment (`NotConfigured`, `Store`, `DecryptionFailed`, `UnknownKey`).
/// [`Error::http_status`] gives the status a service would return.
///
/// No variant carries a secret value: messages name the item, the line and
/// column, or the reason, never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The item, connection or agent already exists (409).
    #[error("{what} {name:?} already exists")]
    AlreadyExists {
        /// What kind of thing.
        what: Entity,
        /// Its name.
        name: String,
    },
    /// The item or connection is attached to these agents, so it cannot be
    /// deleted; detach it first (409).
    #[error("{what} {name:?} is attached to {} agent(s); detach it first", agents.len())]
    Attached {
        /// What kind of thing.
        what: Entity,
        /// Its name.
        name: String,
        /// The agents it is attached to.
        agents: Vec<AgentId>,
    },
    /// Too many concurrent changes collided; the call changed nothing and may
    /// be retried (503).
    #[error("the vault was changed concurrently {attempts} times in a row; nothing was changed")]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// A stored value does not open: tampered, moved, or under the wrong key.
    /// Uninformative by design (500).
    #[error("decryption failed")]
    DecryptionFailed,
    /// The user's key is at its last generation (`u32::MAX`), so
    /// [`Vault::rotate_user_key`](crate::Vault::rotate_user_key) can't start
    /// another; nothing was changed (409).
    #[error("the user's key is at its last generation and can't be rotated; nothing was changed")]
    GenerationsExhausted,
    /// A deployment receipt was refused: not this user's, altered or
    /// forged, or issued in the future. Nothing was recorded (400).
    #[error("deployment receipt refused: {0}; nothing was recorded")]
    InvalidReceipt(crate::ReceiptError),
    /// An agent manifest's `"secrets"` block is refused: not JSON, the
    /// wrong shape (with the line and column) or an invalid or repeated
    /// name (400).
    #[error("invalid manifest: {0}")]
    InvalidManifest(#[from] crate::ManifestError),
    /// The `.env` text does not parse; the error has the line and column (400).
    #[error("invalid .env input: {0}")]
    Dotenv(#[from] crate::dotenv::ParseError),
    /// An `.env` import names something the vault refuses, at this line and
    /// column of the file (400).
    #[error("line {line}, column {column}: {name:?}: {reason}")]
    InvalidImportEntry {
        /// 1-based line of the entry's name.
        line: u32,
        /// 1-based column of the entry's name.
        column: u32,
        /// The name (names are not secret).
        name: String,
        /// Why it was refused.
        reason: crate::ImportEntryError,
    },
    /// An `.env` import with [`OnConflict::Fail`](crate::OnConflict) found
    /// names that already exist; nothing was written (409).
    #[error("already exist: {}", names.join(", "))]
    ImportConflict {
        /// The existing names, as the file spells them.
        names: Vec<String>,
    },
    /// Two attached items would set the same environment variable (409).
    #[error("agent {agent} would receive environment variable {variable:?} twice")]
    DuplicateVariable {
        /// The agent.
        agent: AgentId,
        /// The variable.
        variable: String,
    },
    /// Input refused for a reason of its own, for example an agent name that
    /// is too long (400).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: Input,
        /// Why it was refused.
        reason: String,
    },
    /// An agent name was refused (400). The name is not repeated: it may
    /// hold control characters.
    #[error("invalid agent name: {0}")]
    InvalidAgentName(#[from] AgentNameError),
    /// A name was refused (400).
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The refused name (names are not secret).
        name: String,
        /// Why.
        reason: NameError,
    },
    /// A user id was refused (400).
    #[error("invalid user id: {0}")]
    InvalidUserId(#[from] UserIdError),
    /// A keyring change was refused: the primary key can't be retired, an
    /// id is unknown or taken, a key or key spec is malformed (400).
    #[error("keyring: {0}")]
    Keyring(#[from] crate::crypto::KeyringError),
    /// The keyring holds a key under an id the vault knows, but it is not
    /// the key the vault's records were sealed with (its check value
    /// differs, `docs/FORMAT.md` §9): a mistyped key or another deployment's.
    /// Refused before anything is sealed, opened or written (503).
    #[error(
        "master key {key} does not match this vault (its check value differs): \
         it is not the key this vault was sealed with; nothing was read or written"
    )]
    KeyMismatch {
        /// The key id whose key differs.
        key: KeyId,
    },
    /// Records are still sealed under this master key, so it can't be
    /// retired; run a rewrap first (409).
    #[error("master key {key} still seals {records} record(s); rewrap first")]
    KeyInUse {
        /// The key.
        key: KeyId,
        /// How many records use it.
        records: u64,
    },
    /// A value was refused; the message names the item, never the value (400).
    #[error("invalid value for {name:?}: {reason}")]
    InvalidValue {
        /// The item the value was for.
        name: String,
        /// Why.
        reason: ValueError,
    },
    /// No master key is configured: the product's "Secrets not configured" (503).
    #[error("secrets are not configured: no master key")]
    NotConfigured,
    /// The item, connection or agent does not exist (404).
    #[error("{what} {name:?} not found")]
    NotFound {
        /// What kind of thing.
        what: Entity,
        /// The name or id that was looked up.
        name: String,
    },
    /// A manifest requires variables that nothing in the vault provides, so
    /// the agent was not created (409). Every such name is listed.
    #[error("required by the manifest but not in the vault: {}", names.iter().map(Name::as_str).collect::<Vec<_>>().join(", "))]
    RequirementsMissing {
        /// The required names nothing provides.
        names: Vec<Name>,
    },
    /// The agent already holds a credential for this provider (409).
    #[error("agent {agent} already has a credential for {provider}")]
    ProviderConflict {
        /// The agent.
        agent: AgentId,
        /// The provider.
        provider: Provider,
    },
    /// The change needs a bigger commit than the store takes
    /// ([`Store::limits`](crate::store::Store::limits)): too many writes, or
    /// bodies too large. Nothing was written (413). Split the change (for
    /// example import a `.env` file in parts) or use a store with larger
    /// limits.
    #[error(
        "the change needs {writes} writes and {bytes} bytes in one commit; the store takes at most \
         {} writes, {} bytes per body and {} bytes per commit; nothing was written",
        limits.max_writes,
        limits.max_body_len,
        limits.max_batch_len
    )]
    TooLarge {
        /// Writes the change needs.
        writes: usize,
        /// Bytes of bodies the change needs.
        bytes: usize,
        /// What the store takes.
        limits: crate::store::Limits,
    },
    /// The store failed (500).
    #[error("store failure: {0}")]
    Store(#[source] crate::store::StoreError),
    /// A new credential for a connection would change the set of
    /// environment variables it sets while agents hold it (409). The
    /// agents' attachments record those variables: detach the connection
    /// from them first, or connect a credential of the same kind.
    #[error(
        "connection {connection} would change the variables it sets while attached to {} agent(s); detach it first",
        agents.len()
    )]
    VariablesWouldChange {
        /// The connection.
        connection: ConnectionId,
        /// The agents it is attached to.
        agents: Vec<AgentId>,
    },
    /// A gateway token did not match (401).
    #[error("gateway token rejected")]
    TokenRejected,
    /// A stored record names a master key that is not in the keyring (500).
    #[error("master key {0} is not in the keyring")]
    UnknownKey(KeyId),
}

impl Error {
    /// The HTTP status a service would answer with, and the one
    /// [`agent_vault::http`](crate) answers with: 400 for every kind of
    /// invalid input, as the product does.
    ///
    /// ```
    /// use agent_vault::Error;
    /// assert_eq!(Error::NotConfigured.http_status(), 503);
    /// assert_eq!(Error::TokenRejected.http_status(), 401);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TokenRejected => 401,
            Self::NotFound { .. } => 404,
            Self::AlreadyExists { .. }
            | Self::Attached { .. }
            | Self::DuplicateVariable { .. }
            | Self::GenerationsExhausted
            | Self::ImportConflict { .. }
            | Self::KeyInUse { .. }
            | Self::ProviderConflict { .. }
            | Self::RequirementsMissing { .. }
            | Self::VariablesWouldChange { .. } => 409,
            Self::Dotenv(_)
            | Self::InvalidUserId(_)
            | Self::InvalidImportEntry { .. }
            | Self::InvalidManifest(_)
            | Self::InvalidReceipt(_)
            | Self::Keyring(_)
            | Self::InvalidInput { .. }
            | Self::InvalidAgentName(_)
            | Self::InvalidName { .. }
            | Self::InvalidValue { .. } => 400,
            Self::TooLarge { .. } => 413,
            Self::DecryptionFailed | Self::Store(_) | Self::UnknownKey(_) => 500,
            Self::Contention { .. } | Self::KeyMismatch { .. } | Self::NotConfigured => 503,
        }
    }

    /// Whether the caller may retry the same call unchanged and hope for a
    /// different answer: contention, and store faults that may pass
    /// ([`StoreError::is_retryable`](crate::store::StoreError::is_retryable)).
    /// A corrupt record or a malformed batch is not: see
    /// [`Error::is_damage_or_bug`].
    ///
    /// ```
    /// use agent_vault::Error;
    /// use agent_vault::store::StoreError;
    /// assert!(Error::Contention { attempts: 8 }.is_retryable());
    /// let corrupt = Error::Store(StoreError::Corrupt { key: None });
    /// assert!(!corrupt.is_retryable() && corrupt.is_damage_or_bug());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Contention { .. } => true,
            Self::Store(error) => error.is_retryable(),
            _ => false,
        }
    }

    /// Whether the error points at damaged data or at a bug, which no retry
    /// mends: a stored value that does not open, a corrupt record, a batch
    /// the vault built wrong. Worth an alert rather than a retry.
    pub fn is_damage_or_bug(&self) -> bool {
        match self {
            Self::DecryptionFailed => true,
            Self::Store(error) => !error.is_retryable(),
            _ => false,
        }
    }

    pub(crate) fn invalid_name(name: &str, reason: NameError) -> Self {
        Self::InvalidName {
            name: name.to_owned(),
            reason,
        }
    }
}

/// What kind of thing an [`Error`] is about, in
/// [`Error::NotFound`], [`Error::AlreadyExists`] and [`Error::Attached`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// A secret or a variable, when the call did not say which.
    Item,
    /// A secret.
    Secret,
    /// A variable.
    Variable,
    /// A provider connection.
    Connection,
    /// An agent.
    Agent,
    /// An item or connection attached to an agent.
    Attachment,
    /// A version of an item's value.
    Version,
}

impl Entity {
    /// How messages name it: `"secret or variable"`, `"secret"`,
    /// `"variable"`, `"connection"`, `"agent"`, `"attachment"`, `"version"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Item => "secret or variable",
            Self::Secret => "secret",
            Self::Variable => "variable",
            Self::Connection => "connection",
            Self::Agent => "agent",
            Self::Attachment => "attachment",
            Self::Version => "version",
        }
    }
}

impl From<Kind> for Entity {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Secret => Self::Secret,
            Kind::Variable => Self::Variable,
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Which input an [`Error::InvalidInput`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Input {
    /// A provider credential (an API key or token).
    Credential,
    /// A custom provider's base URL.
    BaseUrl,
    /// A custom provider's model id.
    ModelId,
    /// A Codex subscription's OAuth token bundle.
    CodexBundle,
    /// A Codex `auth.json` file.
    CodexFile,
    /// A provider's spelling.
    Provider,
    /// A connection's spelling (`provider:kind`).
    Connection,
    /// A credential kind's spelling (`api-key`, `codex-subscription`, ...).
    CredentialKind,
    /// An item's id.
    ItemId,
    /// A version of an item's value.
    Version,
    /// Variables to write out as `.env` text.
    Variables,
    /// An agent manifest file.
    Manifest,
}

impl Input {
    /// How messages name it, for example `"base url"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credential => "credential",
            Self::BaseUrl => "base url",
            Self::ModelId => "model id",
            Self::CodexBundle => "codex oauth bundle",
            Self::CodexFile => "codex oauth file",
            Self::Provider => "provider",
            Self::Connection => "connection",
            Self::CredentialKind => "kind",
            Self::ItemId => "secret id",
            Self::Version => "version",
            Self::Variables => "variables",
            Self::Manifest => "manifest",
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<CryptoError> for Error {
    fn from(error: CryptoError) -> Self {
        if matches!(
            error,
            CryptoError::DecryptionFailed | CryptoError::UnknownGeneration(_)
        ) {
            // The span of the operation says which call; no key, value or
            // ciphertext ever goes to a log.
            tracing::warn!("a stored value did not open: tampered, moved, or under another key");
        }
        match error {
            CryptoError::NotConfigured => Self::NotConfigured,
            CryptoError::UnknownKey(id) => Self::UnknownKey(id),
            CryptoError::DecryptionFailed | CryptoError::UnknownGeneration(_) => {
                Self::DecryptionFailed
            }
            CryptoError::GenerationsExhausted => Self::GenerationsExhausted,
        }
    }
}

/// For `?` on [`Name::parse`](crate::Name::parse) in a function returning
/// this crate's `Result`. The name is not known here, so it is left empty:
/// map the error yourself to name it.
impl From<NameError> for Error {
    fn from(reason: NameError) -> Self {
        Self::InvalidName {
            name: String::new(),
            reason,
        }
    }
}

/// For `?` on [`SecretValue::parse`](crate::SecretValue::parse) in a
/// function returning this crate's `Result`. The item is not known here, so
/// its name is left empty.
impl From<ValueError> for Error {
    fn from(reason: ValueError) -> Self {
        Self::InvalidValue {
            name: String::new(),
            reason,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Store(error)
    }
}

/// Keeps `StdError` in use for the docs' sake: every error here is a
/// `std::error::Error + Send + Sync + 'static`.
const _: fn() = || {
    fn assert_error<E: StdError + Send + Sync + 'static>() {}
    assert_error::<Error>();
};
