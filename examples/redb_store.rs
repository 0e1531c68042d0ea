//! A `Store` on an embedded key-value database ([redb]), checked with the
//! public conformance suite (feature `conformance`).
//!
//! ```text
//! cargo run --example redb_store --features conformance
//! ```
//!
//! `tests/conformance_redb.rs` runs the same store under `cargo test`, one
//! test per behaviour, plus a vault on top of it.
//!
//! This is the example to read before writing a backend on a key-value
//! database (redb, sled, RocksDB, LMDB, FoundationDB, etcd, TiKV, ...). Each
//! decision such a backend has to make is documented where it is made:
//!
//! - **Key encoding** ([`RECORDS`]): a length-prefixed tuple, never a
//!   separator character.
//! - **Versions** ([`REVISION`]): one counter incremented once per commit
//!   inside the write transaction, never `version + 1`.
//! - **Blocking** ([`RedbStore::blocking`]): redb is synchronous, so every
//!   transaction runs on tokio's blocking pool.
//! - **`get_many`** ([`RedbStore::get_many`]): one read transaction, so one
//!   snapshot.
//! - **`users`** ([`USERS`]): a per-user record count kept in the same write
//!   transaction, so a user whose last record goes disappears.
//! - **Limits** ([`MAX_WRITES`]): declared through `Store::limits`, and
//!   enforced again in
//!   `commit` as a second line of defence.
//!
//! [redb]: https://docs.rs/redb

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use agent_vault::store::{
    BatchError, Bytes, Expect, Limits, Record, RecordKey, RecordKind, Store, StoreError, Version,
    Write, check_batch,
};
use agent_vault::{UserId, conformance};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

/// Every record, keyed by `(user, kind, id)` with `(version, body)` as value.
///
/// # Key encoding
///
/// A key-value database sees one byte string per key, and the obvious
/// encoding, `user:kind:id` joined by a separator, is wrong here: a
/// [`UserId`] may contain `:`, `.` and `@`, and a record id may contain `:`
/// and `/`. Take user `a` and user `a:item` (a valid id). `list(a, Item)`
/// would scan the prefix `a:item:`, and user `a:item`'s connection `x`,
/// stored as `a:item:connection:x`, starts with it: one user's `list` returns
/// another user's record, as an item with the id `connection:x`. No choice of
/// separator is safe while ids may contain it, and escaping is easy to get
/// subtly wrong.
///
/// So the key is a **tuple**: redb encodes a tuple of variable-width
/// elements with each element's length in front, and compares tuples element
/// by element. `("alice", "item", id)` and `("alice:item", ...)` are then
/// different first elements and never mix, and a range over
/// `("alice", "item", "")..` visits exactly alice's items in one contiguous
/// run (see [`scan`]). A database with plain byte keys gets the same property
/// from `u32be(len(user)) ‖ user ‖ u8 kind ‖ id`: the length prefix makes the
/// user part self-delimiting, so no user's keys are a prefix of another's.
///
/// The kind is stored as [`RecordKind::as_str`], its stable text form,
/// rather than its position in the enum, so adding a kind never renumbers
/// stored data.
const RECORDS: TableDefinition<(&str, &str, &str), (u64, &[u8])> =
    TableDefinition::new("agent_vault_records");

/// The commit counter versions come from (one row, [`REVISION_ROW`]).
///
/// # Versions
///
/// The contract wants a version that changes on every write and is **never
/// reused for a key**, also across delete and re-create. A per-record
/// `version + 1` breaks the second rule: delete a record at version 3,
/// create it again, and it is at version 1, then 2, then 3 again, and a
/// stale writer that expected 3 succeeds. So each commit increments this
/// counter once, inside its write transaction (redb has one writer at a
/// time, so no other commit can take the same number), and every write of
/// the batch gets that number. A rolled-back commit rolls the increment back
/// too, which is fine: no record ever carried that number.
const REVISION: TableDefinition<&str, u64> = TableDefinition::new("agent_vault_revision");

/// The key of the counter's one row in [`REVISION`].
const REVISION_ROW: &str = "revision";

/// How many records each user has.
///
/// # Users
///
/// [`Store::users`] must return every user with at least one record, and no
/// other. A scan of [`RECORDS`] would do (redb has no "distinct first
/// element" query, but one could skip from user to user), yet a count per
/// user, maintained in the commit's own transaction, answers it by reading
/// one small table: a create adds one, a delete subtracts one, a row that
/// reaches zero is removed, so a user whose last record is deleted
/// disappears. The counts are exact because each write's expectation was
/// checked first: an [`Expect::Absent`] put really creates, an
/// [`Expect::Version`] put really replaces.
const USERS: TableDefinition<&str, u64> = TableDefinition::new("agent_vault_users");

/// The most writes in one commit.
///
/// # Limits
///
/// redb itself takes large transactions; these numbers model the networked
/// key-value stores this example stands in for, whose requests are bounded
/// (etcd's default is 128 operations per transaction and a 1.5 MiB request;
/// DynamoDB's 100 writes and 4 MB). They also bound how long one commit
/// holds redb's single write lock.
///
/// The vault reads them through [`Store::limits`] and refuses an operation
/// that does not fit (`agent_vault::Error::TooLarge`, HTTP 413) before
/// writing anything: importing a 300-line `.env` (601 writes) is refused as
/// a whole, never half applied. `commit` checks them again.
const MAX_WRITES: usize = 128;

/// The largest body of one write: 2 MiB rather than etcd's 1.5 MiB because
/// the conformance suite stores a body just over 1 MiB. The vault's own
/// bodies are far smaller.
const MAX_BODY_LEN: usize = 2 << 20;

/// The largest sum of the bodies of one commit.
const MAX_BATCH_LEN: usize = 4 << 20;

/// Why a redb call failed, before it becomes a [`StoreError`] (one `From`
/// impl maps it, as the built-in backends do).
#[derive(Debug)]
enum RedbError {
    /// A write's expectation failed; the transaction was dropped unapplied.
    Conflict(RecordKey),
    /// The database itself failed.
    Database(redb::Error),
    /// A stored key does not decode (a kind or user id this code never
    /// writes).
    Corrupt(&'static str),
    /// The blocking task panicked or was cancelled.
    Task(tokio::task::JoinError),
    /// A kind of [`Write`] this store was not written for.
    UnknownWrite,
}

impl fmt::Display for RedbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict(key) => write!(f, "conflict on {key}"),
            Self::Database(error) => write!(f, "redb: {error}"),
            Self::Corrupt(what) => write!(f, "corrupt database: {what}"),
            Self::Task(error) => write!(f, "blocking task failed: {error}"),
            Self::UnknownWrite => f.write_str("a kind of write this store does not know"),
        }
    }
}

impl std::error::Error for RedbError {}

impl<E: Into<redb::Error>> From<E> for RedbError {
    fn from(error: E) -> Self {
        Self::Database(error.into())
    }
}

impl From<RedbError> for StoreError {
    fn from(error: RedbError) -> Self {
        match error {
            RedbError::Conflict(key) => Self::Conflict { key },
            RedbError::UnknownWrite => Self::InvalidBatch(BatchError::UnknownWrite),
            other => Self::backend(other),
        }
    }
}

/// A [`Store`] in one redb file.
///
/// Cheap to clone: clones share the database. By default redb locks the
/// file for one writing process (opening it again fails with
/// `DatabaseAlreadyOpen`), so share this store rather than opening the file
/// twice. redb allows one write transaction at a time, which is what makes
/// a commit's check-then-write atomic and linearizable (the contract's
/// concurrency rule).
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    /// Keeps a temporary directory (and the file in it) alive as long as
    /// the store: for tests and demos ([`RedbStore::temporary`]).
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (creating if missing) the database file at `path` and creates
    /// the tables and the revision counter if they are not there yet.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let db = tokio::task::spawn_blocking(move || -> Result<Database, RedbError> {
            let db = Database::create(path)?;
            let tx = db.begin_write()?;
            tx.open_table(RECORDS)?;
            tx.open_table(USERS)?;
            {
                let mut revision = tx.open_table(REVISION)?;
                if revision.get(REVISION_ROW)?.is_none() {
                    revision.insert(REVISION_ROW, 0)?;
                }
            }
            tx.commit()?;
            Ok(db)
        })
        .await
        .map_err(RedbError::Task)??;
        Ok(Self {
            db: Arc::new(db),
            _dir: None,
        })
    }

    /// A store in a fresh file in a new temporary directory, removed when
    /// the last clone of the store is dropped.
    pub async fn temporary() -> Result<Self, StoreError> {
        let dir = tempfile::tempdir().map_err(StoreError::backend)?;
        let store = Self::open(dir.path().join("vault.redb")).await?;
        Ok(Self {
            _dir: Some(Arc::new(dir)),
            ..store
        })
    }

    /// Runs `work` with the database on tokio's blocking pool.
    ///
    /// # Blocking
    ///
    /// redb's API is synchronous: a read touches the page cache or the disk,
    /// and a commit waits for the write lock (held by another commit) and
    /// then for `fsync`. Called inline from an `async fn`, that would stall
    /// the runtime's worker thread and every task queued on it, and a commit
    /// waiting for another commit's lock could stall all workers at once.
    /// `spawn_blocking` moves each transaction to a thread meant for it; the
    /// cost is one hand-off per call and owned arguments (`'static`), which
    /// is small next to an `fsync`. Running inline would only be acceptable
    /// for a store that never waits (in memory, no lock contention).
    ///
    /// Each closure is one whole transaction, begun and finished on the
    /// blocking thread: redb transactions must not be held across an
    /// `.await`.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, RedbError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let result = tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(RedbError::Task)?;
        Ok(result?)
    }
}

/// The stored key of `key`.
fn key_tuple(key: &RecordKey) -> (&str, &str, &str) {
    (key.user.as_str(), key.kind.as_str(), key.id.as_str())
}

/// Every record of `user` and `kind`: one range scan from `(user, kind, "")`,
/// stopping at the first key of another user or kind. The tuple order puts
/// exactly these records next to each other (see [`RECORDS`]).
fn scan(
    table: &redb::ReadOnlyTable<(&'static str, &'static str, &'static str), (u64, &'static [u8])>,
    user: &UserId,
    kind: RecordKind,
) -> Result<Vec<Record>, RedbError> {
    let mut out = Vec::new();
    let start = (user.as_str(), kind.as_str(), "");
    for entry in table.range(start..)? {
        let (stored_key, value) = entry?;
        let (stored_user, stored_kind, id) = stored_key.value();
        if stored_user != user.as_str() || stored_kind != kind.as_str() {
            break;
        }
        let (version, body) = value.value();
        out.push(Record::new(
            RecordKey::new(user, kind, id),
            Version::new(version).ok_or(RedbError::Corrupt("a version of 0"))?,
            // redb hands out a borrow of its page: one copy out of it.
            Bytes::copy_from_slice(body),
        ));
    }
    Ok(out)
}

/// Applies `writes` in one write transaction, or none of them.
fn apply(db: &Database, writes: &[Write]) -> Result<(), RedbError> {
    let tx = db.begin_write()?;
    {
        let mut revision_table = tx.open_table(REVISION)?;
        let revision = revision_table
            .get(REVISION_ROW)?
            .map_or(0, |guard| guard.value())
            .checked_add(1)
            .ok_or(RedbError::Corrupt("the revision counter is exhausted"))?;
        revision_table.insert(REVISION_ROW, revision)?;

        let mut records = tx.open_table(RECORDS)?;
        let mut users = tx.open_table(USERS)?;
        let user = writes
            .first()
            .map(|write| write.key().user.as_str())
            .unwrap_or_default();
        // `check_batch` ran: one user, so one counter row to adjust.
        let mut created: u64 = 0;
        let mut deleted: u64 = 0;
        for write in writes {
            let stored = key_tuple(write.key());
            let current = records
                .get(stored)?
                .and_then(|guard| Version::new(guard.value().0));
            if !write.holds(current) {
                // Dropping an uncommitted write transaction discards it:
                // nothing of the batch, nor the counter increment, lands.
                return Err(RedbError::Conflict(write.key().clone()));
            }
            match write {
                Write::Put { body, expect, .. } => {
                    records.insert(stored, (revision, body.as_slice()))?;
                    if *expect == Expect::Absent {
                        created += 1;
                    }
                }
                Write::Delete { .. } => {
                    records.remove(stored)?;
                    deleted += 1;
                }
                // `Write` is non-exhaustive: a kind of write added later is
                // refused, and dropping the transaction discards the batch.
                _ => return Err(RedbError::UnknownWrite),
            }
        }
        let count = users.get(user)?.map_or(0, |guard| guard.value());
        let count = (count + created)
            .checked_sub(deleted)
            .ok_or(RedbError::Corrupt("a user's record count is too low"))?;
        if count == 0 {
            users.remove(user)?;
        } else {
            users.insert(user, count)?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[async_trait]
impl Store for RedbStore {
    /// All keys in **one read transaction**: redb read transactions are
    /// snapshots, so every record comes from the state one commit left,
    /// never some from before a batch and some from after it. A `get` per
    /// key, each in its own transaction, could see a torn batch.
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        let keys = keys.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(RECORDS)?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let record = match table.get(key_tuple(&key))? {
                    None => None,
                    Some(guard) => {
                        let (version, body) = guard.value();
                        Some(Record::new(
                            key,
                            Version::new(version).ok_or(RedbError::Corrupt("a version of 0"))?,
                            // redb hands out a borrow of its page: one copy out of it.
                            Bytes::copy_from_slice(body),
                        ))
                    }
                };
                out.push(record);
            }
            Ok(out)
        })
        .await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let user = user.clone();
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            scan(&tx.open_table(RECORDS)?, &user, kind)
        })
        .await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        // A second line of defence: the vault checks `limits()` and never
        // sends a batch over them (it answers `Error::TooLarge` instead), so
        // reaching this is a caller bug, refused before the write lock.
        if !self.limits().admits(&writes) {
            return Err(StoreError::InvalidBatch(BatchError::OverLimits));
        }
        self.blocking(move |db| apply(db, &writes)).await
    }

    /// See [`MAX_WRITES`].
    fn limits(&self) -> Limits {
        Limits::new(MAX_WRITES, MAX_BODY_LEN, MAX_BATCH_LEN)
    }

    /// The users of [`USERS`], read back with [`UserId::parse_stored`] so
    /// the vault's reserved ids (`~...`) come back too.
    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.blocking(|db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(USERS)?;
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (user, _) = entry?;
                out.push(
                    UserId::parse_stored(user.value())
                        .map_err(|_| RedbError::Corrupt("a stored user id does not parse"))?,
                );
            }
            Ok(out)
        })
        .await
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let failed = runtime.block_on(async {
        let store = RedbStore::temporary().await.expect("a redb file");
        let mut failed = 0;
        for outcome in conformance::run_all(&store).await {
            match outcome.result {
                Ok(()) => println!("ok     {}", outcome.behaviour),
                Err(message) => {
                    failed += 1;
                    println!("FAILED {}: {message}", outcome.behaviour);
                }
            }
        }
        failed
    });
    println!(
        "{} passed, {failed} failed",
        conformance::BEHAVIOURS.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
