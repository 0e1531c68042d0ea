//! What an agent receives at start, the receipt of a deployment, and the
//! synced indicator.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::{AgentId, ConnectionId, ItemId, Timestamp, UserId};

/// Something attached to an agent: a secret or variable, or a provider
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Target {
    /// A secret or variable.
    Item(ItemId),
    /// A provider connection.
    Connection(ConnectionId),
}

/// An agent's complete environment: name → value.
///
/// The only way a secret's value leaves the vault. `Debug` shows the names
/// only; there is no `Display` or `Serialize`; every value is a
/// [`SecretString`], zeroised on drop. Nothing is written to disk: hand it to
/// the container runtime, or to a child process with
/// [`Environment::apply_to`].
pub struct Environment {
    vars: BTreeMap<String, SecretString>,
}

impl Environment {
    pub(crate) fn new(vars: BTreeMap<String, SecretString>) -> Self {
        Self { vars }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.vars.get(name)
    }

    /// The variable names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Name and value pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there is no variable.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Sets every variable on `command` (adding to what it inherits).
    ///
    /// ```no_run
    /// # async fn demo(env: agent_vault::Environment) -> std::io::Result<()> {
    /// let mut command = std::process::Command::new("agent-gateway");
    /// env.apply_to(&mut command);
    /// command.status()?;
    /// # Ok(()) }
    /// ```
    pub fn apply_to(&self, command: &mut std::process::Command) {
        for (name, value) in &self.vars {
            command.env(name, value.expose_secret());
        }
    }

    /// Sets every variable on a `tokio::process::Command` (feature `tokio`).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn apply_to_tokio(&self, command: &mut tokio::process::Command) {
        for (name, value) in &self.vars {
            command.env(name, value.expose_secret());
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One attached thing as it was deployed: which, under what label, at which
/// value revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployedEntry {
    /// What was attached.
    pub target: Target,
    /// Its name (a secret's or variable's name, or `provider:kind`).
    pub label: String,
    /// The value revision that went into the environment.
    pub revision: u64,
    /// For a connection, which instance of it was delivered: a connection
    /// removed and made again is another instance, so the synced indicator
    /// never mistakes it for the one the agent runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<uuid::Uuid>,
}

/// What [`Vault::environment`](crate::Vault::environment) handed out, to be
/// recorded with [`Vault::record_deployment`](crate::Vault::record_deployment)
/// once the agent's gateway has (re)started with it. It holds revisions,
/// never values, so it may be serialised and kept.
///
/// It is sealed: the vault seals its content under the user's key when it
/// issues it (`docs/FORMAT.md` §4, purpose 4), and
/// [`Vault::record_deployment`](crate::Vault::record_deployment) refuses a
/// receipt whose fields differ from what was sealed, one of another user,
/// or one that does not open. So a forged or altered receipt can never mark
/// as synced anything that was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeploymentReceipt {
    /// The user.
    pub user: UserId,
    /// The agent.
    pub agent: AgentId,
    /// When the environment was built.
    pub issued_at: Timestamp,
    /// The gateway token's revision.
    pub token_revision: u64,
    /// Every attached thing and its revision.
    pub entries: Vec<DeployedEntry>,
    /// The sealed copy of the fields above (base64 in serialised forms).
    #[serde(with = "seal_base64")]
    pub(crate) seal: Vec<u8>,
}

impl DeploymentReceipt {
    /// The bytes its seal holds ([`DeploymentReceipt::sealed_part`]
    /// encoded), written from the fields without copying them.
    pub(crate) fn sealed_bytes(&self) -> Vec<u8> {
        crate::records::SealedReceiptRef {
            issued_at: self.issued_at,
            token_revision: self.token_revision,
            entries: &self.entries,
        }
        .encode()
    }

    /// The fields the seal must hold.
    pub(crate) fn sealed_part(&self) -> crate::records::SealedReceipt {
        crate::records::SealedReceipt {
            issued_at: self.issued_at,
            token_revision: self.token_revision,
            entries: self.entries.clone(),
        }
    }
}

/// Why [`Vault::record_deployment`](crate::Vault::record_deployment) refused
/// a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Its seal does not open, or its fields differ from what was sealed:
    /// altered or forged.
    #[error("it was altered or forged (its seal does not match)")]
    Forged,
    /// It claims to be issued later than now (beyond a minute of clock
    /// skew between replicas).
    #[error("it claims to be issued in the future")]
    FromTheFuture,
    /// It belongs to another user than the one recording it.
    #[error("it belongs to another user")]
    OtherUser,
}

mod seal_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(seal: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(seal))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Whether the running agent has an attached thing's current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SyncState {
    /// The agent has never been deployed.
    NotDeployed,
    /// Detached since the last deployment, but still in the running
    /// environment.
    Removed,
    /// Updated or attached since the last deployment.
    Stale,
    /// The running agent has the current value.
    Synced,
}

impl SyncState {
    /// `synced`, `stale`, `removed` or `not-deployed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotDeployed => "not-deployed",
            Self::Removed => "removed",
            Self::Stale => "stale",
            Self::Synced => "synced",
        }
    }
}

/// The synced indicator of one attached (or lately detached) thing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ItemStatus {
    /// What.
    pub target: Target,
    /// Its name or `provider:kind`.
    pub name: String,
    /// Its state.
    pub state: SyncState,
}

/// The synced indicator of a whole agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AgentStatus {
    /// Whether the gateway must (re)start to run with the current values:
    /// `true` when the agent was never deployed (nothing runs with its
    /// values yet), when any attached thing is not synced, or when the
    /// token was rotated since the last deployment.
    pub restart_needed: bool,
    /// Whether the gateway token was rotated since the last deployment.
    pub token_stale: bool,
    /// One row per attached thing, plus removed ones.
    pub items: Vec<ItemStatus>,
}
