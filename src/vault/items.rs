//! Secrets and variables.

use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent, AuditSubject};
use crate::records::{
    self, ItemBody, NameBody, PastValue, StoredValue, item_key, name_key, user_keys_key,
};
use crate::store::{Record, RecordKind, Store, Write};
use crate::{
    Entity, Error, Input, ItemId, ItemInfo, Kind, Name, Result, SecretValue, Timestamp, UserId,
};

use super::{Plan, UserCrypto, Vault, binding, transact};

/// One value of a secret or variable, as [`Vault::item_history`] lists it:
/// its version and since when, never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ValueVersion {
    /// The item's version while this value was (or is) current.
    pub version: u64,
    /// When it became current.
    pub since: Timestamp,
    /// Whether it is the current value.
    pub current: bool,
}

/// How a call names a secret or variable: by name or by the id the vault
/// gave it. Methods take `impl Into<ItemRef>`, so either is passed as is:
///
/// ```
/// # async fn demo(vault: &agent_vault::Vault<agent_vault::store::MemoryStore>,
/// #               user: &agent_vault::UserId) -> agent_vault::Result<()> {
/// use agent_vault::Name;
/// let name = Name::parse("GREETING")?;
/// let info = vault.item(user, &name).await?; // by name
/// let same = vault.item(user, info.id).await?; // by id
/// assert_eq!(info, same);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemRef<'a> {
    /// By name (names are unique per user, ignoring case).
    Name(&'a Name),
    /// By id.
    Id(ItemId),
}

impl<'a> From<&'a Name> for ItemRef<'a> {
    fn from(name: &'a Name) -> Self {
        Self::Name(name)
    }
}

impl From<ItemId> for ItemRef<'_> {
    fn from(id: ItemId) -> Self {
        Self::Id(id)
    }
}

impl std::fmt::Display for ItemRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => write!(f, "{name}"),
            Self::Id(id) => write!(f, "{id}"),
        }
    }
}

/// An item found by name: its index record, its record and its body.
pub(super) struct Found {
    pub name_record: Record,
    pub record: Record,
    pub body: ItemBody,
}

impl Found {
    pub(super) fn id(&self) -> Result<ItemId> {
        item_id(&self.record)
    }
}

pub(super) fn item_id(record: &Record) -> Result<ItemId> {
    ItemId::parse(&record.key.id).map_err(|_| records::corrupt(&record.key).into())
}

pub(super) fn info(id: ItemId, body: &ItemBody) -> ItemInfo {
    ItemInfo {
        id,
        name: body.name.clone(),
        kind: body.kind,
        value: match &body.value {
            StoredValue::Plain(text) => Some(text.clone()),
            StoredValue::Sealed(_) => None,
        },
        agents: body.agents.clone(),
        version: body.revision,
        created_at: body.created_at,
        updated_at: body.updated_at,
    }
}

/// Adds the two writes that create an item (its name index and itself).
pub(super) fn push_new_item(
    user: &UserId,
    id: ItemId,
    name: &Name,
    kind: Kind,
    value: StoredValue,
    writes: &mut Vec<Write>,
) -> ItemInfo {
    let now = Timestamp::now();
    let body = ItemBody {
        name: name.clone(),
        kind,
        created_at: now,
        updated_at: now,
        revision: 1,
        agents: Vec::new(),
        value,
        history: Vec::new(),
    };
    writes.push(records::create(
        name_key(user, name),
        &NameBody { item: id },
    ));
    writes.push(records::create(item_key(user, id), &body));
    info(id, &body)
}

fn not_found(name: &Name) -> Error {
    Error::NotFound {
        what: Entity::Item,
        name: name.to_string(),
    }
}

impl<S: Store> Vault<S> {
    /// Creates a secret or variable named `name`.
    ///
    /// Names are unique per user ignoring case, across secrets and variables
    /// ([`Error::AlreadyExists`], 409); reserved names are refused
    /// ([`Error::InvalidName`], 400); values over the limit are refused
    /// ([`Error::InvalidValue`], 400). Creating a secret needs a master key
    /// ([`Error::NotConfigured`], 503); a variable does not.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn create_item(
        &self,
        user: &UserId,
        name: &Name,
        kind: Kind,
        value: SecretValue,
    ) -> Result<ItemInfo> {
        user.check_acting()?;
        self.check_new_name(name)?;
        self.check_value_len(name.as_str(), value.len())?;
        if kind == Kind::Secret {
            self.require_keyring()?;
        }
        let id = ItemId::new_random();
        let result = transact!(self, async {
            let mut writes = Vec::with_capacity(3);
            let info = self
                .plan_create(user, id, name, kind, &value, &mut writes)
                .await?;
            let subject = AuditSubject::item(id, name);
            let event = AuditEvent::done(user, AuditAction::ItemCreated, vec![subject]);
            Ok(Plan::new(writes, info).audited(event))
        });
        // A refused create made nothing: the event names the name only.
        self.audit_refusal(result, || {
            AuditEvent::done(
                user,
                AuditAction::ItemCreated,
                vec![AuditSubject::name(name)],
            )
        })
        .await
    }

    /// Adds the writes that create item `id` to `writes`.
    async fn plan_create(
        &self,
        user: &UserId,
        id: ItemId,
        name: &Name,
        kind: Kind,
        value: &SecretValue,
        writes: &mut Vec<Write>,
    ) -> Result<ItemInfo> {
        // The name index entry and, for a secret, the user's key record in
        // one read.
        let mut keys = vec![name_key(user, name)];
        if kind == Kind::Secret {
            keys.push(user_keys_key(user));
        }
        let mut found = self.store.get_many(&keys).await?.into_iter();
        if found.next().flatten().is_some() {
            return Err(Error::AlreadyExists {
                what: Entity::Item,
                name: name.to_string(),
            });
        }
        let stored = match kind {
            Kind::Variable => StoredValue::Plain(value.expose_secret().to_owned()),
            Kind::Secret => {
                let crypto = self.checked_crypto().await?;
                let keys = Self::keys_from(crypto, user, found.next().flatten())?;
                let keys = keys.push_create(writes);
                StoredValue::Sealed(self.seal_item(&keys, user, id, name, value.expose_secret())?)
            }
        };
        Ok(push_new_item(user, id, name, kind, stored, writes))
    }

    /// Replaces the value of an item, by name or id; its version goes up by
    /// one and agents running with the old value become stale.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn update_item<'a>(
        &self,
        user: &UserId,
        item: impl Into<ItemRef<'a>>,
        value: SecretValue,
    ) -> Result<ItemInfo> {
        let item = item.into();
        user.check_acting()?;
        self.check_value_len(&item.to_string(), value.len())?;
        transact!(self, async {
            let found = self.find(user, item).await?;
            let mut writes = Vec::with_capacity(2);
            let answer = self.plan_update(user, found, &value, &mut writes).await?;
            let subject = AuditSubject::item(answer.id, &answer.name);
            let event = AuditEvent::done(user, AuditAction::ItemUpdated, vec![subject]);
            Ok(Plan::new(writes, answer).audited(event))
        })
    }

    /// Adds the writes that give `found` a new value.
    async fn plan_update(
        &self,
        user: &UserId,
        found: Found,
        value: &SecretValue,
        writes: &mut Vec<Write>,
    ) -> Result<ItemInfo> {
        let id = found.id()?;
        let mut body = found.body;
        let keys = match body.kind {
            Kind::Secret => Some(self.keys_for(user).await?.push_create(writes)),
            Kind::Variable => None,
        };
        let plain = value.expose_secret();
        let next = match &keys {
            Some(keys) => StoredValue::Sealed(self.seal_item(keys, user, id, &body.name, plain)?),
            None => StoredValue::Plain(plain.to_owned()),
        };
        self.replace_value(keys.as_ref(), user, id, &mut body, next, true)?;
        writes.push(records::replace(&found.record, &body));
        Ok(info(id, &body))
    }

    /// Makes `next` the value of item `id`: the current one moves into the
    /// history (resealed for its revision, for a secret), the oldest beyond
    /// the configured length are dropped, and the revision goes up by one.
    ///
    /// A current secret that does not open (damaged, or under a key no
    /// longer in the ring) is replaced all the same, and not kept: nothing
    /// could ever restore it, and refusing would leave overwriting it, the
    /// repair, impossible. So the outcome of a replace never depends on the
    /// stored value. With `keep` false (a dry run) nothing is opened.
    pub(super) fn replace_value(
        &self,
        keys: Option<&UserCrypto>,
        user: &UserId,
        id: ItemId,
        body: &mut ItemBody,
        next: StoredValue,
        keep: bool,
    ) -> Result<()> {
        let next_kind = next.kind();
        let current = std::mem::replace(&mut body.value, next);
        let kept = match (current, keys) {
            // A variable becoming a secret keeps no plaintext beside it: its
            // history starts afresh.
            _ if next_kind != body.kind => {
                body.history.clear();
                body.kind = next_kind;
                None
            }
            _ if !keep || self.config.history_len == 0 => None,
            (StoredValue::Plain(text), _) => Some(text.into_bytes()),
            (StoredValue::Sealed(sealed), Some(keys)) => {
                let record = id.to_string();
                let name = body.name.as_str();
                match keys.open(&binding::item(user, &record, name), &sealed) {
                    Ok(plain) => {
                        let past = binding::past_item_record(&record, body.revision);
                        Some(keys.seal(&binding::past_item(user, &past, name), &plain)?)
                    }
                    Err(_) => None,
                }
            }
            // A secret is only ever replaced with its keys at hand.
            (StoredValue::Sealed(_), None) => return Err(Error::NotConfigured),
        };
        if let Some(value) = kept {
            body.history.insert(
                0,
                PastValue {
                    revision: body.revision,
                    since: body.updated_at,
                    value,
                },
            );
        }
        body.history.truncate(self.config.history_len);
        // A store with a body size limit (a key-value database) keeps as
        // many earlier values as fit, oldest dropped first, rather than
        // refusing every later change of a large value.
        let max_body_len = self.store.limits().max_body_len;
        if max_body_len < usize::MAX {
            while !body.history.is_empty() && records::encode(&*body).len() > max_body_len {
                body.history.pop();
            }
        }
        body.revision += 1;
        body.updated_at = Timestamp::now();
        Ok(())
    }

    /// The versions of an item's value the vault keeps, newest (the
    /// current one) first, with when each became current. Never a value.
    pub async fn item_history<'a>(
        &self,
        user: &UserId,
        item: impl Into<ItemRef<'a>>,
    ) -> Result<Vec<ValueVersion>> {
        user.check_acting()?;
        let found = self.find(user, item.into()).await?;
        let body = &found.body;
        let current = ValueVersion {
            version: body.revision,
            since: body.updated_at,
            current: true,
        };
        let past = body.history.iter().map(|p| ValueVersion {
            version: p.revision,
            since: p.since,
            current: false,
        });
        Ok(std::iter::once(current).chain(past).collect())
    }

    /// Makes the value an item had at `version` current again, as a new
    /// version (the one it replaces joins the history). Agents running with
    /// the replaced value become stale, as after [`Vault::update_item`].
    /// One commit. A version the history no longer holds is
    /// [`Error::NotFound`] (404); the current version is
    /// [`Error::InvalidInput`].
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn rollback_item<'a>(
        &self,
        user: &UserId,
        item: impl Into<ItemRef<'a>>,
        version: u64,
    ) -> Result<ItemInfo> {
        let item = item.into();
        user.check_acting()?;
        transact!(self, async {
            let found = self.find(user, item).await?;
            let name = found.body.name.clone();
            let id = found.id()?;
            let mut body = found.body;
            if version == body.revision {
                return Err(Error::InvalidInput {
                    field: Input::Version,
                    reason: format!("{version} is the current version of {name}"),
                });
            }
            // Only what the configuration keeps (it may have been lowered
            // since older values were stored).
            let kept = body.history.iter().take(self.config.history_len);
            let Some(past) = kept.into_iter().find(|p| p.revision == version) else {
                return Err(Error::NotFound {
                    what: Entity::Version,
                    name: format!("{name} version {version}"),
                });
            };
            let mut writes = Vec::with_capacity(2);
            let (keys, next) = match body.kind {
                Kind::Variable => {
                    let text = String::from_utf8(past.value.clone())
                        .map_err(|_| records::corrupt(&found.record.key))?;
                    (None, StoredValue::Plain(text))
                }
                Kind::Secret => {
                    let keys = self.keys_for(user).await?.push_create(&mut writes);
                    let record = id.to_string();
                    let past_record = binding::past_item_record(&record, version);
                    let stored_name = body.name.as_str();
                    let binding = binding::past_item(user, &past_record, stored_name);
                    let plain = keys.open(&binding, &past.value)?;
                    let sealed = keys.seal(&binding::item(user, &record, stored_name), &plain)?;
                    (Some(keys), StoredValue::Sealed(sealed))
                }
            };
            self.replace_value(keys.as_ref(), user, id, &mut body, next, true)?;
            writes.push(records::replace(&found.record, &body));
            let subject = AuditSubject::item(id, &body.name);
            let event = AuditEvent::done(user, AuditAction::ItemRolledBack, vec![subject])
                .detail("version", version)
                .detail("new_version", body.revision);
            Ok(Plan::new(writes, info(id, &body)).audited(event))
        })
    }

    /// Deletes an item, by name or id. Refused while it is attached to an
    /// agent ([`Error::Attached`], 409, naming the agents): detach it first.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn delete_item<'a>(&self, user: &UserId, item: impl Into<ItemRef<'a>>) -> Result<()> {
        let item = item.into();
        user.check_acting()?;
        let result = transact!(self, async {
            let found = self.find(user, item).await?;
            let subject = AuditSubject::item(found.id()?, &found.body.name);
            let what = Entity::from(found.body.kind);
            crate::rules::check_deletable(what, found.body.name.as_str(), &found.body.agents)?;
            let writes = vec![
                Write::Delete {
                    key: found.record.key,
                    expect: found.record.version,
                },
                Write::Delete {
                    key: found.name_record.key,
                    expect: found.name_record.version,
                },
            ];
            let event = AuditEvent::done(user, AuditAction::ItemDeleted, vec![subject]);
            Ok(Plan::new(writes, ()).audited(event))
        });
        self.audit_refusal(result, || {
            let subject = AuditSubject::Name {
                name: item.to_string(),
            };
            AuditEvent::done(user, AuditAction::ItemDeleted, vec![subject])
        })
        .await
    }

    /// The metadata of an item, by name or id (and the value, for a
    /// variable); another user's id is [`Error::NotFound`].
    pub async fn item<'a>(&self, user: &UserId, item: impl Into<ItemRef<'a>>) -> Result<ItemInfo> {
        user.check_acting()?;
        let found = self.find(user, item.into()).await?;
        Ok(info(found.id()?, &found.body))
    }

    /// Every secret and variable of `user`, sorted by name.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn items(&self, user: &UserId) -> Result<Vec<ItemInfo>> {
        user.check_acting()?;
        let records = self.store.list(user, RecordKind::Item).await?;
        let mut items = records
            .iter()
            .map(|record| {
                let body: ItemBody = records::decode(record)?;
                Ok(info(item_id(record)?, &body))
            })
            .collect::<Result<Vec<_>>>()?;
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(items)
    }

    async fn find(&self, user: &UserId, item: ItemRef<'_>) -> Result<Found> {
        match item {
            ItemRef::Name(name) => self.find_item(user, name).await,
            ItemRef::Id(id) => self.find_item_by_id(user, id).await,
        }
    }

    /// The item with id `id`, with its name index entry (read after it: a
    /// rename can't happen, names are fixed).
    async fn find_item_by_id(&self, user: &UserId, id: ItemId) -> Result<Found> {
        let not_found = || Error::NotFound {
            what: Entity::Item,
            name: id.to_string(),
        };
        let record = self
            .store
            .get(&item_key(user, id))
            .await?
            .ok_or_else(not_found)?;
        let body: ItemBody = records::decode(&record)?;
        let name_record = self
            .store
            .get(&name_key(user, &body.name))
            .await?
            // Deleted between the two reads (the two go together).
            .ok_or_else(not_found)?;
        let index: NameBody = records::decode(&name_record)?;
        if index.item != id {
            return Err(not_found());
        }
        Ok(Found {
            name_record,
            record,
            body,
        })
    }

    pub(super) async fn find_item(&self, user: &UserId, name: &Name) -> Result<Found> {
        let Some(name_record) = self.store.get(&name_key(user, name)).await? else {
            return Err(not_found(name));
        };
        let index: NameBody = records::decode(&name_record)?;
        // The index and the item are written together; an item missing here
        // was deleted between the two reads, which is "not found" as well.
        let Some(record) = self.store.get(&item_key(user, index.item)).await? else {
            return Err(not_found(name));
        };
        let body = records::decode(&record)?;
        Ok(Found {
            name_record,
            record,
            body,
        })
    }

    pub(super) fn check_new_name(&self, name: &Name) -> Result<()> {
        self.config
            .names
            .check(name)
            .map_err(|reason| Error::invalid_name(name.as_str(), reason))
    }

    pub(super) fn seal_item(
        &self,
        keys: &UserCrypto,
        user: &UserId,
        id: ItemId,
        name: &Name,
        plaintext: &str,
    ) -> Result<Vec<u8>> {
        let record = id.to_string();
        let binding = binding::item(user, &record, name.as_str());
        keys.seal(&binding, plaintext.as_bytes())
    }
}

/// The 0.1.0 names, deprecated in 0.2.0 and removed in 0.3.0: items now follow the
/// scheme agents and connections use (`create_item`, `item`, `items`,
/// `update_item`, `delete_item`), and every item method takes a name or an
/// id ([`ItemRef`]).
impl<S: Store> Vault<S> {
    /// Creates a secret or variable.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::create_item`")]
    pub async fn create(
        &self,
        user: &UserId,
        name: &Name,
        kind: Kind,
        value: SecretValue,
    ) -> Result<ItemInfo> {
        self.create_item(user, name, kind, value).await
    }

    /// The metadata of `name`.
    #[deprecated(
        since = "0.2.0",
        note = "renamed to `Vault::item`, which takes a name or an id"
    )]
    pub async fn get(&self, user: &UserId, name: &Name) -> Result<ItemInfo> {
        self.item(user, name).await
    }

    /// Every secret and variable of `user`.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::items`")]
    pub async fn list(&self, user: &UserId) -> Result<Vec<ItemInfo>> {
        self.items(user).await
    }

    /// Replaces the value of `name`.
    #[deprecated(
        since = "0.2.0",
        note = "use `Vault::update_item`, which takes a name or an id"
    )]
    pub async fn update(&self, user: &UserId, name: &Name, value: SecretValue) -> Result<ItemInfo> {
        self.update_item(user, name, value).await
    }

    /// Deletes `name`.
    #[deprecated(
        since = "0.2.0",
        note = "use `Vault::delete_item`, which takes a name or an id"
    )]
    pub async fn delete(&self, user: &UserId, name: &Name) -> Result<()> {
        self.delete_item(user, name).await
    }

    /// The versions of `name`'s value the vault keeps.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::item_history`")]
    pub async fn history(&self, user: &UserId, name: &Name) -> Result<Vec<ValueVersion>> {
        self.item_history(user, name).await
    }

    /// Makes the value `name` had at `version` current again.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::rollback_item`")]
    pub async fn rollback(&self, user: &UserId, name: &Name, version: u64) -> Result<ItemInfo> {
        self.rollback_item(user, name, version).await
    }
}
