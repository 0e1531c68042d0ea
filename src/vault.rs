//! [`Vault`]: the façade. Read → apply the rules → commit → on a version
//! conflict re-read and retry (bounded, then [`Error::Contention`]).

mod agents;
mod binding;
mod import;
mod items;
mod providers;
mod rotation;

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::crypto::{Binding, Crypto, Keyring, UserKeys};
use crate::records;
use crate::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use crate::{Error, Name, NamePolicy, Result, UserId};

pub use agents::{AgentInfo, Attachable};
pub use import::{
    ImportAction, ImportEntry, ImportEntryError, ImportOptions, ImportReport, OnConflict,
};
pub use providers::ConnectionInfo;
pub use rotation::{RewrapOptions, RewrapProgress, RewrapReport};

/// The gateway-token variable every agent's environment carries by default:
/// the agent engine's own.
pub const DEFAULT_GATEWAY_TOKEN_VAR: &str = "OPENCLAW_GATEWAY_TOKEN";

/// The longest agent name accepted, in characters.
pub const MAX_AGENT_NAME_CHARS: usize = 100;

pub(crate) const USER_KEYS_ID: &str = "keys";

/// Tunables of a [`Vault`]. Start from [`VaultConfig::default`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VaultConfig {
    /// The largest value accepted, in bytes (default 64 KiB).
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
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            max_value_len: crate::model::DEFAULT_MAX_VALUE_LEN,
            names: NamePolicy::default(),
            gateway_token_var: Name::parse(DEFAULT_GATEWAY_TOKEN_VAR)
                .unwrap_or_else(|_| unreachable!("the default token variable is a valid name")),
            max_attempts: 64,
            cipher_cache_capacity: crate::crypto::DEFAULT_CACHE_CAPACITY,
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

    /// Sets the retry bound.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
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

/// Runs an `async` block that reads and returns a [`Plan`], commits the
/// plan, and on a version conflict runs the block again, at most
/// `max_attempts` times. A macro rather than a method taking an async closure
/// because the futures of async closures lose `Send` in generic code, and
/// services spawn vault calls on multi-threaded runtimes.
macro_rules! transact {
    ($vault:expr, $attempt:expr) => {{
        let vault = $vault;
        let mut outcome = Err($crate::Error::Contention {
            attempts: vault.config.max_attempts,
        });
        for _ in 0..vault.config.max_attempts {
            let plan: $crate::Result<Plan<_>> = $attempt.await;
            match plan {
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
                Ok(plan) => match vault.commit_plan(plan).await {
                    Ok(Some(answer)) => {
                        outcome = Ok(answer);
                        break;
                    }
                    Ok(None) => continue,
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                },
            }
        }
        outcome
    }};
}
pub(crate) use transact;

/// A batch to commit and the answer to give once it is committed.
struct Plan<T> {
    writes: Vec<Write>,
    answer: T,
}

impl<T> Plan<T> {
    fn new(writes: Vec<Write>, answer: T) -> Self {
        Self { writes, answer }
    }
}

/// A user's key material and, when the user had none yet, the write that
/// creates it (committed with the first sealed record, so a failed call
/// leaves nothing behind).
struct KeysFor {
    keys: UserKeys,
    create: Option<Write>,
}

impl KeysFor {
    fn push_create(self, writes: &mut Vec<Write>) -> UserKeys {
        if let Some(write) = self.create {
            writes.push(write);
        }
        self.keys
    }
}

impl<S: Store> Vault<S> {
    /// A vault over `store` with `keyring` and the default configuration.
    pub fn new(store: S, keyring: Keyring) -> Self {
        Self::with_config(store, keyring, VaultConfig::default())
    }

    /// A vault with a configuration.
    pub fn with_config(store: S, keyring: Keyring, config: VaultConfig) -> Self {
        let crypto = Crypto::with_cache_capacity(keyring, config.cipher_cache_capacity);
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

    /// The master keyring in use.
    pub fn keyring(&self) -> Keyring {
        self.crypto().keyring().clone()
    }

    /// Replaces the master keyring, for example after adding or promoting a
    /// key (see [`Vault::rewrap`] for the whole rotation procedure). Calls
    /// already running finish with the keyring they started with; derived
    /// ciphers are derived again on first use, and the old ones are wiped
    /// when the last call using them ends.
    pub fn set_keyring(&self, keyring: Keyring) {
        let crypto = Crypto::with_cache_capacity(keyring, self.config.cipher_cache_capacity);
        *self.crypto.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(crypto);
    }

    pub(crate) fn crypto(&self) -> Arc<Crypto> {
        // The lock only guards an `Arc` swap, which cannot panic halfway.
        Arc::clone(&self.crypto.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Commits a plan: `Some(answer)` when it applied, `None` when a
    /// concurrent writer got there first and the caller should re-read.
    async fn commit_plan<T>(&self, plan: Plan<T>) -> Result<Option<T>> {
        if plan.writes.is_empty() {
            return Ok(Some(plan.answer));
        }
        match self.store.commit(plan.writes).await {
            Ok(()) => Ok(Some(plan.answer)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    fn require_keyring(&self) -> Result<()> {
        if self.crypto().keyring().is_empty() {
            Err(Error::NotConfigured)
        } else {
            Ok(())
        }
    }

    /// The user's key material, or fresh material and the write creating it.
    async fn keys_for(&self, user: &UserId) -> Result<KeysFor> {
        self.require_keyring()?;
        let key = RecordKey::new(user, RecordKind::UserKeys, USER_KEYS_ID);
        match self.store.get(&key).await? {
            Some(record) => Ok(KeysFor {
                keys: records::decode(&record)?,
                create: None,
            }),
            None => {
                let keys = UserKeys::generate();
                let create = Write::Put {
                    key,
                    expect: Expect::Absent,
                    body: records::encode(&keys),
                };
                Ok(KeysFor {
                    keys,
                    create: Some(create),
                })
            }
        }
    }

    /// The user's existing key material (for opening).
    async fn existing_keys(&self, user: &UserId) -> Result<UserKeys> {
        self.require_keyring()?;
        user_keys_of(self.store.get(&user_keys_key(user)).await?)
    }

    fn seal(&self, keys: &UserKeys, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        Ok(self.crypto().seal(keys, binding, plaintext)?)
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

/// The address of a user's key material.
fn user_keys_key(user: &UserId) -> RecordKey {
    RecordKey::new(user, RecordKind::UserKeys, USER_KEYS_ID)
}

/// A user's existing key material, read by whoever fetched its record.
fn user_keys_of(record: Option<Record>) -> Result<UserKeys> {
    match record {
        Some(record) => Ok(records::decode(&record)?),
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
