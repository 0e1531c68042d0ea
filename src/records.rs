//! The bodies of stored records, and their encoding.
//!
//! A body is one format byte ([`BODY_FORMAT`]) followed by the record in
//! postcard (a compact, documented serde format). Sealed values are
//! envelopes (`docs/FORMAT.md`); only variables are plaintext.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::{Expect, Record, RecordKey, RecordKind, StoreError, Write};
use crate::{AgentId, ConnectionId, ItemId, Kind, Name, Provider, Timestamp};

/// The first byte of every record body.
pub(crate) const BODY_FORMAT: u8 = 1;

pub(crate) fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    let out = vec![BODY_FORMAT];
    // Serialising these plain structs into a Vec cannot fail: postcard fails
    // only on unsupported types (none here) or a full fixed buffer (not used).
    match postcard::to_extend(body, out) {
        Ok(bytes) => bytes,
        Err(_) => unreachable!("postcard serialisation into a Vec is infallible"),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(record: &Record) -> Result<T, StoreError> {
    decode_bytes(&record.body).ok_or_else(|| corrupt(&record.key))
}

/// Decodes a body; `None` if it is not a valid record. Public to the crate's
/// fuzz target through [`crate::fuzzing`].
pub(crate) fn decode_bytes<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match body.split_first() {
        Some((&BODY_FORMAT, rest)) => postcard::from_bytes(rest).ok(),
        _ => None,
    }
}

/// The write that creates `key` with `body` (it must not exist yet).
pub(crate) fn create<T: Serialize>(key: RecordKey, body: &T) -> Write {
    Write::Put {
        key,
        expect: Expect::Absent,
        body: encode(body),
    }
}

/// The write that puts `body` back in place of `record`, expecting the
/// version it was read at (the read-change-commit pattern of every update).
pub(crate) fn replace<T: Serialize>(record: &Record, body: &T) -> Write {
    Write::Put {
        key: record.key.clone(),
        expect: Expect::Version(record.version),
        body: encode(body),
    }
}

pub(crate) fn corrupt(key: &RecordKey) -> StoreError {
    StoreError::Corrupt {
        key: Some(key.clone()),
    }
}

/// A secret or variable.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ItemBody {
    pub name: Name,
    pub kind: Kind,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The value's version: 1 when created, one more per update.
    pub revision: u64,
    /// Agents the item is attached to, sorted. Attaching writes this record
    /// too, so a delete racing an attach always collides with it.
    pub agents: Vec<AgentId>,
    pub value: StoredValue,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum StoredValue {
    Sealed(#[serde(with = "serde_bytes")] Vec<u8>),
    Plain(String),
}

/// The name index: which item holds a case-folded name.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct NameBody {
    pub item: ItemId,
}

/// A provider connection.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ConnectionBody {
    pub id: ConnectionId,
    pub connected_at: Timestamp,
    pub updated_at: Timestamp,
    pub revision: u64,
    pub agents: Vec<AgentId>,
    /// The variable names the payload sets (not secret; kept for the rules).
    pub variables: Vec<String>,
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// An agent.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AgentBody {
    pub name: String,
    pub created_at: Timestamp,
    #[serde(with = "serde_bytes")]
    pub token: Vec<u8>,
    pub token_revision: u64,
    pub attachments: Vec<Attachment>,
    pub deployment: Option<Deployment>,
}

/// What an agent has attached, with the facts the rules need (names never
/// change, so keeping them here is safe and spares reading every target).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    pub target: crate::Target,
    pub label: String,
    pub provider: Option<Provider>,
    pub variables: Vec<String>,
}

/// The last environment the host said it started the agent with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Deployment {
    pub at: Timestamp,
    pub token_revision: u64,
    pub entries: Vec<crate::DeployedEntry>,
}

/// The body of a record that an agent can be attached to or that holds a
/// sealed value: the one dispatch over record kinds for attachment
/// bookkeeping, the environment and rewrap.
pub(crate) enum Body {
    Agent(AgentBody),
    Connection(ConnectionBody),
    Item(ItemBody),
}

impl Body {
    /// The body of an agent, connection or item record; `None` for the
    /// other kinds.
    pub fn read(record: &Record) -> Result<Option<Self>, StoreError> {
        Ok(match record.key.kind {
            RecordKind::Agent => Some(Self::Agent(decode(record)?)),
            RecordKind::Connection => Some(Self::Connection(decode(record)?)),
            RecordKind::Item => Some(Self::Item(decode(record)?)),
            _ => None,
        })
    }

    /// The body of an item or connection record (what agents attach).
    pub fn read_target(record: &Record) -> Result<Self, StoreError> {
        match Self::read(record)? {
            Some(body @ (Self::Connection(_) | Self::Item(_))) => Ok(body),
            _ => Err(corrupt(&record.key)),
        }
    }

    /// The agents an item or connection is attached to.
    pub fn agents_mut(&mut self) -> Option<&mut Vec<AgentId>> {
        match self {
            Self::Agent(_) => None,
            Self::Connection(body) => Some(&mut body.agents),
            Self::Item(body) => Some(&mut body.agents),
        }
    }

    /// The revision of its value: an item's or connection's, an agent's
    /// gateway token's.
    pub fn revision(&self) -> u64 {
        match self {
            Self::Agent(body) => body.token_revision,
            Self::Connection(body) => body.revision,
            Self::Item(body) => body.revision,
        }
    }

    /// The sealed bytes it holds: a gateway token, a credential, a secret's
    /// value; `None` for a variable.
    pub fn sealed(&self) -> Option<&[u8]> {
        match self {
            Self::Agent(body) => Some(&body.token),
            Self::Connection(body) => Some(&body.sealed),
            Self::Item(body) => match &body.value {
                StoredValue::Sealed(bytes) => Some(bytes),
                StoredValue::Plain(_) => None,
            },
        }
    }

    /// The sealed bytes, to replace; `None` for a variable.
    pub fn sealed_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Self::Agent(body) => Some(&mut body.token),
            Self::Connection(body) => Some(&mut body.sealed),
            Self::Item(body) => match &mut body.value {
                StoredValue::Sealed(bytes) => Some(bytes),
                StoredValue::Plain(_) => None,
            },
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Agent(body) => encode(body),
            Self::Connection(body) => encode(body),
            Self::Item(body) => encode(body),
        }
    }
}

/// A master key's check value (FORMAT.md §9), under the vault's reserved
/// user, one record per key id.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyCheckBody {
    #[serde(with = "serde_bytes")]
    pub check: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_garbage_is_refused() {
        let body = NameBody {
            item: ItemId::new_random(),
        };
        let bytes = encode(&body);
        assert_eq!(bytes[0], BODY_FORMAT);
        let back: NameBody = decode_bytes(&bytes).unwrap();
        assert_eq!(back.item, body.item);
        assert!(decode_bytes::<NameBody>(&[]).is_none());
        assert!(decode_bytes::<NameBody>(&[2, 0]).is_none());
        assert!(decode_bytes::<ItemBody>(&bytes).is_none());
    }
}
