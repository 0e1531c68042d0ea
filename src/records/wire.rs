//! How the crate's own types are written inside record bodies
//! (`docs/FORMAT.md` §6.2): each adapter pins one type's bytes, so that a
//! change to a public type's `Serialize` (for JSON, for the API) can never
//! change what is stored.
//!
//! Used as `#[serde(with = "wire::…")]` on the fields of the stored bodies.

use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::codes::{Code as _, TargetTag, coded};
use crate::{
    AgentId, ConnectionId, CredentialKind, DeployedEntry, ItemId, Name, Provider, Target, Timestamp,
};

fn unknown_connection<E: serde::de::Error>(provider: Provider, kind: CredentialKind) -> E {
    E::custom(format!("{provider} does not connect by {kind}"))
}

/// What is stored as a bare UUID.
pub(crate) trait UuidBacked: Sized {
    fn uuid(&self) -> &Uuid;
    fn from_uuid(uuid: Uuid) -> Self;
}

impl UuidBacked for Uuid {
    fn uuid(&self) -> &Uuid {
        self
    }

    fn from_uuid(uuid: Uuid) -> Self {
        uuid
    }
}

impl UuidBacked for ItemId {
    fn uuid(&self) -> &Uuid {
        self.as_uuid()
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self::from(uuid)
    }
}

impl UuidBacked for AgentId {
    fn uuid(&self) -> &Uuid {
        self.as_uuid()
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self::from(uuid)
    }
}

/// A UUID-based id as its 16 bytes, with no length prefix.
pub(crate) mod uuid_bytes {
    use super::*;

    pub(crate) fn serialize<T: UuidBacked, S: Serializer>(id: &T, s: S) -> Result<S::Ok, S::Error> {
        id.uuid().as_bytes().serialize(s)
    }

    pub(crate) fn deserialize<'de, T: UuidBacked, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        <[u8; 16]>::deserialize(d).map(|bytes| T::from_uuid(Uuid::from_bytes(bytes)))
    }
}

/// An optional UUID: `None`, or `Some` and its 16 bytes.
pub(crate) mod uuid_option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(id: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
        id.map(|id| *id.as_bytes()).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        Ok(Option::<[u8; 16]>::deserialize(d)?.map(Uuid::from_bytes))
    }
}

/// A secret's or variable's name, as its text; read back through
/// [`Name::parse`].
pub(crate) mod name {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(name: &Name, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        let text = String::deserialize(d)?;
        Name::parse(&text).map_err(|_| D::Error::custom("a stored name is not a valid name"))
    }
}

/// A list of agent ids: a length, then 16 bytes each.
pub(crate) mod agent_ids {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(ids: &[AgentId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ids.iter().map(|id| id.as_uuid().as_bytes()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AgentId>, D::Error> {
        let raw = Vec::<[u8; 16]>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|bytes| AgentId::from(Uuid::from_bytes(bytes)))
            .collect())
    }
}

/// A timestamp as signed milliseconds since the Unix epoch.
pub(crate) mod millis {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(at.unix_millis())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_unix_millis)
    }
}

/// An optional timestamp: `None`, or `Some` and the milliseconds.
pub(crate) mod millis_option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        at: &Option<Timestamp>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        at.map(Timestamp::unix_millis).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(Timestamp::from_unix_millis))
    }
}

/// A connection id as its provider code and credential-kind code; a pair
/// that is not a valid connection is refused.
pub(crate) mod connection {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(id: &ConnectionId, s: S) -> Result<S::Ok, S::Error> {
        (id.provider().code(), id.kind().code()).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ConnectionId, D::Error> {
        #[derive(Deserialize)]
        struct Pair(
            #[serde(with = "coded")] Provider,
            #[serde(with = "coded")] CredentialKind,
        );
        let Pair(provider, kind) = Pair::deserialize(d)?;
        ConnectionId::new(provider, kind).map_err(|_| unknown_connection(provider, kind))
    }
}

/// An attachment target: its tag, then an item's 16 id bytes or a
/// connection's two codes.
pub(crate) mod target {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(target: &Target, s: S) -> Result<S::Ok, S::Error> {
        match target {
            Target::Item(id) => {
                let mut tuple = s.serialize_tuple(2)?;
                tuple.serialize_element(&TargetTag::Item.code())?;
                tuple.serialize_element(id.as_uuid().as_bytes())?;
                tuple.end()
            }
            Target::Connection(id) => {
                let mut tuple = s.serialize_tuple(3)?;
                tuple.serialize_element(&TargetTag::Connection.code())?;
                tuple.serialize_element(&id.provider().code())?;
                tuple.serialize_element(&id.kind().code())?;
                tuple.end()
            }
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        struct TargetVisitor;

        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = Target;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attachment target")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Target, A::Error> {
                let missing = || A::Error::custom("truncated attachment target");
                let tag: u8 = seq.next_element()?.ok_or_else(missing)?;
                match TargetTag::from_code(tag) {
                    Some(TargetTag::Item) => {
                        let bytes: [u8; 16] = seq.next_element()?.ok_or_else(missing)?;
                        Ok(Target::Item(ItemId::from(Uuid::from_bytes(bytes))))
                    }
                    Some(TargetTag::Connection) => {
                        let provider: u8 = seq.next_element()?.ok_or_else(missing)?;
                        let kind: u8 = seq.next_element()?.ok_or_else(missing)?;
                        let provider = Provider::from_code(provider)
                            .ok_or_else(|| A::Error::custom("unknown provider code"))?;
                        let kind = CredentialKind::from_code(kind)
                            .ok_or_else(|| A::Error::custom("unknown credential kind code"))?;
                        let id = ConnectionId::new(provider, kind)
                            .map_err(|_| unknown_connection(provider, kind))?;
                        Ok(Target::Connection(id))
                    }
                    None => Err(A::Error::custom(format!(
                        "unknown attachment target code {tag}"
                    ))),
                }
            }
        }

        // The longest form (tag and 16 id bytes) bounds what is read; the
        // visitor reads only the elements its tag calls for.
        d.deserialize_tuple(17, TargetVisitor)
    }
}

/// A deployed entry as stored: its target, label, revision, and the
/// connection instance it delivered (`None` for items).
#[derive(Serialize)]
struct EntryRef<'a> {
    #[serde(with = "target")]
    target: Target,
    label: &'a str,
    revision: u64,
    #[serde(with = "uuid_option")]
    instance: Option<Uuid>,
}

#[derive(Deserialize)]
struct EntryOwned {
    #[serde(with = "target")]
    target: Target,
    label: String,
    revision: u64,
    #[serde(with = "uuid_option")]
    instance: Option<Uuid>,
}

/// A list of deployed entries in their stored form.
pub(crate) struct EntriesRef<'a>(pub(crate) &'a [DeployedEntry]);

impl Serialize for EntriesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|entry| EntryRef {
            target: entry.target,
            label: &entry.label,
            revision: entry.revision,
            instance: entry.instance,
        }))
    }
}

/// A deployment's entries: a length, then each entry.
pub(crate) mod deployed_entries {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        entries: &[DeployedEntry],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        EntriesRef(entries).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<DeployedEntry>, D::Error> {
        let owned = Vec::<EntryOwned>::deserialize(d)?;
        Ok(owned
            .into_iter()
            .map(|entry| DeployedEntry {
                target: entry.target,
                label: entry.label,
                revision: entry.revision,
                instance: entry.instance,
            })
            .collect())
    }
}
