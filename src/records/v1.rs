//! Format 1: the bodies agent-vault 0.1.0 wrote (`docs/FORMAT.md` §6.7),
//! frozen here so that they keep reading whatever the current types become.
//!
//! Format 1 is postcard over the 0.1.0 structs with serde's derived enum
//! encoding: a variant is its *position* in the 0.1.0 declaration. The enums
//! below copy those declarations, in that order, and must never change.
//! Bodies are only ever read in this format; every write uses the current one.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_bytes::ByteBuf;
use uuid::Uuid;

use super::{
    AgentBody, Attachment, ConnectionBody, Deployment, ItemBody, KeyCheckBody, NameBody,
    StoredValue, UserKeysBody,
};
use crate::{
    AgentId, ConnectionId, CredentialKind, DeployedEntry, ItemId, Kind, Name, Provider, Target,
    Timestamp,
};

/// A 0.1.0 UUID: `uuid`'s compact serde form, a byte string of 16.
#[derive(Deserialize)]
struct IdV1(ByteBuf);

impl IdV1 {
    fn uuid(&self) -> Option<Uuid> {
        Uuid::from_slice(&self.0).ok()
    }
}

fn agent_ids(ids: Vec<IdV1>) -> Option<Vec<AgentId>> {
    ids.iter().map(|id| id.uuid().map(AgentId::from)).collect()
}

/// 0.1.0's `Kind`, in its declaration order.
#[derive(Deserialize)]
enum KindV1 {
    Secret,
    Variable,
}

/// 0.1.0's `Provider`, in its declaration order.
#[derive(Deserialize)]
enum ProviderV1 {
    Anthropic,
    Custom,
    OpenAi,
    OpenRouter,
    Pinata,
    Venice,
}

impl From<ProviderV1> for Provider {
    fn from(provider: ProviderV1) -> Self {
        match provider {
            ProviderV1::Anthropic => Self::Anthropic,
            ProviderV1::Custom => Self::Custom,
            ProviderV1::OpenAi => Self::OpenAi,
            ProviderV1::OpenRouter => Self::OpenRouter,
            ProviderV1::Pinata => Self::Pinata,
            ProviderV1::Venice => Self::Venice,
        }
    }
}

/// 0.1.0's `CredentialKind`, in its declaration order.
#[derive(Deserialize)]
enum CredentialKindV1 {
    ApiKey,
    CodexSubscription,
    Custom,
    Hosted,
}

impl From<CredentialKindV1> for CredentialKind {
    fn from(kind: CredentialKindV1) -> Self {
        match kind {
            CredentialKindV1::ApiKey => Self::ApiKey,
            CredentialKindV1::CodexSubscription => Self::CodexSubscription,
            CredentialKindV1::Custom => Self::Custom,
            CredentialKindV1::Hosted => Self::Hosted,
        }
    }
}

#[derive(Deserialize)]
struct ConnectionIdV1 {
    provider: ProviderV1,
    kind: CredentialKindV1,
}

impl ConnectionIdV1 {
    fn id(self) -> Option<ConnectionId> {
        ConnectionId::new(self.provider.into(), self.kind.into()).ok()
    }
}

#[derive(Deserialize)]
enum TargetV1 {
    Item(IdV1),
    Connection(ConnectionIdV1),
}

impl TargetV1 {
    fn target(self) -> Option<Target> {
        Some(match self {
            Self::Item(id) => Target::Item(ItemId::from(id.uuid()?)),
            Self::Connection(id) => Target::Connection(id.id()?),
        })
    }
}

#[derive(Deserialize)]
enum ValueV1 {
    Sealed(ByteBuf),
    Plain(String),
}

#[derive(Deserialize)]
struct ItemV1 {
    name: String,
    kind: KindV1,
    created_at: i64,
    updated_at: i64,
    revision: u64,
    agents: Vec<IdV1>,
    value: ValueV1,
}

#[derive(Deserialize)]
struct NameV1 {
    item: IdV1,
}

#[derive(Deserialize)]
struct ConnectionV1 {
    id: ConnectionIdV1,
    connected_at: i64,
    updated_at: i64,
    revision: u64,
    agents: Vec<IdV1>,
    variables: Vec<String>,
    sealed: ByteBuf,
}

#[derive(Deserialize)]
struct AttachmentV1 {
    target: TargetV1,
    label: String,
    provider: Option<ProviderV1>,
    variables: Vec<String>,
}

#[derive(Deserialize)]
struct DeployedEntryV1 {
    target: TargetV1,
    label: String,
    revision: u64,
}

#[derive(Deserialize)]
struct DeploymentV1 {
    at: i64,
    token_revision: u64,
    entries: Vec<DeployedEntryV1>,
}

#[derive(Deserialize)]
struct AgentV1 {
    name: String,
    created_at: i64,
    token: ByteBuf,
    token_revision: u64,
    attachments: Vec<AttachmentV1>,
    deployment: Option<DeploymentV1>,
}

/// 0.1.0's user key record: salts in base64, keyed by the generation in
/// decimal.
#[derive(Deserialize)]
struct UserKeysV1 {
    current: u32,
    salts: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct KeyCheckV1 {
    check: ByteBuf,
}

/// The whole of `bytes` as a `T`; trailing bytes are refused.
fn read<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// A connection written by 0.1.0 has no instance id. It gets one derived
/// from its connection time: eight zero bytes, then the milliseconds
/// big-endian. Stable across reads, so a deployment made before the record
/// is next written still matches it; and never equal to a random (version 4)
/// UUID, whose byte 6 is never zero.
pub(super) fn legacy_instance(connected_at: Timestamp) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&connected_at.unix_millis().to_be_bytes());
    Uuid::from_bytes(bytes)
}

pub(super) fn item(bytes: &[u8]) -> Option<ItemBody> {
    let v1: ItemV1 = read(bytes)?;
    let (kind, value) = match (v1.kind, v1.value) {
        (KindV1::Secret, ValueV1::Sealed(sealed)) => {
            (Kind::Secret, StoredValue::Sealed(sealed.into_vec()))
        }
        (KindV1::Variable, ValueV1::Plain(text)) => (Kind::Variable, StoredValue::Plain(text)),
        // 0.1.0 never wrote a secret in plaintext or a sealed variable.
        _ => return None,
    };
    Some(ItemBody {
        name: Name::parse(&v1.name).ok()?,
        kind,
        created_at: Timestamp::from_unix_millis(v1.created_at),
        updated_at: Timestamp::from_unix_millis(v1.updated_at),
        revision: v1.revision,
        agents: agent_ids(v1.agents)?,
        value,
        history: Vec::new(),
    })
}

pub(super) fn name(bytes: &[u8]) -> Option<NameBody> {
    let v1: NameV1 = read(bytes)?;
    Some(NameBody {
        item: ItemId::from(v1.item.uuid()?),
    })
}

pub(super) fn connection(bytes: &[u8]) -> Option<ConnectionBody> {
    let v1: ConnectionV1 = read(bytes)?;
    let connected_at = Timestamp::from_unix_millis(v1.connected_at);
    Some(ConnectionBody {
        id: v1.id.id()?,
        instance: legacy_instance(connected_at),
        connected_at,
        updated_at: Timestamp::from_unix_millis(v1.updated_at),
        revision: v1.revision,
        agents: agent_ids(v1.agents)?,
        variables: v1.variables,
        expires_at: None,
        sealed: v1.sealed.into_vec(),
    })
}

pub(super) fn agent(bytes: &[u8]) -> Option<AgentBody> {
    let v1: AgentV1 = read(bytes)?;
    let attachments = v1
        .attachments
        .into_iter()
        .map(|a| {
            Some(Attachment {
                target: a.target.target()?,
                label: a.label,
                provider: a.provider.map(Provider::from),
                variables: a.variables,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let deployment = match v1.deployment {
        None => None,
        Some(d) => Some(Deployment {
            at: Timestamp::from_unix_millis(d.at),
            token_revision: d.token_revision,
            entries: d
                .entries
                .into_iter()
                .map(|e| {
                    Some(DeployedEntry {
                        target: e.target.target()?,
                        label: e.label,
                        revision: e.revision,
                        // 0.1.0 did not record which connection instance it
                        // delivered: such an entry never proves a connection
                        // synced (FORMAT.md §6.7).
                        instance: None,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        }),
    };
    Some(AgentBody {
        name: v1.name,
        created_at: Timestamp::from_unix_millis(v1.created_at),
        token: v1.token.into_vec(),
        token_revision: v1.token_revision,
        attachments,
        deployment,
    })
}

pub(super) fn user_keys(bytes: &[u8]) -> Option<UserKeysBody> {
    let v1: UserKeysV1 = read(bytes)?;
    let mut salts = BTreeMap::new();
    for (generation, salt) in v1.salts {
        let salt = STANDARD.decode(salt).ok()?.try_into().ok()?;
        salts.insert(generation.parse().ok()?, salt);
    }
    Some(UserKeysBody {
        current: v1.current,
        salts,
    })
}

pub(super) fn key_check(bytes: &[u8]) -> Option<KeyCheckBody> {
    let v1: KeyCheckV1 = read(bytes)?;
    Some(KeyCheckBody {
        check: v1.check.into_vec().try_into().ok()?,
    })
}
