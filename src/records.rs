//! The bodies of stored records, and their encoding.
//!
//! A body is one format byte ([`BODY_FORMAT`]) followed by the record in
//! postcard (a compact, documented serde format). Sealed values are
//! envelopes (`docs/FORMAT.md`); only variables are plaintext.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::{Record, RecordKey, StoreError};
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
