//! Borrowed views of stored bodies: what a read path needs, decoded without
//! copying out of the body.
//!
//! The owned bodies of [`super`] copy every string and byte string into an
//! allocation of its own and decode lists nobody on a read path looks at (an
//! item's attached agents and history, an agent's last deployment). A view
//! instead borrows names and sealed bytes from the body (postcard's borrowed
//! deserialisation) and walks past the lists it does not keep, checking them
//! as strictly as the owned decode does, so a body a view accepts is one the
//! owned decode accepts too. Decoding a view allocates only what the caller
//! keeps (an agent's attachment list).
//!
//! The bytes read are the current format's ([`super::FORMAT`]); a format-1
//! body is read through the owned decode and its view owns its parts
//! ([`Cow::Owned`]), so views read every body the owned decode reads.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::codes::{coded, coded_option};
use super::{AgentBody, ConnectionBody, FORMAT, FORMAT_V1, ItemBody, StoredValue, wire};
use crate::store::{Record, StoreError};
use crate::{Kind, Name, Provider, Target};

/// A secret or variable (FORMAT.md §6.3), borrowing its name and value.
pub(crate) struct ItemView<'a> {
    /// The stored name, already checked to be a valid [`Name`].
    pub name: Cow<'a, str>,
    pub kind: Kind,
    pub revision: u64,
    /// Sealed for a secret, UTF-8 (checked) for a variable.
    pub value: Cow<'a, [u8]>,
}

/// A provider connection (FORMAT.md §6.4), borrowing its sealed credential.
pub(crate) struct ConnectionView<'a> {
    pub instance: Uuid,
    pub revision: u64,
    pub sealed: Cow<'a, [u8]>,
}

/// An agent (FORMAT.md §6.5), borrowing its sealed token and labels.
pub(crate) struct AgentView<'a> {
    pub token: Cow<'a, [u8]>,
    pub token_revision: u64,
    pub attachments: Vec<AttachmentView<'a>>,
}

/// What an agent has attached: the target and its label.
pub(crate) struct AttachmentView<'a> {
    pub target: Target,
    pub label: Cow<'a, str>,
}

/// An item or connection, what an agent attaches.
pub(crate) enum TargetView<'a> {
    Item(ItemView<'a>),
    Connection(ConnectionView<'a>),
}

impl<'a> TargetView<'a> {
    /// The view of an item or connection record; corrupt for any other
    /// kind or a body that does not decode.
    pub(crate) fn read(record: &'a Record) -> Result<Self, StoreError> {
        use crate::store::RecordKind;
        let view = match record.key.kind {
            RecordKind::Item => ItemView::read_bytes(&record.body).map(Self::Item),
            RecordKind::Connection => {
                ConnectionView::read_bytes(&record.body).map(Self::Connection)
            }
            _ => None,
        };
        view.ok_or_else(|| super::corrupt(&record.key))
    }
}

impl<'a> ItemView<'a> {
    /// The view of a body of any readable format; `None` where the owned
    /// decode refuses it.
    pub(crate) fn read_bytes(body: &'a [u8]) -> Option<Self> {
        match body.split_first()? {
            (&FORMAT, rest) => {
                let wire: ItemWire<'a> = whole(rest)?;
                Name::parse(wire.name).ok()?;
                if wire.kind == Kind::Variable {
                    std::str::from_utf8(wire.value).ok()?;
                }
                Some(Self {
                    name: Cow::Borrowed(wire.name),
                    kind: wire.kind,
                    revision: wire.revision,
                    value: Cow::Borrowed(wire.value),
                })
            }
            (&FORMAT_V1, _) => {
                let owned: ItemBody = super::decode_bytes(body)?;
                Some(Self {
                    name: Cow::Owned(owned.name.as_str().to_owned()),
                    kind: owned.kind,
                    revision: owned.revision,
                    value: Cow::Owned(match owned.value {
                        StoredValue::Sealed(bytes) => bytes,
                        StoredValue::Plain(text) => text.into_bytes(),
                    }),
                })
            }
            _ => None,
        }
    }
}

impl<'a> ConnectionView<'a> {
    /// The view of a body of any readable format; `None` where the owned
    /// decode refuses it.
    pub(crate) fn read_bytes(body: &'a [u8]) -> Option<Self> {
        match body.split_first()? {
            (&FORMAT, rest) => {
                let wire: ConnectionWire<'a> = whole(rest)?;
                Some(Self {
                    instance: wire.instance,
                    revision: wire.revision,
                    sealed: Cow::Borrowed(wire.sealed),
                })
            }
            (&FORMAT_V1, _) => {
                let owned: ConnectionBody = super::decode_bytes(body)?;
                Some(Self {
                    instance: owned.instance,
                    revision: owned.revision,
                    sealed: Cow::Owned(owned.sealed),
                })
            }
            _ => None,
        }
    }
}

impl<'a> AgentView<'a> {
    /// The view of an agent record; corrupt if its body does not decode.
    pub(crate) fn read(record: &'a Record) -> Result<Self, StoreError> {
        Self::read_bytes(&record.body).ok_or_else(|| super::corrupt(&record.key))
    }

    /// The view of a body of any readable format; `None` where the owned
    /// decode refuses it.
    pub(crate) fn read_bytes(body: &'a [u8]) -> Option<Self> {
        match body.split_first()? {
            (&FORMAT, rest) => {
                let wire: AgentWire<'a> = whole(rest)?;
                Some(Self {
                    token: Cow::Borrowed(wire.token),
                    token_revision: wire.token_revision,
                    attachments: wire.attachments,
                })
            }
            (&FORMAT_V1, _) => {
                let owned: AgentBody = super::decode_bytes(body)?;
                Some(Self {
                    token: Cow::Owned(owned.token),
                    token_revision: owned.token_revision,
                    attachments: owned
                        .attachments
                        .into_iter()
                        .map(|a| AttachmentView {
                            target: a.target,
                            label: Cow::Owned(a.label),
                        })
                        .collect(),
                })
            }
            _ => None,
        }
    }
}

/// The whole of `bytes` as a `T`; trailing bytes are refused, as by the
/// owned decode.
fn whole<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The stored layouts, field for field as the owned bodies write them.

#[derive(Deserialize)]
struct ItemWire<'a> {
    name: &'a str,
    #[serde(with = "coded")]
    kind: Kind,
    _created_at: i64,
    _updated_at: i64,
    revision: u64,
    #[serde(deserialize_with = "skip_ids")]
    _agents: (),
    #[serde(borrow)]
    value: &'a [u8],
    #[serde(deserialize_with = "skip_history")]
    _history: (),
}

#[derive(Deserialize)]
struct PastValueWire<'a> {
    _revision: u64,
    _since: i64,
    #[serde(borrow)]
    _value: &'a [u8],
}

#[derive(Deserialize)]
struct ConnectionWire<'a> {
    #[serde(with = "wire::connection")]
    _id: crate::ConnectionId,
    #[serde(with = "wire::uuid_bytes")]
    instance: Uuid,
    _connected_at: i64,
    _updated_at: i64,
    revision: u64,
    #[serde(deserialize_with = "skip_ids")]
    _agents: (),
    #[serde(deserialize_with = "skip_strs")]
    _variables: (),
    _expires_at: Option<i64>,
    #[serde(borrow)]
    sealed: &'a [u8],
}

#[derive(Deserialize)]
struct AgentWire<'a> {
    _name: &'a str,
    _created_at: i64,
    #[serde(borrow)]
    token: &'a [u8],
    token_revision: u64,
    #[serde(borrow)]
    attachments: Vec<AttachmentView<'a>>,
    _deployment: Option<DeploymentWire>,
}

impl<'de: 'a, 'a> Deserialize<'de> for AttachmentView<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct AttachmentWire<'a> {
            #[serde(with = "wire::target")]
            target: Target,
            label: &'a str,
            #[serde(with = "coded_option")]
            _provider: Option<Provider>,
            #[serde(deserialize_with = "skip_strs")]
            _variables: (),
        }
        let wire = AttachmentWire::deserialize(d)?;
        Ok(Self {
            target: wire.target,
            label: Cow::Borrowed(wire.label),
        })
    }
}

#[derive(Deserialize)]
struct DeploymentWire {
    _at: i64,
    _token_revision: u64,
    #[serde(deserialize_with = "skip_entries")]
    _entries: (),
}

#[derive(Deserialize)]
struct EntryWire<'a> {
    #[serde(with = "wire::target")]
    _target: Target,
    _label: &'a str,
    _revision: u64,
    #[serde(with = "wire::uuid_option")]
    _instance: Option<Uuid>,
}

fn skip_ids<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    skip_seq::<D, [u8; 16]>(d)
}

fn skip_strs<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    skip_seq::<D, &'de str>(d)
}

fn skip_history<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    skip_seq::<D, PastValueWire<'de>>(d)
}

fn skip_entries<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    skip_seq::<D, EntryWire<'de>>(d)
}

/// Walks a stored list of `T`, decoding each element (so a malformed one is
/// refused) and keeping none: no allocation for a list the view skips.
fn skip_seq<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<(), D::Error> {
    struct Skip<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Skip<T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<T>()?.is_some() {}
            Ok(())
        }
    }

    d.deserialize_seq(Skip::<T>(PhantomData))
}
