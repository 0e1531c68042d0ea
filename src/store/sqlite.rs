//! [`SqliteStore`]: records in one SQLite table, through sqlx (feature
//! `sqlite`, SQLite bundled).
//!
//! ```no_run
//! # async fn demo() -> Result<(), agent_vault::store::StoreError> {
//! use agent_vault::Vault;
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::store::SqliteStore;
//!
//! let store = SqliteStore::open("vault.db").await?; // creates and migrates
//! let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
//! # Ok(()) }
//! ```
//!
//! The schema, locking and migrations are documented on [`SqliteStore`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};

use super::sql::{SqlError, in_key_order, record_from_row};
use super::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write, check_batch};
use crate::UserId;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The migrations, in order, each a list of statements; migration `n`
/// (1-based) brings the schema to `user_version = n`. Append only.
const MIGRATIONS: &[&[&str]] = &[
    &["CREATE TABLE IF NOT EXISTS agent_vault_records (
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        body BLOB NOT NULL,
        PRIMARY KEY (user_id, kind, id)
    ) WITHOUT ROWID"],
    // Versions come from one database-wide revision counter, incremented
    // once per commit, so a key never sees a version twice (schema 1 used
    // `version + 1` and restarted at 1 after a delete). It starts above
    // every version already stored.
    &[
        "CREATE TABLE IF NOT EXISTS agent_vault_revision (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            revision INTEGER NOT NULL CHECK (revision >= 0)
        )",
        "INSERT OR IGNORE INTO agent_vault_revision (id, revision)
            SELECT 1, COALESCE(MAX(version), 0) FROM agent_vault_records",
    ],
];

/// How long a writer waits for the write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Keys per `get_many` query (3 parameters each, far below SQLite's limit).
const KEYS_PER_QUERY: usize = 300;

/// How often opening a file is retried while another opener holds it
/// (10 ms more each time: about 2 s in all).
const OPEN_ATTEMPTS: u32 = 20;

/// Whether SQLite answered "busy" or "locked" (codes 5 and 6, also as
/// extended codes).
fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

/// Connections of a file-backed store's pool.
const FILE_CONNECTIONS: u32 = 8;

/// A [`Store`] in a SQLite database (feature `sqlite`).
///
/// Cheap to clone: clones share the pool.
///
/// # Usage
///
/// ```no_run
/// # async fn demo() -> Result<(), agent_vault::store::StoreError> {
/// use agent_vault::Vault;
/// use agent_vault::crypto::{Keyring, MasterKey};
/// use agent_vault::store::SqliteStore;
///
/// let store = SqliteStore::open("vault.db").await?; // creates and migrates
/// let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
/// # Ok(()) }
/// ```
///
/// A service with a pool of its own passes it to [`SqliteStore::new`] and
/// calls [`SqliteStore::migrate`] once.
///
/// # What it does
///
/// - One table `agent_vault_records (user_id, kind, id, version, body)` with
///   `(user_id, kind, id)` as primary key, created and migrated on open.
///   The schema version is SQLite's `PRAGMA user_version`; migrations are an
///   ordered list, each applied once, inside one `BEGIN IMMEDIATE`
///   transaction, so several processes opening one file at once are safe.
/// - Write-ahead logging (`journal_mode = WAL`), so readers never wait for
///   the writer, `synchronous = FULL` so a commit that returned survives a
///   power cut, and a busy timeout so writers queue instead of failing.
/// - [`Store::commit`] is one `BEGIN IMMEDIATE` transaction: it takes the
///   database's write lock before reading anything, so two connections (or
///   processes) can never both see a version and both write it. It first
///   increments the one-row `agent_vault_revision` counter; every write of
///   the commit gets that number as its version, so versions never repeat
///   for a key, also across delete and re-create. Each write is a
///   conditional `INSERT ... ON CONFLICT DO NOTHING`, `UPDATE ... WHERE
///   version = ?` or `DELETE ... WHERE version = ?`; zero rows changed rolls
///   the whole batch back as a conflict.
/// - Files: created `0600` on Unix whatever the umask (see
///   [`SqliteStore::open`]).
/// - [`Store::get_many`] is one `SELECT` per call (per 300 keys, in one
///   read transaction).
/// - All I/O runs on sqlx's worker threads, never blocking the async runtime.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, in WAL mode,
    /// and brings its schema up to date.
    ///
    /// On Unix the file is created with mode `0600` whatever the umask, and
    /// an existing file (and its `-wal` and `-shm` companions) that group or
    /// others may read is narrowed to `0600`: it holds variables in
    /// plaintext and the envelopes of every secret. SQLite creates the
    /// companions with the database file's own mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        private_files::secure(path).map_err(StoreError::backend)?;
        let options = Self::tune(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        );
        // Several processes opening a new file at once race to switch it to
        // WAL, and SQLite answers that switch with "database is locked" at
        // once, without waiting for the busy timeout: try again shortly.
        let mut attempt = 0;
        loop {
            let opened = SqlitePoolOptions::new()
                .max_connections(FILE_CONNECTIONS)
                .connect_with(options.clone())
                .await;
            match opened {
                Ok(pool) => return Self::migrated(pool).await,
                Err(error) if is_busy(&error) && attempt < OPEN_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                }
                Err(error) => return Err(SqlError::from(error).into()),
            }
        }
    }

    /// A private database in memory, gone when the store is dropped: for
    /// tests and demos. It runs on one connection (an in-memory database
    /// lives and dies with its connection), so calls queue.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(SqlError::from)?
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(SqlError::from)?;
        Self::migrated(pool).await
    }

    /// A store over a pool the service already has. Nothing is checked or
    /// created: call [`SqliteStore::migrate`] once before use. Configure
    /// the pool's connections with [`SqliteStore::tune`] (or equivalent
    /// settings) for WAL and a busy timeout.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The settings this store opens its connections with: WAL, `synchronous
    /// = FULL`, a 30 s busy timeout. For a service building its own pool.
    pub fn tune(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
    }

    /// The pool, for a service that wants to share it.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the table or migrates it to the current schema version.
    /// Idempotent; safe when several processes open one file at once.
    /// Fails if the database was migrated by a newer version of this library.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Boxed as `Send` here, where the lifetimes are concrete: sqlx's
        // executor bounds otherwise keep callers from proving it (and from
        // spawning this future).
        let migrations: BoxFuture<'_, Result<(), SqlError>> = Box::pin(self.run_migrations());
        Ok(migrations.await?)
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn run_migrations(&self) -> Result<(), SqlError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let found: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        let known = MIGRATIONS.len();
        if found > known as i64 {
            return Err(SqlError::SchemaTooNew { found, known });
        }
        let done = usize::try_from(found).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(done) {
            for statement in *migration {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            // PRAGMA takes no bind parameters; the number is ours.
            sqlx::query(&format!("PRAGMA user_version = {}", index + 1))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply(&self, writes: &[Write]) -> Result<(), SqlError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // The commit's version: under the write lock, so no other commit
        // can take the same number.
        let revision: i64 = sqlx::query_scalar(
            "UPDATE agent_vault_revision SET revision = revision + 1 WHERE id = 1 \
             RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        for write in writes {
            if !apply_one(&mut tx, write, revision).await? {
                // Dropping the transaction rolls it back; do it now to free
                // the write lock at once.
                tx.rollback().await?;
                return Err(SqlError::Conflict(write.key().clone()));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn read_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, SqlError> {
        let mut out = Vec::with_capacity(keys.len());
        if keys.len() <= KEYS_PER_QUERY {
            let mut conn = self.pool.acquire().await?;
            out.extend(read_chunk(&mut conn, keys).await?);
        } else {
            // Several queries: one read transaction makes them one snapshot.
            let mut tx = self.pool.begin().await?;
            for chunk in keys.chunks(KEYS_PER_QUERY) {
                out.extend(read_chunk(&mut tx, chunk).await?);
            }
            tx.commit().await?;
        }
        Ok(out)
    }
}

/// One `SELECT` for up to [`KEYS_PER_QUERY`] keys, answered in key order.
async fn read_chunk(
    conn: &mut SqliteConnection,
    keys: &[RecordKey],
) -> Result<Vec<Option<Record>>, SqlError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::from(
        "SELECT user_id, kind, id, version, body FROM agent_vault_records \
         WHERE (user_id, kind, id) IN (VALUES ",
    );
    for i in 0..keys.len() {
        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
    }
    sql.push(')');
    let mut query = sqlx::query(&sql);
    for key in keys {
        query = query
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    in_key_order(keys, rows)
}

/// Applies one write, giving a put the version `revision`; `false` if its
/// expectation does not hold.
async fn apply_one(
    tx: &mut Transaction<'_, Sqlite>,
    write: &Write,
    revision: i64,
) -> Result<bool, SqlError> {
    let key = write.key();
    let query = match write {
        Write::Put {
            expect: Expect::Absent,
            body,
            ..
        } => sqlx::query(
            "INSERT INTO agent_vault_records (user_id, kind, id, version, body) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(key.user.as_str())
        .bind(key.kind.as_str())
        .bind(key.id.as_str())
        .bind(revision)
        .bind(body.as_slice()),
        Write::Put {
            expect: Expect::Version(expected),
            body,
            ..
        } => {
            let Ok(expected) = i64::try_from(expected.get()) else {
                // No stored version is that large.
                return Ok(false);
            };
            sqlx::query(
                "UPDATE agent_vault_records SET version = ?, body = ? \
                 WHERE user_id = ? AND kind = ? AND id = ? AND version = ?",
            )
            .bind(revision)
            .bind(body.as_slice())
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .bind(expected)
        }
        Write::Delete { expect, .. } => {
            let Ok(expected) = i64::try_from(expect.get()) else {
                return Ok(false);
            };
            sqlx::query(
                "DELETE FROM agent_vault_records \
                 WHERE user_id = ? AND kind = ? AND id = ? AND version = ?",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .bind(expected)
        }
    };
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

/// Keeps the database files private to their owner (Unix modes).
mod private_files {
    use std::io;
    use std::path::{Path, PathBuf};

    /// Creates `path` with mode `0600` if it is missing, and narrows the
    /// database file and its `-wal`/`-shm` companions to `0600` where group
    /// or others have any permission.
    #[cfg(unix)]
    pub(super) fn secure(path: &Path) -> io::Result<()> {
        use std::fs::{self, OpenOptions, Permissions};
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        for file in [
            path.to_owned(),
            companion(path, "-wal"),
            companion(path, "-shm"),
        ] {
            let Ok(metadata) = fs::metadata(&file) else {
                continue;
            };
            if metadata.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(&file, Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }

    #[cfg(not(unix))]
    pub(super) fn secure(_path: &Path) -> io::Result<()> {
        Ok(())
    }

    #[cfg(unix)]
    fn companion(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT version, body FROM agent_vault_records \
             WHERE user_id = ? AND kind = ? AND id = ?",
        )
        .bind(key.user.as_str())
        .bind(key.kind.as_str())
        .bind(key.id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(SqlError::from)?;
        Ok(row
            .map(|row| record_from_row(key.clone(), &row))
            .transpose()?)
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        Ok(self.read_many(keys).await?)
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, body FROM agent_vault_records WHERE user_id = ? AND kind = ?",
        )
        .bind(user.as_str())
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(SqlError::from)?;
        let records = rows
            .iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                record_from_row(RecordKey::new(user, kind, id), row)
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        Ok(records)
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        Ok(self.apply(&writes).await?)
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT user_id FROM agent_vault_records")
            .fetch_all(&self.pool)
            .await
            .map_err(SqlError::from)?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("user_id").map_err(SqlError::from)?;
                // Only the vault writes this column, from parsed ids.
                UserId::parse_stored(&id).map_err(StoreError::backend)
            })
            .collect()
    }
}

#[cfg(test)]
mod format_doc {
    /// `docs/FORMAT.md` §6.9 gives every statement of every migration.
    #[test]
    fn format_doc_gives_every_migration() {
        let doc = crate::store::check_format_doc_migrations(super::MIGRATIONS);
        assert!(doc.contains("`PRAGMA user_version` counts the applied migrations"));
    }
}
