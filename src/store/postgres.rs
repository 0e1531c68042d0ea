//! [`PostgresStore`]: records in one PostgreSQL table, through sqlx
//! (feature `postgres`).
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), agent_vault::store::StoreError> {
//! use agent_vault::Vault;
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::store::PostgresStore;
//!
//! let store = PostgresStore::new(pool); // the pool the service has
//! store.migrate().await?; // once at start-up; idempotent
//! let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
//! # Ok(()) }
//! ```
//!
//! What it needs from the database (one table, `CREATE` on first migrate,
//! READ COMMITTED or stronger, row-level conditional updates) and how it
//! commits are documented on [`PostgresStore`].

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use sqlx::postgres::PgPool;
use sqlx::{Row as _, Transaction};

use super::sql::{SqlError, in_key_order, record_from_row};
use super::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write, check_batch};
use crate::UserId;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The migrations, in order, each a list of statements; migration `n`
/// (1-based) is recorded as version `n` in `agent_vault_schema`. Append only.
const MIGRATIONS: &[&[&str]] = &[
    &["CREATE TABLE IF NOT EXISTS agent_vault_records (
        user_id TEXT COLLATE \"C\" NOT NULL,
        kind TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL CHECK (version > 0),
        body BYTEA NOT NULL,
        PRIMARY KEY (user_id, kind, id)
    )"],
    // Versions come from one sequence, so a key never sees a version twice
    // (schema 1 used `version + 1` and restarted at 1 after a delete). It
    // starts above every version already stored.
    &[
        "CREATE SEQUENCE IF NOT EXISTS agent_vault_revision AS BIGINT MINVALUE 1",
        "SELECT setval('agent_vault_revision', \
            GREATEST((SELECT COALESCE(MAX(version), 0) FROM agent_vault_records), 1))",
    ],
];

/// The advisory lock key that serialises migrations (`"agentvlt"`).
const MIGRATION_LOCK: i64 = 0x6167_656e_7476_6c74;

/// How many times a statement or commit is tried when the database aborts
/// it for a serialization failure or deadlock.
const MAX_ATTEMPTS: usize = 5;

/// Runs `attempt` until it succeeds, fails for a reason other than a
/// serialization failure or deadlock, or has been tried [`MAX_ATTEMPTS`]
/// times. At SERIALIZABLE even a single read can be chosen as the victim of
/// a read/write dependency cycle, so reads go through here as well as
/// commits. The last failure is reported as it is: a driver error, so
/// [`StoreError::Backend`], never a conflict.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, SqlError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SqlError>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(error) if is_serialization_failure(&error) && tried < MAX_ATTEMPTS => tried += 1,
            other => return other,
        }
    }
}

/// A serialization failure or deadlock (SQLSTATE `40001`, `40P01`): the
/// transaction was rolled back and may be tried again.
fn is_serialization_failure(error: &SqlError) -> bool {
    match error {
        SqlError::Driver(sqlx::Error::Database(error)) => {
            matches!(error.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

/// A [`Store`] in a PostgreSQL database (feature `postgres`).
///
/// Cheap to clone: clones share the pool.
///
/// # Usage
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), agent_vault::store::StoreError> {
/// use agent_vault::Vault;
/// use agent_vault::crypto::{Keyring, MasterKey};
/// use agent_vault::store::PostgresStore;
///
/// // With the pool the service already has:
/// let store = PostgresStore::new(pool);
/// store.migrate().await?; // once at start-up; idempotent
/// let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
///
/// // Or from a URL (connects and migrates):
/// let store = PostgresStore::connect("postgres://vault@db.internal/app").await?;
/// # Ok(()) }
/// ```
///
/// # What it needs from the database
///
/// - **One table**, `agent_vault_records (user_id, kind, id, version, body)`
///   with `(user_id, kind, id)` as primary key, the sequence
///   `agent_vault_revision` that every new version is drawn from (so a
///   version never repeats for a key, also across delete and re-create),
///   plus the bookkeeping table `agent_vault_schema` that records which
///   migrations ran. Nothing else: no extensions, functions or triggers.
/// - **A role with `CREATE`** on the schema the first time
///   [`PostgresStore::migrate`] runs (and whenever a new version of this
///   library adds a migration); afterwards `SELECT`, `INSERT`, `UPDATE` and
///   `DELETE` on the two tables and `USAGE` on the sequence are enough.
/// - **READ COMMITTED or stronger.** Every write of a commit is a
///   conditional statement that is atomic per row (`INSERT ... ON CONFLICT
///   DO NOTHING`, `UPDATE ... WHERE version = $n`, `DELETE ... WHERE version
///   = $n`) and keeps its row locked until the transaction ends, so at READ
///   COMMITTED two commits expecting one version can never both succeed. At
///   SERIALIZABLE (the default of some distributed databases), serialization
///   failures and deadlocks (SQLSTATE `40001`, `40P01`) of commits and of
///   reads alike are retried a few times before they are reported as
///   [`StoreError::Backend`].
/// - It works on Postgres-compatible distributed SQL databases that support
///   row-level conditional updates and `INSERT ... ON CONFLICT DO NOTHING`.
///
/// # What it does
///
/// - [`PostgresStore::migrate`] applies an ordered list of migrations in one
///   transaction under `pg_advisory_xact_lock`, so several processes may run
///   it at once; it refuses a schema newer than the library knows.
/// - [`Store::commit`] is one transaction: `BEGIN`, one statement per write
///   (in key order, so concurrent batches lock rows in the same order and
///   cannot deadlock each other), `COMMIT`. A write that changes zero rows
///   rolls the transaction back and is reported as a conflict.
/// - [`Store::get`] and [`Store::list`] are one statement each;
///   [`Store::get_many`] is one statement whatever the number of keys.
/// - Migrations run at READ COMMITTED whatever the database's default, so
///   a process that waited for the lock sees what the previous one did.
///
/// # Round trips
///
/// Each call takes one connection from the pool. With sqlx's default
/// `test_before_acquire(true)` the pool pings an idle connection before
/// handing it out, one more round trip per call; a service that prefers
/// latency to that check can turn it off on the pool it passes in. A commit
/// of `n` writes is `n + 2` statements (`BEGIN`, the writes, `COMMIT`).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A store over the pool the service already has. Nothing is checked or
    /// created: call [`PostgresStore::migrate`] once before use.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Connects a pool to `url` (a `postgres://` URL as libpq takes it) and
    /// brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPool::connect(url).await.map_err(SqlError::from)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the table or migrates it to the current schema version.
    ///
    /// Idempotent, and safe when several processes run it at once (they
    /// take turns under an advisory lock). Fails if the database was
    /// migrated by a newer version of this library.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Boxed as `Send` here, where the lifetimes are concrete: sqlx's
        // executor bounds otherwise keep callers from proving it (and from
        // spawning this future).
        let migrations: BoxFuture<'_, Result<(), SqlError>> = Box::pin(self.run_migrations());
        Ok(migrations.await?)
    }

    async fn run_migrations(&self) -> Result<(), SqlError> {
        // READ COMMITTED whatever the database's default: each statement
        // after the lock must see what the previous lock holder committed,
        // which a snapshot taken before the lock (REPEATABLE READ,
        // SERIALIZABLE) would not.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS agent_vault_schema (
                version INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .execute(&mut *tx)
        .await?;
        let found: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM agent_vault_schema")
            .fetch_one(&mut *tx)
            .await?;
        let found = found.unwrap_or(0);
        let known = MIGRATIONS.len();
        if i64::from(found) > known as i64 {
            return Err(SqlError::SchemaTooNew {
                found: i64::from(found),
                known,
            });
        }
        let done = usize::try_from(found).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(done) {
            for statement in *migration {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO agent_vault_schema (version) VALUES ($1)")
                .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply(&self, writes: &[Write]) -> Result<(), SqlError> {
        // One lock order for every batch: no deadlock between our commits.
        let mut ordered: Vec<&Write> = writes.iter().collect();
        ordered.sort_by(|a, b| a.key().cmp(b.key()));
        retrying(|| self.apply_once(&ordered)).await
    }

    async fn apply_once(&self, writes: &[&Write]) -> Result<(), SqlError> {
        let mut tx = self.pool.begin().await?;
        for write in writes {
            if !apply_one(&mut tx, write).await? {
                tx.rollback().await?;
                return Err(SqlError::Conflict(write.key().clone()));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn read_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, SqlError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<String> = keys.iter().map(|k| k.user.as_str().to_owned()).collect();
        let kinds: Vec<String> = keys.iter().map(|k| k.kind.as_str().to_owned()).collect();
        let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
        let rows = sqlx::query(
            "SELECT r.user_id, r.kind, r.id, r.version, r.body \
             FROM agent_vault_records r \
             JOIN UNNEST($1::text[], $2::text[], $3::text[]) AS k(user_id, kind, id) \
               ON r.user_id = k.user_id AND r.kind = k.kind AND r.id = k.id",
        )
        .bind(users)
        .bind(kinds)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        in_key_order(keys, rows)
    }
}

/// Applies one write; `false` if its expectation does not hold.
async fn apply_one(
    tx: &mut Transaction<'_, sqlx::Postgres>,
    write: &Write,
) -> Result<bool, SqlError> {
    let key = write.key();
    let query = match write {
        Write::Put {
            expect: Expect::Absent,
            body,
            ..
        } => sqlx::query(
            "INSERT INTO agent_vault_records (user_id, kind, id, version, body) \
             VALUES ($1, $2, $3, nextval('agent_vault_revision'), $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(key.user.as_str())
        .bind(key.kind.as_str())
        .bind(key.id.as_str())
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
                "UPDATE agent_vault_records \
                 SET version = nextval('agent_vault_revision'), body = $4 \
                 WHERE user_id = $1 AND kind = $2 AND id = $3 AND version = $5",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .bind(body.as_slice())
            .bind(expected)
        }
        Write::Delete { expect, .. } => {
            let Ok(expected) = i64::try_from(expect.get()) else {
                return Ok(false);
            };
            sqlx::query(
                "DELETE FROM agent_vault_records \
                 WHERE user_id = $1 AND kind = $2 AND id = $3 AND version = $4",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .bind(expected)
        }
    };
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        let row = retrying(|| async {
            Ok(sqlx::query(
                "SELECT version, body FROM agent_vault_records \
                 WHERE user_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .fetch_optional(&self.pool)
            .await?)
        })
        .await?;
        Ok(row
            .map(|row| record_from_row(key.clone(), &row))
            .transpose()?)
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        Ok(retrying(|| self.read_many(keys)).await?)
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let rows = retrying(|| async {
            Ok(sqlx::query(
                "SELECT id, version, body FROM agent_vault_records \
                 WHERE user_id = $1 AND kind = $2",
            )
            .bind(user.as_str())
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?)
        })
        .await?;
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
        let rows = retrying(|| async {
            Ok(
                sqlx::query("SELECT DISTINCT user_id FROM agent_vault_records")
                    .fetch_all(&self.pool)
                    .await?,
            )
        })
        .await?;
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
        assert!(doc.contains(&format!("`0x{:016x}`", super::MIGRATION_LOCK)));
        assert!(doc.contains("CREATE TABLE IF NOT EXISTS agent_vault_schema ( version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now() );"));
    }
}
