//! The storage schema: every stored record's key and body, and their
//! encoding (`docs/FORMAT.md` §6).
//!
//! This module is the one place that knows how records look in a store. A
//! body is one format byte, then the record in postcard (a compact,
//! documented serde format) over the private structs below. Enums are
//! written as the stable codes of [`codes`], and the crate's own types
//! through the adapters of [`wire`], never by their position or their public
//! `Serialize`: so neither reordering nor adding a variant, nor a change to
//! the API types, can change a stored byte. Sealed values inside bodies are
//! envelopes (`docs/FORMAT.md` §3); only variables are plaintext.
//!
//! Every write uses the current format, [`FORMAT`]; bodies of format 1
//! (agent-vault 0.1.0, [`v1`]) still read, and are rewritten in the current
//! format by their next write or by [`Vault::rewrap`](crate::Vault::rewrap).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::crypto::{KEY_CHECK_LEN, KeyId, SALT_LEN, UserKeys};
use crate::store::{Expect, Record, RecordKey, RecordKind, StoreError, Write};
use crate::{
    AgentId, ConnectionId, DeployedEntry, ItemId, Kind, Name, Provider, Target, Timestamp, UserId,
};

pub(crate) mod codes;
mod v1;
pub(crate) mod view;
pub(crate) mod wire;

use codes::{coded, coded_option};

/// The format byte of every body written now (FORMAT.md §6.1).
pub(crate) const FORMAT: u8 = 2;

/// The format byte of bodies written by agent-vault 0.1.0, read only.
pub(crate) const FORMAT_V1: u8 = 1;

/// The id of a user's one key record (FORMAT.md §6.6).
pub(crate) const USER_KEYS_ID: &str = "keys";

/// A stored body: written in the current format, read in every format
/// that had it.
pub(crate) trait Stored: Serialize + DeserializeOwned {
    /// Reads a format-1 body (without its format byte); `None` if it is
    /// malformed, or if this kind of body did not exist in format 1.
    fn read_v1(bytes: &[u8]) -> Option<Self>;
}

/// `body` in the current format.
pub(crate) fn encode<T: Stored>(body: &T) -> Vec<u8> {
    encode_any(body)
}

fn encode_any<T: Serialize>(body: &T) -> Vec<u8> {
    let out = vec![FORMAT];
    // Serialising these plain structs into a Vec cannot fail: postcard fails
    // only on unsupported types (none here) or a full fixed buffer (not used).
    match postcard::to_extend(body, out) {
        Ok(bytes) => bytes,
        Err(_) => unreachable!("postcard serialisation into a Vec is infallible"),
    }
}

pub(crate) fn decode<T: Stored>(record: &Record) -> Result<T, StoreError> {
    decode_bytes(&record.body).ok_or_else(|| corrupt(&record.key))
}

/// Decodes a body of any readable format; `None` if it is not a valid
/// record of this kind (also for trailing bytes). Public to the crate's fuzz
/// target through [`crate::fuzzing`].
pub(crate) fn decode_bytes<T: Stored>(body: &[u8]) -> Option<T> {
    match body.split_first() {
        Some((&FORMAT, rest)) => match postcard::take_from_bytes(rest) {
            Ok((value, [])) => Some(value),
            _ => None,
        },
        Some((&FORMAT_V1, rest)) => T::read_v1(rest),
        _ => None,
    }
}

/// Whether `body` is already in the current format (rewrap upgrades the
/// others).
pub(crate) fn is_current(body: &[u8]) -> bool {
    body.first() == Some(&FORMAT)
}

/// The write that creates `key` with `body` (it must not exist yet).
pub(crate) fn create<T: Stored>(key: RecordKey, body: &T) -> Write {
    Write::Put {
        key,
        expect: Expect::Absent,
        body: encode(body),
    }
}

/// The write that puts `body` back in place of `record`, expecting the
/// version it was read at (the read-change-commit pattern of every update).
pub(crate) fn replace<T: Stored>(record: &Record, body: &T) -> Write {
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

// ---------------------------------------------------------------------------
// Record keys (FORMAT.md §6.1): the one place each address is built.

/// An item: its UUID, lowercase hyphenated.
pub(crate) fn item_key(user: &UserId, id: ItemId) -> RecordKey {
    RecordKey::new(user, RecordKind::Item, uuid_text(id.as_uuid()))
}

/// A UUID lowercase hyphenated, as its `Display` writes it, without the
/// formatting machinery (keys of every target are built at every container
/// start).
fn uuid_text(id: &Uuid) -> String {
    let mut buffer = Uuid::encode_buffer();
    id.hyphenated().encode_lower(&mut buffer).to_owned()
}

/// The name index entry of a name: the name in ASCII upper case.
pub(crate) fn name_key(user: &UserId, name: &Name) -> RecordKey {
    RecordKey::new(user, RecordKind::Name, name.folded())
}

/// A connection: `provider:kind`.
pub(crate) fn connection_key(user: &UserId, id: ConnectionId) -> RecordKey {
    RecordKey::new(user, RecordKind::Connection, id.record_id())
}

/// An agent: its UUID, lowercase hyphenated.
pub(crate) fn agent_key(user: &UserId, agent: AgentId) -> RecordKey {
    RecordKey::new(user, RecordKind::Agent, uuid_text(agent.as_uuid()))
}

/// What an attachment points at: an item or a connection.
pub(crate) fn target_key(user: &UserId, target: Target) -> RecordKey {
    match target {
        Target::Item(id) => item_key(user, id),
        Target::Connection(id) => connection_key(user, id),
    }
}

/// A user's key material.
pub(crate) fn user_keys_key(user: &UserId) -> RecordKey {
    RecordKey::new(user, RecordKind::UserKeys, USER_KEYS_ID)
}

/// An entry of `user`'s audit log (FORMAT.md §6.10), at `at`.
pub(crate) fn audit_key(user: &UserId, at: Timestamp) -> RecordKey {
    RecordKey::new(user, RecordKind::Audit, crate::audit::entry_id(at))
}

/// The owner index entry of an agent (FORMAT.md §6.13), under the reserved
/// user: any host that knows only the agent id can find its owner.
pub(crate) fn agent_owner_key(agent: AgentId) -> RecordKey {
    RecordKey::new(&UserId::vault(), RecordKind::AgentOwner, agent.to_string())
}

/// Master key `id`'s check value (FORMAT.md §9), under the reserved user.
pub(crate) fn key_check_key(id: KeyId) -> RecordKey {
    RecordKey::new(&UserId::vault(), RecordKind::KeyCheck, id.0.to_string())
}

// ---------------------------------------------------------------------------
// Bodies (FORMAT.md §6.3 to §6.6).

/// A secret or variable (FORMAT.md §6.3).
#[derive(Clone)]
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
    /// Earlier values, newest first, at most the vault's history length.
    /// Of the item's kind: sealed (purpose 5, bound to their revision) for
    /// a secret, plaintext for a variable.
    pub history: Vec<PastValue>,
}

/// An earlier value of an item (FORMAT.md §6.3).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PastValue {
    /// The revision it had while it was current.
    pub revision: u64,
    /// When it became current.
    #[serde(with = "wire::millis")]
    pub since: Timestamp,
    /// Sealed for a secret, UTF-8 for a variable.
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// An item's value: sealed for a secret, plaintext for a variable.
#[derive(Clone)]
pub(crate) enum StoredValue {
    Sealed(Vec<u8>),
    Plain(String),
}

impl StoredValue {
    /// A sealed value is a secret's, plaintext a variable's.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Self::Sealed(_) => Kind::Secret,
            Self::Plain(_) => Kind::Variable,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Sealed(sealed) => sealed,
            Self::Plain(text) => text.as_bytes(),
        }
    }
}

/// An item as stored: the kind code decides how the value bytes read, so a
/// secret in plaintext cannot be written.
#[derive(Serialize)]
struct ItemRef<'a> {
    #[serde(with = "wire::name")]
    name: &'a Name,
    #[serde(with = "coded")]
    kind: Kind,
    #[serde(with = "wire::millis")]
    created_at: Timestamp,
    #[serde(with = "wire::millis")]
    updated_at: Timestamp,
    revision: u64,
    #[serde(with = "wire::agent_ids")]
    agents: &'a [AgentId],
    #[serde(with = "serde_bytes")]
    value: &'a [u8],
    history: &'a [PastValue],
}

#[derive(Deserialize)]
struct ItemOwned {
    #[serde(with = "wire::name")]
    name: Name,
    #[serde(with = "coded")]
    kind: Kind,
    #[serde(with = "wire::millis")]
    created_at: Timestamp,
    #[serde(with = "wire::millis")]
    updated_at: Timestamp,
    revision: u64,
    #[serde(with = "wire::agent_ids")]
    agents: Vec<AgentId>,
    #[serde(with = "serde_bytes")]
    value: Vec<u8>,
    history: Vec<PastValue>,
}

impl Serialize for ItemBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The value decides the kind; the two never differ (the vault sets
        // both together).
        debug_assert_eq!(self.kind, self.value.kind());
        ItemRef {
            name: &self.name,
            kind: self.value.kind(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            revision: self.revision,
            agents: &self.agents,
            value: self.value.bytes(),
            history: &self.history,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ItemBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let owned = ItemOwned::deserialize(d)?;
        let value = match owned.kind {
            Kind::Secret => StoredValue::Sealed(owned.value),
            Kind::Variable => StoredValue::Plain(
                String::from_utf8(owned.value)
                    .map_err(|_| serde::de::Error::custom("a variable's value is not UTF-8"))?,
            ),
        };
        Ok(Self {
            name: owned.name,
            kind: owned.kind,
            created_at: owned.created_at,
            updated_at: owned.updated_at,
            revision: owned.revision,
            agents: owned.agents,
            value,
            history: owned.history,
        })
    }
}

impl Stored for ItemBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::item(bytes)
    }
}

/// The name index: which item holds a case-folded name (FORMAT.md §6.3).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct NameBody {
    #[serde(with = "wire::uuid_bytes")]
    pub item: ItemId,
}

impl Stored for NameBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::name(bytes)
    }
}

/// A provider connection (FORMAT.md §6.4).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ConnectionBody {
    #[serde(with = "wire::connection")]
    pub id: ConnectionId,
    /// Random when the connection is made, kept by updates: a connection
    /// removed and made again is another instance, whatever its revision.
    #[serde(with = "wire::uuid_bytes")]
    pub instance: Uuid,
    #[serde(with = "wire::millis")]
    pub connected_at: Timestamp,
    #[serde(with = "wire::millis")]
    pub updated_at: Timestamp,
    pub revision: u64,
    #[serde(with = "wire::agent_ids")]
    pub agents: Vec<AgentId>,
    /// The variable names the payload sets (not secret; kept for the rules).
    pub variables: Vec<String>,
    /// When the credential expires, if it says (a Codex token bundle):
    /// plain metadata, copied out of the credential when it is connected.
    #[serde(with = "wire::millis_option")]
    pub expires_at: Option<Timestamp>,
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

impl Stored for ConnectionBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::connection(bytes)
    }
}

/// An agent (FORMAT.md §6.5).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AgentBody {
    pub name: String,
    #[serde(with = "wire::millis")]
    pub created_at: Timestamp,
    #[serde(with = "serde_bytes")]
    pub token: Vec<u8>,
    pub token_revision: u64,
    pub attachments: Vec<Attachment>,
    pub deployment: Option<Deployment>,
}

impl Stored for AgentBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::agent(bytes)
    }
}

/// What an agent has attached, with the facts the rules need (names never
/// change, so keeping them here is safe and spares reading every target).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    #[serde(with = "wire::target")]
    pub target: Target,
    pub label: String,
    #[serde(with = "coded_option")]
    pub provider: Option<Provider>,
    pub variables: Vec<String>,
}

/// The last environment the host said it started the agent with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Deployment {
    #[serde(with = "wire::millis")]
    pub at: Timestamp,
    pub token_revision: u64,
    #[serde(with = "wire::deployed_entries")]
    pub entries: Vec<DeployedEntry>,
}

/// A user's key material (FORMAT.md §6.6): the current generation and each
/// generation's salt.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UserKeysBody {
    pub current: u32,
    pub salts: BTreeMap<u32, [u8; SALT_LEN]>,
}

impl UserKeysBody {
    pub(crate) fn of(keys: &UserKeys) -> Self {
        Self {
            current: keys.current_generation(),
            salts: keys
                .generations()
                .map(|(generation, salt)| (generation, *salt))
                .collect(),
        }
    }
}

impl Stored for UserKeysBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::user_keys(bytes)
    }
}

/// The user's key material in `record`; corrupt if its current generation
/// has no salt.
pub(crate) fn read_user_keys(record: &Record) -> Result<UserKeys, StoreError> {
    let body: UserKeysBody = decode(record)?;
    UserKeys::from_parts(body.current, body.salts).ok_or_else(|| corrupt(&record.key))
}

/// The write that stores `keys` at `key`, expecting `expect`.
pub(crate) fn write_user_keys(key: RecordKey, expect: Expect, keys: &UserKeys) -> Write {
    Write::Put {
        key,
        expect,
        body: encode(&UserKeysBody::of(keys)),
    }
}

/// A master key's check value (FORMAT.md §9), under the vault's reserved
/// user, one record per key id.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyCheckBody {
    pub check: [u8; KEY_CHECK_LEN],
}

impl Stored for KeyCheckBody {
    fn read_v1(bytes: &[u8]) -> Option<Self> {
        v1::key_check(bytes)
    }
}

/// Who owns an agent (FORMAT.md §6.13): the user id as text. Format 1 had
/// no such record.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AgentOwnerBody {
    pub user: String,
}

impl Stored for AgentOwnerBody {
    fn read_v1(_: &[u8]) -> Option<Self> {
        None
    }
}

/// The owner an index record names; a name that is not a user id is a
/// corrupt record.
pub(crate) fn read_agent_owner(record: &Record) -> Result<UserId, StoreError> {
    let body: AgentOwnerBody = decode(record)?;
    UserId::parse(&body.user).map_err(|_| corrupt(&record.key))
}

/// What the seal of a deployment receipt holds (FORMAT.md §6.8): the
/// receipt's fields but the user and agent, which the seal is bound to
/// instead. Never stored in a database.
#[derive(PartialEq, Eq)]
pub(crate) struct SealedReceipt {
    pub issued_at: Timestamp,
    pub token_revision: u64,
    pub entries: Vec<DeployedEntry>,
}

impl Serialize for SealedReceipt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SealedReceiptRef {
            issued_at: self.issued_at,
            token_revision: self.token_revision,
            entries: &self.entries,
        }
        .serialize(s)
    }
}

/// A [`SealedReceipt`] borrowing its entries: what is sealed when a receipt
/// is issued, written without copying the entries.
pub(crate) struct SealedReceiptRef<'a> {
    pub issued_at: Timestamp,
    pub token_revision: u64,
    pub entries: &'a [DeployedEntry],
}

impl Serialize for SealedReceiptRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The same layout as a deployment (§6.5).
        let mut out = s.serialize_struct("SealedReceipt", 3)?;
        out.serialize_field("issued_at", &self.issued_at.unix_millis())?;
        out.serialize_field("token_revision", &self.token_revision)?;
        out.serialize_field("entries", &wire::EntriesRef(self.entries))?;
        out.end()
    }
}

impl SealedReceiptRef<'_> {
    /// The bytes sealed into a receipt: the current format, as [`encode`]
    /// writes a [`SealedReceipt`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_any(self)
    }
}

impl<'de> Deserialize<'de> for SealedReceipt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let deployment = Deployment::deserialize(d)?;
        Ok(Self {
            issued_at: deployment.at,
            token_revision: deployment.token_revision,
            entries: deployment.entries,
        })
    }
}

impl Stored for SealedReceipt {
    fn read_v1(_: &[u8]) -> Option<Self> {
        // Receipts were first sealed in format 2.
        None
    }
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
    pub(crate) fn read(record: &Record) -> Result<Option<Self>, StoreError> {
        Ok(match record.key.kind {
            RecordKind::Agent => Some(Self::Agent(decode(record)?)),
            RecordKind::Connection => Some(Self::Connection(decode(record)?)),
            RecordKind::Item => Some(Self::Item(decode(record)?)),
            _ => None,
        })
    }

    /// The body of an item or connection record (what agents attach).
    pub(crate) fn read_target(record: &Record) -> Result<Self, StoreError> {
        match Self::read(record)? {
            Some(body @ (Self::Connection(_) | Self::Item(_))) => Ok(body),
            _ => Err(corrupt(&record.key)),
        }
    }

    /// The agents an item or connection is attached to.
    pub(crate) fn agents_mut(&mut self) -> Option<&mut Vec<AgentId>> {
        match self {
            Self::Agent(_) => None,
            Self::Connection(body) => Some(&mut body.agents),
            Self::Item(body) => Some(&mut body.agents),
        }
    }

    /// The revision of its value: an item's or connection's, an agent's
    /// gateway token's.
    pub(crate) fn revision(&self) -> u64 {
        match self {
            Self::Agent(body) => body.token_revision,
            Self::Connection(body) => body.revision,
            Self::Item(body) => body.revision,
        }
    }

    /// The sealed bytes it holds: a gateway token, a credential, a secret's
    /// value; `None` for a variable.
    pub(crate) fn sealed(&self) -> Option<&[u8]> {
        match self {
            Self::Agent(body) => Some(&body.token),
            Self::Connection(body) => Some(&body.sealed),
            Self::Item(body) => match &body.value {
                StoredValue::Sealed(bytes) => Some(bytes),
                StoredValue::Plain(_) => None,
            },
        }
    }

    /// Every sealed value it holds, an item's earlier values included.
    pub(crate) fn sealed_all(&self) -> Vec<&[u8]> {
        match self {
            Self::Item(body) if matches!(body.value, StoredValue::Sealed(_)) => {
                let past = body.history.iter().map(|p| p.value.as_slice());
                self.sealed().into_iter().chain(past).collect()
            }
            _ => self.sealed().into_iter().collect(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Self::Agent(body) => encode(body),
            Self::Connection(body) => encode(body),
            Self::Item(body) => encode(body),
        }
    }
}

/// The current-format body of any record, whatever format it was read in;
/// `None` for a body that does not decode. What rewrap writes to upgrade a
/// record whose value needs no resealing.
pub(crate) fn reencode(record: &Record) -> Result<Vec<u8>, StoreError> {
    Ok(match record.key.kind {
        RecordKind::Name => encode(&decode::<NameBody>(record)?),
        RecordKind::UserKeys => encode(&decode::<UserKeysBody>(record)?),
        RecordKind::KeyCheck => encode(&decode::<KeyCheckBody>(record)?),
        RecordKind::AgentOwner => encode(&decode::<AgentOwnerBody>(record)?),
        _ => match Body::read(record)? {
            Some(body) => body.encode(),
            None => return Err(corrupt(&record.key)),
        },
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
