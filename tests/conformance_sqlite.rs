//! The public conformance suite against `SqliteStore`: a file in WAL mode
//! shared by every test (each behaviour uses users of its own), and a
//! private in-memory database.

use std::path::PathBuf;
use std::sync::OnceLock;

use agent_vault::store::SqliteStore;

/// One database file for the whole test binary, removed with the temp dir
/// when the process ends (the directory handle lives in a static).
fn shared_path() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .join("conformance.db")
}

async fn file_store() -> SqliteStore {
    SqliteStore::open(shared_path())
        .await
        .expect("open the SQLite file")
}

agent_vault::conformance_tests!(file_store);

/// A database file of its own per test, opened twice (two pools, as two
/// processes would), with its temp dir kept alive as the guard: the
/// concurrency behaviours race and read across the two handles.
mod two_handles {
    use agent_vault::conformance::Handles;
    use agent_vault::store::SqliteStore;

    async fn handles() -> Handles {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("two-handles.db");
        let first = SqliteStore::open(&path)
            .await
            .expect("open the SQLite file");
        let second = SqliteStore::open(&path)
            .await
            .expect("open the SQLite file again");
        Handles::new(first).with_second(second).with_guard(dir)
    }

    agent_vault::conformance_tests!(handles);
}

mod in_memory {
    use super::SqliteStore;

    agent_vault::conformance_tests!(|| async {
        SqliteStore::in_memory()
            .await
            .expect("open an in-memory SQLite")
    });
}

/// Opening runs the migrations once; opening again (from another pool, as
/// another process would) finds the schema current and keeps the data.
#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    use agent_vault::store::{Expect, RecordKey, RecordKind, Store, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("reopen.db");
    let user = agent_vault::conformance::unique_user("reopen");
    let key = RecordKey::new(&user, RecordKind::Item, "x");
    {
        let store = SqliteStore::open(&path).await.expect("open");
        store
            .commit(vec![Write::Put {
                key: key.clone(),
                expect: Expect::Absent,
                body: b"kept".to_vec(),
            }])
            .await
            .expect("commit");
        store.migrate().await.expect("migrate again");
        store.pool().close().await;
    }
    let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    let (a, b) = (a.expect("open a"), b.expect("open b"));
    let record = a.get(&key).await.expect("get").expect("present");
    assert_eq!(record.body, &b"kept"[..]);
    assert_eq!(
        b.get(&key).await.expect("get").map(|r| r.version),
        Some(record.version)
    );
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(a.pool())
        .await
        .expect("pragma");
    assert_eq!(journal, "wal");
    let schema: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(a.pool())
        .await
        .expect("pragma");
    assert_eq!(schema, 2);
}

/// A database of schema 1 (versions counted per record from 1) upgrades to
/// the revision counter, which starts above every stored version: no key
/// can get back a version it had.
#[tokio::test]
async fn schema_1_upgrades_without_reusing_versions() {
    use agent_vault::store::{Expect, RecordKey, RecordKind, Store, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v1.db");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
        sqlx::raw_sql(
            "CREATE TABLE agent_vault_records (
                user_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
                version INTEGER NOT NULL CHECK (version > 0), body BLOB NOT NULL,
                PRIMARY KEY (user_id, kind, id)) WITHOUT ROWID;
             INSERT INTO agent_vault_records VALUES ('u', 'item', 'a', 7, x'01');
             PRAGMA user_version = 1;",
        )
        .execute(&pool)
        .await
        .expect("schema 1");
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.expect("open and migrate");
    let user = agent_vault::UserId::parse("u").expect("user");
    let key = RecordKey::new(&user, RecordKind::Item, "a");
    let old = store.get(&key).await.expect("get").expect("kept").version;
    assert_eq!(old.get(), 7);
    store
        .commit(vec![Write::Delete {
            key: key.clone(),
            expect: old,
        }])
        .await
        .expect("delete");
    store
        .commit(vec![Write::Put {
            key: key.clone(),
            expect: Expect::Absent,
            body: b"again".to_vec(),
        }])
        .await
        .expect("re-create");
    let new = store
        .get(&key)
        .await
        .expect("get")
        .expect("present")
        .version;
    assert!(
        new.get() > 7,
        "re-created at {new:?}, which the record had before"
    );
}

/// A database migrated by a newer library is refused, not misread.
#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("newer.db");
    let store = SqliteStore::open(&path).await.expect("open");
    sqlx::raw_sql("PRAGMA user_version = 99")
        .execute(store.pool())
        .await
        .expect("pragma");
    store.pool().close().await;
    let reopened = SqliteStore::open(&path).await;
    assert!(matches!(
        reopened,
        Err(agent_vault::store::StoreError::Backend(_))
    ));
}
