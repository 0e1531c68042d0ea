//! [`Vault`]: the façade. Read → apply the rules → commit → on a version
//! conflict re-read and retry (bounded, then [`Error::Contention`]).

mod agents;
mod binding;
mod import;
mod items;
mod providers;
mod requirements;
mod retry;
mod rotation;

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::audit::{AuditEvent, AuditOutcome, AuditSink};
use crate::crypto::{Backend, Binding, Crypto, KeyId, Keyring, UserKeys};
use crate::records::{self, KeyCheckBody, key_check_key, user_keys_key};
use crate::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use crate::{Error, Name, NamePolicy, Result, UserId};
use retry::{Attempt, retrying, transact};

pub use agents::{AgentInfo, Attachable};
pub use import::{
    ImportAction, ImportEntry, ImportEntryError, ImportOptions, ImportReport, OnConflict,
    UnknownOnConflict,
};
pub use items::{ItemRef, ValueVersion};
pub use providers::ConnectionInfo;
pub use requirements::{Provision, RequirementState, RequirementStatus, RequirementsReport};
pub use rotation::{RewrapOptions, RewrapProgress, RewrapReport};

/// The gateway-token variable every agent's environment carries by default:
/// the agent engine's own.
pub const DEFAULT_GATEWAY_TOKEN_VAR: &str = "OPENCLAW_GATEWAY_TOKEN";

/// Tunables of a [`Vault`]. Start from [`VaultConfig::default`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VaultConfig {
    /// The largest value accepted, in bytes (default 64 KiB): an item's
    /// value, and each variable a provider connection sets.
    pub max_value_len: usize,
    /// Which names are reserved.
    pub names: NamePolicy,
    /// The variable the gateway token is injected as.
    pub gateway_token_var: Name,
    /// How many times a call is tried when concurrent writers collide
    /// (default 64).
    pub max_attempts: u32,
    /// How many derived per-user ciphers are cached (default 10,000).
    pub cipher_cache_capacity: usize,
    /// The AES-256-GCM implementation (default [`Backend::RustCrypto`],
    /// whatever features are on). Every backend reads and writes the same
    /// bytes.
    pub backend: Backend,
    /// How many earlier values each secret and variable keeps for
    /// [`Vault::item_history`] and [`Vault::rollback_item`], besides the current one
    /// (default [`DEFAULT_HISTORY_LEN`]; 0 keeps none).
    pub history_len: usize,
    /// Whether every change writes its [`AuditEvent`] into the store, in
    /// the change's own commit (default off; [`Vault::audit_log`] reads it).
    pub audit_log: bool,
    /// Where else events go (default none).
    pub audit_sink: Option<Arc<dyn AuditSink>>,
}

/// How many earlier values an item keeps by default.
pub const DEFAULT_HISTORY_LEN: usize = 10;

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            max_value_len: crate::model::DEFAULT_MAX_VALUE_LEN,
            names: NamePolicy::default(),
            gateway_token_var: Name::parse(DEFAULT_GATEWAY_TOKEN_VAR)
                .unwrap_or_else(|_| unreachable!("the default token variable is a valid name")),
            max_attempts: 64,
            cipher_cache_capacity: crate::crypto::DEFAULT_CACHE_CAPACITY,
            backend: Backend::default(),
            history_len: DEFAULT_HISTORY_LEN,
            audit_log: false,
            audit_sink: None,
        }
    }
}

impl VaultConfig {
    /// Sets the value size limit.
    pub fn with_max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes;
        self
    }

    /// Sets the name policy.
    pub fn with_names(mut self, names: NamePolicy) -> Self {
        self.names = names;
        self
    }

    /// Sets the gateway-token variable; it is reserved as a name too.
    pub fn with_gateway_token_var(mut self, name: Name) -> Self {
        self.names = self.names.reserve(name.as_str());
        self.gateway_token_var = name;
        self
    }

    /// Sets how many earlier values each item keeps (0 keeps none).
    pub fn with_history_len(mut self, values: usize) -> Self {
        self.history_len = values;
        self
    }

    /// Turns the store-backed audit log on or off: with it, each change
    /// commits its [`AuditEvent`] with itself (fail closed: no change without
    /// its event).
    pub fn with_audit_log(mut self, on: bool) -> Self {
        self.audit_log = on;
        self
    }

    /// Sends every [`AuditEvent`] to `sink` too, once it is committed.
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit_sink = Some(sink);
        self
    }

    /// Sets the retry bound.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the AES-256-GCM implementation, for example `Backend::Ring`
    /// (feature `ring`) for speed: see [`Backend`] for what each wipes.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// A crypto snapshot of `keyring` as this configuration asks.
    fn crypto_for(&self, keyring: Keyring) -> Crypto {
        Crypto::with_backend(keyring, self.cipher_cache_capacity, self.backend)
    }
}

/// A vault over a [`Store`].
///
/// Every method takes the user the call acts for; users never see each
/// other's records. Methods are `async` because stores are; the vault itself
/// holds no lock across an `.await` and may be shared (`Arc<Vault<_>>`)
/// between tasks and threads.
pub struct Vault<S> {
    store: S,
    /// Swapped whole by [`Vault::set_keyring`]; each call clones the `Arc`
    /// once, so a call sees one keyring from start to end.
    crypto: RwLock<Arc<Crypto>>,
    config: VaultConfig,
}

/// A batch to commit, the answer to give once it is committed, and the
/// audit event that describes it.
pub(crate) struct Plan<T> {
    writes: Vec<Write>,
    answer: T,
    event: Option<AuditEvent>,
}

impl<T> Plan<T> {
    fn new(writes: Vec<Write>, answer: T) -> Self {
        Self {
            writes,
            answer,
            event: None,
        }
    }

    /// With the event the change is audited as (dropped if nothing is
    /// written: no change, no event).
    fn audited(mut self, event: AuditEvent) -> Self {
        self.event = Some(event);
        self
    }
}

/// A user's key material and, when the user had none yet, the write that
/// creates it (committed with the first sealed record, so a failed call
/// leaves nothing behind).
struct KeysFor {
    sealer: UserCrypto,
    create: Option<Write>,
}

impl KeysFor {
    fn push_create(self, writes: &mut Vec<Write>) -> UserCrypto {
        if let Some(write) = self.create {
            writes.push(write);
        }
        self.sealer
    }
}

/// One user's key material with the crypto snapshot (a keyring already
/// checked against the vault's key check values) that seals and opens for
/// the whole call: one call never mixes two keyrings.
pub(crate) struct UserCrypto {
    keys: UserKeys,
    crypto: Arc<Crypto>,
}

impl UserCrypto {
    pub(crate) fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        Ok(self.crypto.seal(&self.keys, binding, plaintext)?)
    }

    pub(crate) fn open(
        &self,
        binding: &Binding<'_>,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        Ok(self.crypto.open(&self.keys, binding, sealed)?)
    }
}

impl<S: Store> Vault<S> {
    /// A vault over `store` with `keyring` and the default configuration.
    pub fn new(store: S, keyring: Keyring) -> Self {
        Self::with_config(store, keyring, VaultConfig::default())
    }

    /// A vault with a configuration.
    pub fn with_config(store: S, keyring: Keyring, config: VaultConfig) -> Self {
        let crypto = config.crypto_for(keyring);
        Self {
            store,
            crypto: RwLock::new(Arc::new(crypto)),
            config,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The master keyring in use. It holds the master keys themselves
    /// (which, with the store, open every secret): for key management, not
    /// for code that only needs a key's id ([`Keyring::primary_id`],
    /// [`Keyring::ids`]).
    pub fn keyring(&self) -> Keyring {
        self.crypto().keyring().clone()
    }

    /// Replaces the master keyring, for example after adding or promoting a
    /// key (see [`Vault::rewrap`] for the whole rotation procedure). Calls
    /// already running finish with the keyring they started with; derived
    /// ciphers are derived again on first use, and the old ones are wiped
    /// when the last call using them ends.
    pub fn set_keyring(&self, keyring: Keyring) {
        let crypto = self.config.crypto_for(keyring);
        *self.crypto.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(crypto);
    }

    /// Installs `keyring` if the keyring in use is still the one of
    /// `expected` (a compare-and-swap); `false`, changing nothing, if it was
    /// replaced meanwhile.
    fn replace_keyring_if(&self, expected: &Arc<Crypto>, keyring: Keyring) -> bool {
        let mut current = self.crypto.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&current, expected) {
            return false;
        }
        *current = Arc::new(self.config.crypto_for(keyring));
        true
    }

    pub(crate) fn crypto(&self) -> Arc<Crypto> {
        // The lock only guards an `Arc` swap, which cannot panic halfway.
        Arc::clone(&self.crypto.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Commits a plan: `Some(answer)` when it applied, `None` when a
    /// concurrent writer got there first and the caller should re-read.
    /// Commits a plan, with its audit event as one more write when the
    /// store-backed log is on; `None` on a version conflict (retry).
    async fn commit_plan<T>(&self, plan: Plan<T>) -> Result<Option<(T, Option<AuditEvent>)>> {
        let Plan {
            mut writes,
            answer,
            event,
        } = plan;
        if writes.is_empty() {
            return Ok(Some((answer, None)));
        }
        if let (true, Some(event)) = (self.config.audit_log, &event) {
            writes.push(audit_write(event));
        }
        self.check_fits(&writes)?;
        match self.store.commit(writes).await {
            Ok(()) => Ok(Some((answer, event))),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Hands a committed event to the configured sink.
    fn emit(&self, event: Option<&AuditEvent>) {
        if let (Some(sink), Some(event)) = (&self.config.audit_sink, event) {
            sink.record(event);
        }
    }

    /// Records an event that goes with no change of its own (a refusal, a
    /// rejected token, a keyring change): in its own commit when the
    /// store-backed log is on, and to the sink.
    async fn record_event(&self, event: AuditEvent) -> Result<()> {
        if self.config.audit_log {
            self.store.commit(vec![audit_write(&event)]).await?;
        }
        self.emit(Some(&event));
        Ok(())
    }

    /// Passes `result` through; a conflict (409) is recorded first as a
    /// refused `event()`. A refusal that can't be recorded is still
    /// answered as the refusal.
    async fn audit_refusal<T>(
        &self,
        result: Result<T>,
        event: impl FnOnce() -> AuditEvent,
    ) -> Result<T> {
        if let Err(error) = &result {
            let status = error.http_status();
            if status == 409 && (self.config.audit_log || self.config.audit_sink.is_some()) {
                let mut event = event();
                event.outcome = AuditOutcome::Refused {
                    status,
                    reason: error.to_string(),
                };
                // The answer stays the refusal; a log fault is the store's to
                // report on the next call.
                let _ = self.record_event(event).await;
            }
        }
        result
    }

    /// The store-backed audit log of `user` ([`VaultConfig::audit_log`]):
    /// events at or after `since`, oldest first, at most `limit`.
    pub async fn audit_log(
        &self,
        user: &UserId,
        since: crate::Timestamp,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        user.check_acting()?;
        self.read_audit_log(user, since, limit).await
    }

    /// The vault-wide events (master keys, rewrap) of the store-backed log,
    /// as [`Vault::audit_log`] gives a user's.
    pub async fn vault_audit_log(
        &self,
        since: crate::Timestamp,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.read_audit_log(&UserId::vault(), since, limit).await
    }

    async fn read_audit_log(
        &self,
        user: &UserId,
        since: crate::Timestamp,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let mut entries = self
            .store
            .list(user, RecordKind::Audit)
            .await?
            .into_iter()
            .map(|record| match crate::audit::decode(&record.body) {
                Some(event) => Ok((record.key.id, event)),
                None => Err(Error::from(records::corrupt(&record.key))),
            })
            .collect::<Result<Vec<_>>>()?;
        entries.retain(|(_, event)| event.at >= since);
        entries.sort_by(|a, b| (a.1.at, &a.0).cmp(&(b.1.at, &b.0)));
        Ok(entries.into_iter().take(limit).map(|(_, e)| e).collect())
    }

    /// Refuses a batch the store can't take ([`Error::TooLarge`]), before
    /// anything is written.
    fn check_fits(&self, writes: &[Write]) -> Result<()> {
        let limits = self.store.limits();
        if limits.admits(writes) {
            return Ok(());
        }
        let bytes = writes
            .iter()
            .map(|w| match w {
                Write::Put { body, .. } => body.len(),
                Write::Delete { .. } => 0,
            })
            .fold(0usize, usize::saturating_add);
        Err(Error::TooLarge {
            writes: writes.len(),
            bytes,
            limits,
        })
    }

    fn require_keyring(&self) -> Result<()> {
        if self.crypto().keyring().is_empty() {
            Err(Error::NotConfigured)
        } else {
            Ok(())
        }
    }

    /// The current crypto snapshot, once its keyring is known to match the
    /// vault ([`Vault::check_keyring`]); [`Error::NotConfigured`] without a
    /// key.
    pub(crate) async fn checked_crypto(&self) -> Result<Arc<Crypto>> {
        let crypto = self.crypto();
        if crypto.keyring().is_empty() {
            return Err(Error::NotConfigured);
        }
        self.check(&crypto).await?;
        Ok(crypto)
    }

    /// Refuses a keyring that holds a key whose id the vault knows but
    /// whose bytes differ ([`Error::KeyMismatch`]): run before every write
    /// and every seal or open, so a wrong key never writes (I9). An empty
    /// keyring passes (variables need no key).
    pub(crate) async fn check_keyring(&self) -> Result<()> {
        let crypto = self.crypto();
        if crypto.keyring().is_empty() {
            return Ok(());
        }
        self.check(&crypto).await
    }

    /// Compares every key of `crypto`'s ring with the stored check values
    /// (FORMAT.md §9) and stores those of new key ids; remembered per
    /// snapshot, so only the first call of a keyring reads the store.
    async fn check(&self, crypto: &Crypto) -> Result<()> {
        if crypto.is_checked() {
            return Ok(());
        }
        let ids: Vec<KeyId> = crypto.keyring().ids().collect();
        let keys: Vec<RecordKey> = ids.iter().map(|id| key_check_key(*id)).collect();
        retrying!(self, async {
            let found = self.store.get_many(&keys).await?;
            let mut writes = Vec::new();
            for ((id, key), record) in ids.iter().zip(&keys).zip(found) {
                match record {
                    Some(record) => {
                        let stored: KeyCheckBody = records::decode(&record)?;
                        if crypto.check_matches(*id, &stored.check) != Some(true) {
                            return Err(Error::KeyMismatch { key: *id });
                        }
                    }
                    None => {
                        let check = crypto.check_value(*id).ok_or(Error::NotConfigured)?;
                        writes.push(records::create(key.clone(), &KeyCheckBody { check }));
                    }
                }
            }
            if !writes.is_empty() {
                self.check_fits(&writes)?;
                match self.store.commit(writes).await {
                    Ok(()) => {}
                    // Another process stored a check value first: compare with it.
                    Err(StoreError::Conflict { .. }) => return Ok(Attempt::Again),
                    Err(other) => return Err(other.into()),
                }
            }
            crypto.mark_checked();
            Ok(Attempt::Done(()))
        })
    }

    /// The user's key material, or fresh material and the write creating it.
    async fn keys_for(&self, user: &UserId) -> Result<KeysFor> {
        let crypto = self.checked_crypto().await?;
        let record = self.store.get(&user_keys_key(user)).await?;
        Self::keys_from(crypto, user, record)
    }

    /// [`Vault::keys_for`] with the crypto snapshot the operation took at
    /// its start and the user's key record it already read (`None`:
    /// absent), so that an operation seals under one keyring and reads the
    /// key record in the same round trip as its other records.
    async fn keys_with(
        &self,
        crypto: &Arc<Crypto>,
        user: &UserId,
        record: Option<Record>,
    ) -> Result<KeysFor> {
        if crypto.keyring().is_empty() {
            return Err(Error::NotConfigured);
        }
        self.check(crypto).await?;
        Self::keys_from(Arc::clone(crypto), user, record)
    }

    fn keys_from(crypto: Arc<Crypto>, user: &UserId, record: Option<Record>) -> Result<KeysFor> {
        match record {
            Some(record) => Ok(KeysFor {
                sealer: UserCrypto {
                    keys: records::read_user_keys(&record)?,
                    crypto,
                },
                create: None,
            }),
            None => {
                let keys = UserKeys::generate();
                let create = records::write_user_keys(user_keys_key(user), Expect::Absent, &keys);
                Ok(KeysFor {
                    sealer: UserCrypto { keys, crypto },
                    create: Some(create),
                })
            }
        }
    }

    /// The user's existing key material (for opening).
    async fn existing_keys(&self, user: &UserId) -> Result<UserCrypto> {
        let crypto = self.checked_crypto().await?;
        let keys = user_keys_of(self.store.get(&user_keys_key(user)).await?)?;
        Ok(UserCrypto { keys, crypto })
    }

    fn check_value_len(&self, name: &str, len: usize) -> Result<()> {
        if len > self.config.max_value_len {
            return Err(Error::InvalidValue {
                name: name.to_owned(),
                reason: crate::ValueError::TooLong {
                    len,
                    max: self.config.max_value_len,
                },
            });
        }
        Ok(())
    }
}

/// A user's existing key material, read by whoever fetched its record.
fn user_keys_of(record: Option<Record>) -> Result<UserKeys> {
    match record {
        Some(record) => Ok(records::read_user_keys(&record)?),
        // Something sealed exists but the user's keys do not: the store lost
        // a record. Report it as the uninformative failure.
        None => Err(Error::DecryptionFailed),
    }
}

impl<S> fmt::Debug for Vault<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("crypto", &self.crypto)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The write that stores `event` in its user's log (FORMAT.md §6.10).
fn audit_write(event: &AuditEvent) -> Write {
    Write::Put {
        key: records::audit_key(&event.user, event.at),
        expect: Expect::Absent,
        body: crate::audit::encode(event),
    }
}
