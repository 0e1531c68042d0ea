//! The audit trail: one [`AuditEvent`] per change, per refused conflict and
//! per rejected gateway token, to an [`AuditSink`] of the service's and, with
//! [`VaultConfig::with_audit_log`](crate::VaultConfig::with_audit_log), into
//! the store **in the same commit as the change it describes**.
//!
//! An event says who (the user, and the agent when its gateway token acted),
//! what ([`AuditAction`]), on which ids and names ([`AuditSubject`]), when,
//! and how it ended ([`AuditOutcome`]). It never carries a value, a key, a
//! token or a salt: its fields have no room for one.
//!
//! The store-backed log fails closed, like HashiCorp Vault's audit devices:
//! the event is one more write of the change's own commit, so a change can
//! never exist without its event, nor an event without its change, whatever
//! the store does (a failed, or ambiguous, commit applies both or neither).
//! [`Vault::audit_log`](crate::Vault::audit_log) reads it back.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use agent_vault::audit::{AuditAction, AuditEvent, AuditSink};
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::store::MemoryStore;
//! use agent_vault::{Kind, Name, SecretValue, Timestamp, UserId, Vault, VaultConfig};
//!
//! #[derive(Debug, Default)]
//! struct Collect(Mutex<Vec<AuditAction>>);
//!
//! impl AuditSink for Collect {
//!     fn record(&self, event: &AuditEvent) {
//!         self.0.lock().unwrap().push(event.action);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = Arc::new(Collect::default());
//! let config = VaultConfig::default().with_audit_log(true).with_audit_sink(sink.clone());
//! let vault = Vault::with_config(MemoryStore::new(), Keyring::single(MasterKey::generate()), config);
//! let user = UserId::parse("user_42")?;
//! let value = SecretValue::parse("s3cret".into())?;
//! vault.create_item(&user, &Name::parse("API_TOKEN")?, Kind::Secret, value).await?;
//! assert_eq!(*sink.0.lock().unwrap(), [AuditAction::ItemCreated]);
//! let log = vault.audit_log(&user, Timestamp::from_unix_millis(0), 100).await?;
//! assert_eq!(log[0].action, AuditAction::ItemCreated);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::KeyId;
use crate::{AgentId, ConnectionId, ItemId, Timestamp, UserId};

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A secret or variable was created.
    ItemCreated,
    /// Its value was replaced.
    ItemUpdated,
    /// It was deleted (with its history).
    ItemDeleted,
    /// An earlier value was made current again (`details.version`).
    ItemRolledBack,
    /// A `.env` file was imported (`details`: counts per action).
    Imported,
    /// A provider was connected.
    Connected,
    /// A connection's credential was replaced.
    ConnectionUpdated,
    /// A connection was removed.
    Disconnected,
    /// Things were attached to an agent.
    Attached,
    /// Things were detached from an agent.
    Detached,
    /// An agent was created (with what was attached at creation).
    AgentCreated,
    /// An agent was deleted.
    AgentDeleted,
    /// An agent's gateway token was rotated.
    TokenRotated,
    /// The host recorded that an agent started with its environment.
    DeploymentRecorded,
    /// A presented gateway token did not verify.
    TokenRejected,
    /// A user's key generation was rotated.
    UserKeyRotated,
    /// A master key was made primary.
    KeyPromoted,
    /// A master key was removed from the keyring.
    KeyRetired,
    /// Records were re-sealed and upgraded: one event per commit of a
    /// rewrap (`details.rewritten`), then one with the totals.
    Rewrapped,
}

impl AuditAction {
    /// The kebab-case name, as in JSON: `item-created`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ItemCreated => "item-created",
            Self::ItemUpdated => "item-updated",
            Self::ItemDeleted => "item-deleted",
            Self::ItemRolledBack => "item-rolled-back",
            Self::Imported => "imported",
            Self::Connected => "connected",
            Self::ConnectionUpdated => "connection-updated",
            Self::Disconnected => "disconnected",
            Self::Attached => "attached",
            Self::Detached => "detached",
            Self::AgentCreated => "agent-created",
            Self::AgentDeleted => "agent-deleted",
            Self::TokenRotated => "token-rotated",
            Self::DeploymentRecorded => "deployment-recorded",
            Self::TokenRejected => "token-rejected",
            Self::UserKeyRotated => "user-key-rotated",
            Self::KeyPromoted => "key-promoted",
            Self::KeyRetired => "key-retired",
            Self::Rewrapped => "rewrapped",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something an event is about, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditSubject {
    /// A secret or variable.
    Item {
        /// Its id.
        id: ItemId,
        /// Its name.
        name: String,
    },
    /// A secret or variable as a refused request named it (its name, or its
    /// id as text), when the record itself was never read.
    Name {
        /// The name as given.
        name: String,
    },
    /// A provider connection.
    Connection {
        /// `provider:kind`.
        id: ConnectionId,
    },
    /// An agent.
    Agent {
        /// Its id.
        id: AgentId,
        /// Its name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A master key, by id (never its bytes).
    Key {
        /// The key id.
        id: KeyId,
    },
}

impl AuditSubject {
    pub(crate) fn item(id: ItemId, name: &crate::Name) -> Self {
        Self::Item {
            id,
            name: name.to_string(),
        }
    }

    pub(crate) fn name(name: &crate::Name) -> Self {
        Self::Name {
            name: name.to_string(),
        }
    }

    pub(crate) fn agent(id: AgentId, name: Option<&str>) -> Self {
        Self::Agent {
            id,
            name: name.map(str::to_owned),
        }
    }

    /// What an agent has attached.
    pub(crate) fn target(target: crate::Target, label: &str) -> Self {
        match target {
            crate::Target::Item(id) => Self::Item {
                id,
                name: label.to_owned(),
            },
            crate::Target::Connection(id) => Self::Connection { id },
        }
    }
}

/// How the action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// Done: the change is committed (in the same commit as the event, for
    /// the store-backed log).
    Done,
    /// Refused with a conflict (HTTP 409) and changed nothing; `reason` is
    /// the error's message, which names things but never values.
    Refused {
        /// The HTTP status.
        status: u16,
        /// Why.
        reason: String,
    },
    /// A gateway token did not verify (HTTP 401).
    Rejected,
}

/// One audit event. It never holds a value, key, token or salt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When.
    pub at: Timestamp,
    /// The user the vault acted for; for vault-wide actions (master keys,
    /// rewrap) the vault's reserved id `~vault`.
    #[serde(deserialize_with = "stored_user")]
    pub user: UserId,
    /// The agent whose gateway token acted or was presented (a rejected
    /// check), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
    /// What.
    pub action: AuditAction,
    /// On what.
    pub subjects: Vec<AuditSubject>,
    /// Counts and numbers that describe the action (an import's per-action
    /// counts, a rollback's version, a rewrap's totals).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, u64>,
    /// How it ended.
    pub outcome: AuditOutcome,
}

impl AuditEvent {
    /// A done action of `user` on `subjects`, now.
    pub(crate) fn done(user: &UserId, action: AuditAction, subjects: Vec<AuditSubject>) -> Self {
        Self {
            at: Timestamp::now(),
            user: user.clone(),
            agent: None,
            action,
            subjects,
            details: BTreeMap::new(),
            outcome: AuditOutcome::Done,
        }
    }

    /// With one more detail.
    pub(crate) fn detail(mut self, key: &str, value: u64) -> Self {
        self.details.insert(key.to_owned(), value);
        self
    }
}

/// A user id as events store it: the vault's own `~vault` included.
fn stored_user<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<UserId, D::Error> {
    let text = String::deserialize(deserializer)?;
    UserId::parse_stored(&text).map_err(serde::de::Error::custom)
}

/// Where events go, besides the store-backed log: a service's logger,
/// SIEM, message queue.
///
/// `record` is called once per event, after the change is committed (or
/// refused, or rejected), on the task that made the call; it must not
/// block for long. It cannot fail the change: a sink that must never lose
/// an event should be the store-backed log, which is part of the commit.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Receives one event.
    fn record(&self, event: &AuditEvent);
}

/// How a store-backed log entry is stored (`docs/FORMAT.md` §6.10): format
/// byte `02`, then the event as UTF-8 JSON.
pub(crate) fn encode(event: &AuditEvent) -> Vec<u8> {
    // Reserved for a typical event, so it is written without regrowing.
    let mut body = Vec::with_capacity(320);
    body.push(crate::records::FORMAT);
    // Serialising these plain types into a Vec cannot fail.
    if serde_json::to_writer(&mut body, event).is_err() {
        unreachable!("an audit event always serialises");
    }
    body
}

/// A stored log entry; `None` if it is not one.
pub(crate) fn decode(body: &[u8]) -> Option<AuditEvent> {
    match body.split_first() {
        Some((&crate::records::FORMAT, json)) => serde_json::from_slice(json).ok(),
        _ => None,
    }
}

/// The id of a log entry: its time in milliseconds, this process's event
/// count and 8 random bytes, each in fixed-width hex and joined by `-`. Ids
/// sort by time, then, within a millisecond, in this process's order, and
/// never collide across processes.
pub(crate) fn entry_id(at: Timestamp) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let millis = u64::try_from(at.unix_millis()).unwrap_or(0);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut id = String::with_capacity(3 * 16 + 2);
    for (index, part) in [millis, sequence, rand::random::<u64>()]
        .into_iter()
        .enumerate()
    {
        if index > 0 {
            id.push('-');
        }
        push_hex(&mut id, part);
    }
    id
}

/// Appends `value` as 16 lowercase hex digits (what `{:016x}` writes,
/// without the formatting machinery: this is on every audited commit).
fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        out.push(char::from(DIGITS[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_sort_by_time_then_sequence() {
        let early = entry_id(Timestamp::from_unix_millis(0x1a2_22bc_4b53));
        let late = entry_id(Timestamp::from_unix_millis(0x1a2_22bc_4b54));
        assert_eq!(early.len(), 50);
        assert!(early.starts_with("000001a222bc4b53-"), "{early}");
        assert!(early < late);
        let mut hex = String::new();
        push_hex(&mut hex, 0x0123_4567_89ab_cdef);
        assert_eq!(hex, format!("{:016x}", 0x0123_4567_89ab_cdef_u64));
    }
}
