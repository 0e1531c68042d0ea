//! The storage boundary: versioned records and an atomic conditional commit.
//!
//! The vault keeps all its rules in the core and asks only this of a
//! database; see [`Store`] for the contract.

mod faulty;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::error::Error as StdError;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;

pub use faulty::{FaultCounts, FaultPlan, FaultyStore};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::UserId;

/// What a record holds. Part of the record's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// An agent, its attachments, sealed gateway token and last deployment.
    Agent,
    /// A provider connection with its sealed credential.
    Connection,
    /// A secret (sealed value) or variable (plaintext value).
    Item,
    /// The index from a case-folded name to the item holding it, which makes
    /// names unique per user.
    Name,
    /// The check value of a master key (under the vault's reserved user,
    /// `docs/FORMAT.md` §9).
    KeyCheck,
    /// The user's key-derivation salts.
    UserKeys,
}

impl RecordKind {
    /// Every kind, in a fixed order.
    pub const ALL: [RecordKind; 6] = [
        Self::Agent,
        Self::Connection,
        Self::Item,
        Self::KeyCheck,
        Self::Name,
        Self::UserKeys,
    ];

    /// A short stable text form, for databases that store the kind as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Connection => "connection",
            Self::Item => "item",
            Self::KeyCheck => "key-check",
            Self::Name => "name",
            Self::UserKeys => "user-keys",
        }
    }

    /// The kind whose [`RecordKind::as_str`] is `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A record's address: its user, its kind, and an id unique within both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// The user the record belongs to.
    pub user: UserId,
    /// What the record holds.
    pub kind: RecordKind,
    /// The id within the user and kind (at most 255 bytes of printable ASCII).
    pub id: String,
}

impl RecordKey {
    /// A key.
    pub fn new(user: &UserId, kind: RecordKind, id: impl Into<String>) -> Self {
        Self {
            user: user.clone(),
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.user, self.kind.as_str(), self.id)
    }
}

/// A record's version: an opaque number the store assigns on every write.
///
/// The vault relies on exactly three things (see the [`Store`] contract):
/// a version **changes on every write**, it is **never reused for a key**
/// over that key's whole life (also across delete and re-create), and two
/// versions are compared only for equality. Nothing else is assumed: not
/// that a version starts at 1, not that it grows by one. A per-database
/// counter (an SQL sequence, etcd's `mod_revision`, a commit counter) or a
/// per-key counter that survives deletion (a tombstone) both qualify.
///
/// Why never reused: a caller that read a record at version `v` and commits
/// "expect `v`" must fail if the record was deleted and created again in
/// between. Were the version to restart, such a stale writer would succeed
/// and write an old body back: a revoked credential would return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

impl Version {
    /// A version from its number; `None` for 0.
    pub fn new(number: u64) -> Option<Self> {
        NonZeroU64::new(number).map(Self)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

/// A stored record: its key, its version and its opaque body.
///
/// Bodies are produced and read by the vault only. For secrets, connections
/// and gateway tokens they hold ciphertext; variables are plaintext by design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The address.
    pub key: RecordKey,
    /// The current version.
    pub version: Version,
    /// The encoded body.
    pub body: Vec<u8>,
}

/// What a write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist.
    Absent,
    /// The record must exist at exactly this version.
    Version(Version),
}

/// One write in a [`Store::commit`] batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Create (with [`Expect::Absent`]) or replace (with
    /// [`Expect::Version`]) a record; the store gives it a new [`Version`]
    /// that the key never had before.
    Put {
        /// The address.
        key: RecordKey,
        /// What must be there now.
        expect: Expect,
        /// The new body.
        body: Vec<u8>,
    },
    /// Remove a record that must be at exactly this version.
    Delete {
        /// The address.
        key: RecordKey,
        /// The version that must be there now.
        expect: Version,
    },
}

impl Write {
    /// The record the write addresses.
    pub fn key(&self) -> &RecordKey {
        match self {
            Self::Put { key, .. } | Self::Delete { key, .. } => key,
        }
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed: connection lost, disk full, ... The commit may or
    /// may not have happened if this is returned by [`Store::commit`].
    #[error("backend failure: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
    /// A write's expectation did not hold; nothing in the batch was applied.
    #[error("conflict on {key}")]
    Conflict {
        /// The first key (in batch order) whose expectation failed.
        key: RecordKey,
    },
    /// A body read from the backend is not a valid record.
    #[error("record {key} is corrupt")]
    Corrupt {
        /// The record.
        key: RecordKey,
    },
    /// The batch itself is malformed (a caller bug): empty, a key written
    /// twice, or keys of several users.
    #[error("invalid batch: {0}")]
    InvalidBatch(&'static str),
}

impl StoreError {
    /// Wraps a backend's own error.
    pub fn backend(error: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// A database the vault keeps its records in.
///
/// # Contract
///
/// - **Records** are addressed by [`RecordKey`] (user, kind, id) and carry a
///   [`Version`] that the store assigns on every put. A version is opaque,
///   changes on every write and is **never reused for a key**, even across
///   delete and re-create (a deleted record is gone from reads, but its
///   versions are not available again). This rules out the ABA case in
///   which a stale writer's "expect version `v`" succeeds against a record
///   that was deleted and created again. A per-database counter (an SQL
///   sequence, etcd's `mod_revision`) serves; so does one per-commit
///   revision number shared by every write of the batch.
/// - **`get`** returns the current record or `None`. **`list`** returns every
///   record of one user and kind, in any order, and never another user's.
///   **`users`** returns every user with at least one record.
///   Each call sees a state that some commit left (no torn batch); two calls
///   may see different states.
/// - **`commit`** applies a batch of [`Write`]s atomically: either every
///   write's [`Expect`]ation holds and all are applied, or none is and the
///   call returns [`StoreError::Conflict`] naming a key whose expectation
///   failed. A batch is non-empty, names each key at most once, and all its
///   keys belong to one user; otherwise [`StoreError::InvalidBatch`].
/// - **Concurrency**: commits are linearizable per user. Of several commits
///   that expect the same version of a record, at most one succeeds. This
///   holds across processes when several share a database.
/// - **Failures**: any other fault is [`StoreError::Backend`]. If `commit`
///   returns it, the batch may or may not have been applied (the ambiguous
///   case); it must never have been applied partially.
/// - Stores see record bodies only: ciphertext for secrets, connections and
///   gateway tokens, plaintext for variables. They never see keys.
///
/// # Implementing
///
/// A SQL backend is a table `(user_id, kind, id, version, body)` with the key
/// as primary key: `commit` runs one transaction that, per write, does an
/// `INSERT` (for [`Expect::Absent`]; a unique violation is a conflict), or an
/// `UPDATE ... WHERE version = $expected` / `DELETE ... WHERE version =
/// $expected` and treats zero affected rows as a conflict, rolling back on
/// the first conflict. New versions come from one counter for the whole
/// database (a `SEQUENCE`, or a one-row table incremented once per commit
/// inside the transaction), never from `version + 1`, which would restart
/// at 1 after a delete. Run the public conformance suite against it (feature
/// `conformance`).
#[async_trait]
pub trait Store: Send + Sync {
    /// The current record at `key`, if any. The default asks
    /// [`Store::get_many`] for the one key; a backend may answer it more
    /// cheaply.
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        let mut found = self.get_many(std::slice::from_ref(key)).await?;
        Ok(found.pop().flatten())
    }

    /// The current records at `keys`, in the same order (`None` where a
    /// record is absent), all from **one** state that some commit left:
    /// never some records before a batch and some after it (no torn read).
    /// Required, because only the backend can make the reads one snapshot
    /// (one `SELECT`, a read transaction, one lock); one `get` per key
    /// would not be. A networked backend answers it in one round trip.
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError>;

    /// Every record of `user` of `kind`.
    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError>;

    /// Applies every write or none; see the contract.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// What this store can take in one [`Store::commit`]: the vault never
    /// sends a batch or a body over these, and refuses an operation that
    /// can't fit ([`Error::TooLarge`](crate::Error::TooLarge)) before
    /// anything is written. The default is [`Limits::UNLIMITED`].
    fn limits(&self) -> Limits {
        Limits::UNLIMITED
    }

    /// Every user that has at least one record, in any order, including the
    /// vault's reserved ids ([`UserId::is_reserved`]; a store that keeps
    /// user ids as text reads them back with [`UserId::parse_stored`]).
    /// Used by whole-vault maintenance such as
    /// [`Vault::rewrap`](crate::Vault::rewrap), never on a hot path.
    async fn users(&self) -> Result<Vec<UserId>, StoreError>;
}

/// What a store can take in one commit ([`Store::limits`]).
///
/// Typical values: DynamoDB transactions take 100 writes and 4 MB, items up
/// to 400 KB; etcd's default request limit is 128 operations and 1.5 MiB.
/// The vault's own batches are documented per operation under the
/// [`Store`] contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most writes in one batch (at least 1).
    pub max_writes: usize,
    /// The largest body of one write, in bytes.
    pub max_body_len: usize,
    /// The largest sum of the bodies of one batch, in bytes.
    pub max_batch_len: usize,
}

impl Limits {
    /// No limit: the in-memory, SQLite and PostgreSQL stores.
    pub const UNLIMITED: Limits = Limits {
        max_writes: usize::MAX,
        max_body_len: usize::MAX,
        max_batch_len: usize::MAX,
    };

    /// Limits of `max_writes` writes (at least 1), bodies of `max_body_len`
    /// bytes, and `max_batch_len` bytes of bodies per batch.
    pub fn new(max_writes: usize, max_body_len: usize, max_batch_len: usize) -> Self {
        Self {
            max_writes: max_writes.max(1),
            max_body_len,
            max_batch_len,
        }
    }

    /// Whether `writes` fits.
    pub fn admits(&self, writes: &[Write]) -> bool {
        let mut total = 0usize;
        for write in writes {
            if let Write::Put { body, .. } = write {
                if body.len() > self.max_body_len {
                    return false;
                }
                total = total.saturating_add(body.len());
            }
        }
        writes.len() <= self.max_writes && total <= self.max_batch_len
    }
}

/// Forwards every method through a smart pointer, so `Arc<dyn Store>` and
/// `Box<dyn Store>` are stores (a service picks its store at run time).
macro_rules! forward_store {
    ($pointer:ident) => {
        #[async_trait]
        impl<S: Store + ?Sized> Store for $pointer<S> {
            async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
                (**self).get(key).await
            }

            async fn get_many(
                &self,
                keys: &[RecordKey],
            ) -> Result<Vec<Option<Record>>, StoreError> {
                (**self).get_many(keys).await
            }

            async fn list(
                &self,
                user: &UserId,
                kind: RecordKind,
            ) -> Result<Vec<Record>, StoreError> {
                (**self).list(user, kind).await
            }

            async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
                (**self).commit(writes).await
            }

            async fn users(&self) -> Result<Vec<UserId>, StoreError> {
                (**self).users().await
            }

            fn limits(&self) -> Limits {
                (**self).limits()
            }
        }
    };
}

forward_store!(Arc);
forward_store!(Box);

/// Checks the shape rules of a batch (non-empty, one user, no key twice), so
/// every backend refuses the same malformed batches.
pub fn check_batch(writes: &[Write]) -> Result<(), StoreError> {
    let Some(first) = writes.first() else {
        return Err(StoreError::InvalidBatch("empty batch"));
    };
    let user = &first.key().user;
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    for write in writes {
        if &write.key().user != user {
            return Err(StoreError::InvalidBatch("keys of several users"));
        }
        if !seen.insert(write.key()) {
            return Err(StoreError::InvalidBatch("a key written twice"));
        }
    }
    Ok(())
}
