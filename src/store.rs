//! The storage boundary: versioned records and an atomic conditional commit.
//!
//! The vault keeps all its rules in the core and asks only this of a
//! database; see [`Store`] for the contract.

#[cfg(feature = "test-util")]
mod faulty;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::error::Error as StdError;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
pub use bytes::Bytes;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use faulty::{FaultCounts, FaultPlan, FaultyStore};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

use crate::UserId;

/// What a record holds. Part of the record's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// An agent, its attachments, sealed gateway token and last deployment.
    Agent,
    /// The index from an agent's id to the user who owns it (under the
    /// vault's reserved user, `docs/FORMAT.md` §6.13), so a gateway host
    /// that knows only the agent id finds its record without a scan.
    AgentOwner,
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
    /// An entry of the store-backed audit log (`docs/FORMAT.md` §6.10).
    Audit,
}

impl RecordKind {
    /// Every kind, in a fixed order.
    pub const ALL: [RecordKind; 8] = [
        Self::Agent,
        Self::AgentOwner,
        Self::Audit,
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
            Self::AgentOwner => "agent-owner",
            Self::Audit => "audit",
            Self::Connection => "connection",
            Self::Item => "item",
            Self::KeyCheck => "key-check",
            Self::Name => "name",
            Self::UserKeys => "user-keys",
        }
    }

    /// The kind whose [`RecordKind::as_str`] is `text`.
    ///
    /// ```
    /// use agent_vault::store::RecordKind;
    /// assert_eq!(RecordKind::parse("key-check"), Ok(RecordKind::KeyCheck));
    /// let error = RecordKind::parse("keycheck").unwrap_err();
    /// assert!(error.to_string().contains("expected one of agent, agent-owner"));
    /// ```
    pub fn parse(text: &str) -> Result<Self, UnknownRecordKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownRecordKind {
                given: crate::echo::Echo::hidden(text),
            })
    }
}

impl std::str::FromStr for RecordKind {
    type Err = UnknownRecordKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// A spelling [`RecordKind::parse`] does not know. Its message lists the
/// spellings it expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown record kind {given}: expected one of {}",
    RecordKind::ALL.map(RecordKind::as_str).join(", ")
)]
#[non_exhaustive]
pub struct UnknownRecordKind {
    given: crate::echo::Echo,
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
///
/// The body is [`Bytes`], as in `object_store`: a reference-counted buffer
/// that a store can hand out without copying. An in-memory store keeps
/// `Bytes` and returns clones of them (a reference count, not a copy); a
/// database driver that fetches a `Vec<u8>` turns it into `Bytes` with
/// [`Bytes::from`], which takes the allocation over. The vault then decodes
/// borrowing from it, so a read copies a body at most once, in the driver.
/// `Arc<[u8]>` would do the first but not the second (a `Vec` into an
/// `Arc<[u8]>` is a copy), and `Vec<u8>` neither.
///
/// `#[non_exhaustive]`: a store outside this crate builds records with
/// [`Record::new`] and reads the fields, so a later field is not a breaking
/// change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The address.
    pub key: RecordKey,
    /// The current version.
    pub version: Version,
    /// The encoded body.
    pub body: Bytes,
}

impl Record {
    /// The record at `key`, at `version`, holding `body`: a `Bytes` as the
    /// store keeps it, or a driver's `Vec<u8>` (taken over without a copy).
    ///
    /// ```
    /// use agent_vault::UserId;
    /// use agent_vault::store::{Record, RecordKey, RecordKind, Version};
    /// let key = RecordKey::new(&UserId::parse("u")?, RecordKind::Item, "a");
    /// let version = Version::new(7).expect("not zero");
    /// let record = Record::new(key, version, b"body".to_vec());
    /// assert_eq!(&record.body[..], b"body");
    /// # Ok::<(), agent_vault::UserIdError>(())
    /// ```
    pub fn new(key: RecordKey, version: Version, body: impl Into<Bytes>) -> Self {
        Self {
            key,
            version,
            body: body.into(),
        }
    }
}

/// What a write expects to find.
///
/// `#[non_exhaustive]`: a store usually needs only [`Write::holds`]; one
/// that matches on it ends the match with an arm for expectations it does
/// not know (see [`Write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// The record must not exist.
    Absent,
    /// The record must exist at exactly this version.
    Version(Version),
}

/// One write in a [`Store::commit`] batch.
///
/// `#[non_exhaustive]`, so a later version may add a kind of write: a store
/// outside this crate ends its `match` with an arm that refuses the whole
/// batch, **before applying any of it**, with
/// [`StoreError::InvalidBatch`]. Never skip a write the store does not
/// know: the batch would be applied in part.
///
/// ```
/// use agent_vault::store::{BatchError, StoreError, Write};
/// fn apply(write: &Write) -> Result<(), StoreError> {
///     match write {
///         Write::Put { key, body, .. } => println!("put {key}: {} bytes", body.len()),
///         Write::Delete { key, .. } => println!("delete {key}"),
///         _ => return Err(StoreError::InvalidBatch(BatchError::UnknownWrite)),
///     }
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

    /// Whether the write's expectation holds when its record is at
    /// `current` (`None`: absent): the one check every store makes per
    /// write before applying a batch.
    ///
    /// ```
    /// use agent_vault::UserId;
    /// use agent_vault::store::{Expect, RecordKey, RecordKind, Version, Write};
    /// let key = RecordKey::new(&UserId::parse("u")?, RecordKind::Item, "a");
    /// let create = Write::Put { key, expect: Expect::Absent, body: b"x".to_vec() };
    /// assert!(create.holds(None));
    /// assert!(!create.holds(Version::new(7)));
    /// # Ok::<(), agent_vault::UserIdError>(())
    /// ```
    pub fn holds(&self, current: Option<Version>) -> bool {
        match self {
            Self::Put {
                expect: Expect::Absent,
                ..
            } => current.is_none(),
            Self::Put {
                expect: Expect::Version(expected),
                ..
            }
            | Self::Delete {
                expect: expected, ..
            } => current == Some(*expected),
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
    /// A write's expectation did not hold against the store's current
    /// state (the record was there, absent, or at another version), and
    /// nothing in the batch was applied: a definite answer, unlike
    /// [`StoreError::Backend`] from a commit.
    ///
    /// A store reports `Conflict` only for that. A transaction the database
    /// aborted for contention (a serialization failure or deadlock, SQLSTATE
    /// `40001`/`40P01` on PostgreSQL; "busy" on SQLite) says nothing about
    /// the expectations: the built-in stores retry it (PostgreSQL up to 5
    /// attempts in all, SQLite by waiting out its busy timeout) and report
    /// it as [`StoreError::Backend`] if it still fails. Every built-in store
    /// checks the writes in its own order and stops at the first that
    /// fails: the in-memory and SQLite stores in batch order, PostgreSQL in
    /// key order (its lock order), rolling the transaction back.
    #[error("conflict on {key}")]
    Conflict {
        /// A key whose expectation failed. When several fail, which one is
        /// named is the store's choice (see above for the built-in stores).
        key: RecordKey,
    },
    /// What the backend holds is not a valid record: a body the vault can't
    /// read, a version out of range, or a key whose stored bytes can't even
    /// be decoded (then `key` is `None`).
    #[error("{}", match key {
        Some(key) => format!("record {key} is corrupt"),
        None => "a stored record is corrupt (its key can't be decoded)".to_owned(),
    })]
    Corrupt {
        /// The record, when its key could be read.
        key: Option<RecordKey>,
    },
    /// The batch itself is malformed (a caller bug): empty, a key written
    /// twice, or keys of several users; or it holds a kind of [`Write`] the
    /// store does not know (a store built for an older version of this
    /// crate). Nothing in the batch was applied.
    #[error("invalid batch: {0}")]
    InvalidBatch(BatchError),
}

/// What is wrong with a batch refused as [`StoreError::InvalidBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No writes at all.
    #[error("empty batch")]
    Empty,
    /// Keys of more than one user (a commit holds one user's records).
    #[error("keys of several users")]
    SeveralUsers,
    /// The same key written twice.
    #[error("a key written twice")]
    KeyWrittenTwice,
    /// More writes or bytes than the store's [`Limits`].
    #[error("over the store's limits")]
    OverLimits,
    /// A kind of [`Write`] or [`Expect`] the store does not know (a store
    /// built for an older version of this crate).
    #[error("a kind of write this store does not know")]
    UnknownWrite,
}

impl StoreError {
    /// Whether the same call may succeed if made again: a backend fault
    /// (connection lost, busy, disk full) or a version conflict. A corrupt
    /// record or a malformed batch stays so, whatever the retries.
    ///
    /// ```
    /// use agent_vault::store::{BatchError, StoreError};
    /// let lost = StoreError::backend(std::io::Error::other("connection reset"));
    /// assert!(lost.is_retryable());
    /// assert!(!StoreError::InvalidBatch(BatchError::Empty).is_retryable());
    /// assert!(!StoreError::Corrupt { key: None }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Backend(_) | Self::Conflict { .. } => true,
            Self::Corrupt { .. } | Self::InvalidBatch(_) => false,
        }
    }

    /// Wraps a backend's own error.
    pub fn backend(error: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// A database the vault keeps its records in.
///
/// Implement it for your own database, run the public conformance suite
/// against it (feature `conformance`), and the vault's invariants hold on
/// it. Four methods are required: [`Store::get_many`], [`Store::list`],
/// [`Store::commit`] and [`Store::users`]; [`Store::get`] and
/// [`Store::limits`] have defaults.
///
/// # Contract
///
/// - **Records** are addressed by [`RecordKey`]: a user, a [`RecordKind`]
///   and an id (at most 255 bytes of printable ASCII, which may contain
///   `:`, `/` and any other punctuation). User ids may contain `:`, `.`,
///   `@`, `-`, `_` (see [`UserId`]), and the vault's own reserved ids start
///   with `~` ([`UserId::is_reserved`]). Two keys are the same record only
///   if all three parts are equal.
/// - **Versions.** Each record carries a [`Version`] that the store assigns
///   on every put. The vault relies on exactly this: a version is
///   **opaque**, **changes on every write**, and is **never reused for a
///   key**, even across delete and re-create (a deleted record is gone from
///   reads, but its versions are not available again). This rules out the
///   ABA case in which a stale writer's "expect version `v`" succeeds
///   against a record that was deleted and created again, and writes an old
///   body back (a revoked credential would return). A per-database counter
///   (an SQL sequence, etcd's `mod_revision`, a commit counter) serves; so
///   does one revision number shared by every write of a batch. Versions are
///   compared for equality only, never ordered.
/// - **Reads.** [`Store::get_many`] returns the current records at its keys
///   **from one state that some commit left**: never some records before a
///   batch and some after it (no torn read). [`Store::list`] returns every
///   record of one user and kind, in any order, and never another user's or
///   another kind's, also from one state. [`Store::users`] returns every
///   user with at least one record. Two calls may see different states.
/// - **`commit`** applies a batch of [`Write`]s atomically: either every
///   write's [`Expect`]ation holds and all are applied, or none is and the
///   call returns [`StoreError::Conflict`] naming a key whose expectation
///   failed. `Conflict` means exactly that: a transaction the database
///   aborted for contention (a serialization failure, a deadlock, a busy
///   lock) is not a conflict; the store may try it again, and reports
///   [`StoreError::Backend`] if it gives up. A batch is non-empty, names
///   each key at most once, and all its keys belong to one user; otherwise
///   [`StoreError::InvalidBatch`] ([`check_batch`] checks this).
/// - **Limits.** A store declares what one commit can take
///   ([`Store::limits`]); the vault never sends more, and refuses an
///   operation that can't fit with [`Error::TooLarge`](crate::Error::TooLarge)
///   before anything is written. See *Batches per operation* below.
/// - **Concurrency**: commits are linearizable per user. Of several commits
///   that expect the same version of a record, at most one succeeds. This
///   holds across processes and handles when several share a database.
/// - **Durability**: `Ok(())` from `commit` means the batch is durable: it
///   survives a crash or power loss of the database, as a committed
///   transaction does. The vault relies on it: a commit that is
///   acknowledged and then lost silently undoes a change the user was told
///   had happened. A rotated gateway token becomes valid again, a
///   disconnected (revoked) credential comes back, a deleted secret
///   reappears; and if the version counter is lost with it, versions can
///   repeat, which reopens the stale-writer case above. A store that
///   acknowledges before it is durable (asynchronous replication, `fsync`
///   off) must say so to its users.
/// - **Failures**: any other fault is [`StoreError::Backend`]. If `commit`
///   returns it, the batch may or may not have been applied (the ambiguous
///   case); it must never have been applied partially. A record the store
///   can't read back is [`StoreError::Corrupt`].
/// - Stores see record bodies only: ciphertext for secrets, connections and
///   gateway tokens, plaintext for variables. They never see keys.
///
/// # Batches per operation
///
/// The writes one vault call commits, all in one batch of one user
/// ("+1" is the user's key record, written with the first sealed value of a
/// user; the vault's key check values are written once per master key id,
/// in a batch of their own under the reserved user `~vault`):
///
/// | operation | writes |
/// |---|---|
/// | `create_item` | 2 (the item and its name index) +1 |
/// | `update_item` | 1 |
/// | `delete_item` | 2 |
/// | `create_connection`, `update_connection` | 1 +1 |
/// | `delete_connection` | 1 |
/// | `create_agent`, `rotate_gateway_token` | 1 +1 |
/// | `delete_agent` | 1 + one per attached item or connection |
/// | `attach` / `detach` of *n* | *n* + 1 |
/// | `record_deployment`, `rotate_user_key` | 1 |
/// | `import_dotenv` | 2 per new name + 1 per updated name +1 |
/// | `rewrap` | up to its batch size (default 100), split to fit the limits |
///
/// Bodies: an item is its value (sealed: plus 37 bytes) plus its name, two
/// timestamps and 16 bytes per attached agent, about 100 bytes of overhead;
/// an agent grows by about 60 bytes plus the names of the variables per
/// attachment. With the default 64 KiB value limit no item body exceeds
/// 70 KiB. So a store that takes 100 writes per batch (DynamoDB) imports up
/// to 49 new names at once; a larger file fails with `TooLarge` and nothing
/// written, and can be imported in parts.
///
/// Why two writes per new name: the case-folded name index is a record of
/// its own, created with [`Expect::Absent`], which is what makes names
/// unique per user under any interleaving with one conditional write and no
/// scan. Folding every name into one index record per user would halve an
/// import's writes but make every create and delete of that user contend on
/// one record and grow it without bound, so the vault keeps the two records.
///
/// # Implementing
///
/// - **Keys: never join the parts with a separator.** A store that builds
///   `user:kind:id` (Redis style) mixes users: user `acme`'s items and user
///   `acme:item`'s records share a prefix, and a prefix scan for one returns
///   the other's. Encode keys as tuples (a composite primary key, a tuple
///   key) or length-prefixed bytes (`u32be(len(user)) ‖ user ‖ kind ‖ id`).
///   The conformance suite has behaviours that catch separator-built keys.
/// - **SQL.** A table `(user_id, kind, id, version, body)` with the key as
///   primary key: `commit` runs one transaction that, per write, does an
///   `INSERT` (for [`Expect::Absent`]; a unique violation is a conflict), or
///   an `UPDATE ... WHERE version = $expected` / `DELETE ... WHERE version =
///   $expected` and treats zero affected rows as a conflict, rolling back on
///   the first conflict. New versions come from one counter for the whole
///   database (a `SEQUENCE`, or a one-row table incremented once per commit
///   inside the transaction), never from `version + 1`, which would restart
///   at 1 after a delete. `get_many` is one `SELECT ... WHERE (user_id,
///   kind, id) IN (...)`. See [`SqliteStore`](crate::store) and
///   `PostgresStore` (features `sqlite`, `postgres`).
/// - **Key-value databases with transactions** (etcd, FoundationDB,
///   DynamoDB `TransactWriteItems`): one conditional transaction per batch,
///   comparing each key's version (etcd: `mod_revision`, which a delete and
///   re-create never repeats); declare the transaction limits in
///   [`Store::limits`]. `examples/redb_store.rs` shows an embedded one.
/// - **Key-value databases without multi-key transactions**: keep each
///   user's records in **one document per user** and commit by
///   compare-and-swap on that document. Every batch belongs to one user, so
///   every batch is one document update: read the document, check every
///   write's expectation against it, apply the writes, and write it back
///   only if its revision is still the one read (else report a conflict).
///   Give each record the document's new revision as its version: the
///   revision only grows, so no key sees a version twice. Declare
///   `max_body_len` and `max_batch_len` so that a user's whole document
///   stays under the database's item size.
/// - **Synchronous databases**: the trait is async so services can share a
///   store across tasks, but the core never spawns and is tied to no
///   runtime. A blocking call holds its thread: run each call on your
///   runtime's blocking pool (`tokio::task::spawn_blocking`,
///   `blocking::unblock`), or inline if every call is short (an in-memory
///   map, an embedded database on a fast disk).
/// - **Bodies** are [`Bytes`]. A store that keeps bodies in memory keeps
///   them as `Bytes` (`Bytes::from` takes a put's `Vec<u8>` over without a
///   copy) and answers reads with clones, which share the buffer. A store
///   whose driver fetches a `Vec<u8>` returns `Bytes::from(vec)`, again
///   without a copy; one that lends a borrowed slice (an mmap'd page)
///   copies once with [`Bytes::copy_from_slice`]. The vault decodes bodies
///   borrowing from them, so that copy is the only one on a read.
/// - **Reading ids back**: a store that keeps user ids as text parses them
///   with [`UserId::parse_stored`], which also accepts the reserved ids.
/// - **Records and writes may grow.** [`Record`], [`Write`] and [`Expect`]
///   are `#[non_exhaustive]`: build records with [`Record::new`], check a
///   write with [`Write::holds`], and end a `match` on a write with an arm
///   that refuses the batch before any of it is applied
///   ([`StoreError::InvalidBatch`]), so a kind of write added later is
///   never skipped silently.
/// - Use [`async_trait`](crate::async_trait) as re-exported by this crate.
///
/// A complete store, compiled and run as this doctest: records in one
/// `BTreeMap` keyed by tuples behind a mutex, versions from a commit
/// counter.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
///
/// use agent_vault::UserId;
/// use agent_vault::store::{
///     BatchError, Bytes, Record, RecordKey, RecordKind, Store, StoreError, Version, Write, check_batch,
/// };
///
/// #[derive(Default)]
/// struct MapStore {
///     state: Mutex<State>,
/// }
///
/// #[derive(Default)]
/// struct State {
///     /// Tuple keys: no separator can mix users. `Bytes` bodies: a read
///     /// hands out a clone of the reference, never a copy of the body.
///     records: BTreeMap<(UserId, RecordKind, String), (Version, Bytes)>,
///     /// One number per commit, never reused.
///     revision: u64,
/// }
///
/// fn tuple(key: &RecordKey) -> (UserId, RecordKind, String) {
///     (key.user.clone(), key.kind, key.id.clone())
/// }
///
/// #[agent_vault::async_trait]
/// impl Store for MapStore {
///     async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
///         let state = self.state.lock().unwrap(); // one lock: one state
///         Ok(keys
///             .iter()
///             .map(|key| {
///                 let (version, body) = state.records.get(&tuple(key))?;
///                 Some(Record::new(key.clone(), *version, body.clone()))
///             })
///             .collect())
///     }
///
///     async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
///         let state = self.state.lock().unwrap();
///         Ok(state
///             .records
///             .iter()
///             .filter(|((u, k, _), _)| u == user && *k == kind)
///             .map(|((u, k, id), (version, body))| {
///                 Record::new(RecordKey::new(u, *k, id.clone()), *version, body.clone())
///             })
///             .collect())
///     }
///
///     async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
///         check_batch(&writes)?;
///         let mut state = self.state.lock().unwrap();
///         for write in &writes {
///             // `Write` is non-exhaustive: refuse a kind this store does
///             // not know while nothing is applied yet.
///             if !matches!(write, Write::Put { .. } | Write::Delete { .. }) {
///                 return Err(StoreError::InvalidBatch(BatchError::UnknownWrite));
///             }
///             let current = state.records.get(&tuple(write.key())).map(|(v, _)| *v);
///             if !write.holds(current) {
///                 return Err(StoreError::Conflict { key: write.key().clone() });
///             }
///         }
///         state.revision += 1;
///         let version = Version::new(state.revision).expect("after an increment");
///         for write in writes {
///             match write {
///                 Write::Put { key, body, .. } => {
///                     state.records.insert(tuple(&key), (version, Bytes::from(body)));
///                 }
///                 Write::Delete { key, .. } => {
///                     state.records.remove(&tuple(&key));
///                 }
///                 _ => unreachable!("refused before anything was applied"),
///             }
///         }
///         Ok(())
///     }
///
///     async fn users(&self) -> Result<Vec<UserId>, StoreError> {
///         let state = self.state.lock().unwrap();
///         let mut users: Vec<UserId> = state.records.keys().map(|(u, _, _)| u.clone()).collect();
///         users.dedup(); // keys are sorted by user first
///         Ok(users)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_vault::Error> {
/// use agent_vault::crypto::{Keyring, MasterKey};
/// use agent_vault::{Kind, Name, SecretValue, Vault};
///
/// let vault = Vault::new(MapStore::default(), Keyring::single(MasterKey::generate()));
/// let user = UserId::parse("tenant:alice")?;
/// let value = SecretValue::parse("123:abc".into())?;
/// vault.create_item(&user, &Name::parse("TELEGRAM_BOT_TOKEN")?, Kind::Secret, value).await?;
/// assert_eq!(vault.items(&user).await?.len(), 1);
/// # Ok(()) }
/// ```
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
        // A forwarding impl must forward every method: a default method
        // left out would run the default instead of the wrapped store's.
        #[deny(clippy::missing_trait_methods)]
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
        return Err(StoreError::InvalidBatch(BatchError::Empty));
    };
    let user = &first.key().user;
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    for write in writes {
        if &write.key().user != user {
            return Err(StoreError::InvalidBatch(BatchError::SeveralUsers));
        }
        if !seen.insert(write.key()) {
            return Err(StoreError::InvalidBatch(BatchError::KeyWrittenTwice));
        }
    }
    Ok(())
}

/// `docs/FORMAT.md` §6.9 gives every statement of every migration of an
/// SQL store; returns the document, whitespace collapsed, for more checks.
#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
pub(crate) fn check_format_doc_migrations(migrations: &[&[&str]]) -> String {
    let squeeze = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md"))
        .unwrap_or_else(|e| panic!("docs/FORMAT.md: {e}"));
    let doc = squeeze(&doc);
    for (index, migration) in migrations.iter().enumerate() {
        for statement in *migration {
            let wanted = format!("{};", squeeze(statement));
            assert!(
                doc.contains(&wanted),
                "docs/FORMAT.md §6.9 should give migration {} as {wanted:?}",
                index + 1
            );
        }
    }
    doc
}
