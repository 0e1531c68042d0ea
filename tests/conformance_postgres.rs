//! The public conformance suite against `PostgresStore`, on a throwaway
//! server this test binary starts (see `tests/support/pg.rs`). Every test
//! has a pool of its own on the shared server and database.

mod support;

use agent_vault::conformance::Handles;
use agent_vault::store::{PostgresStore, Store, StoreError};
use support::pg::PgServer;

async fn store() -> PostgresStore {
    let store = PostgresStore::new(PgServer::shared().pool(20).await);
    store.migrate().await.expect("migrate");
    store
}

/// The store, and a second handle over a pool of its own on the same
/// database (as another process would have), so the concurrency behaviours
/// race and read across the two.
async fn handles() -> Handles {
    let second = PostgresStore::new(PgServer::shared().pool(10).await);
    Handles::new(store().await).with_second(second)
}

agent_vault::conformance_tests!(handles);

/// The whole suite again with every transaction SERIALIZABLE (the default
/// of some Postgres-compatible distributed databases): concurrent commits
/// then fail with serialization errors (SQLSTATE 40001), which the store
/// retries until they resolve into one winner and conflicts.
mod serializable {
    use super::*;
    use sqlx::postgres::PgPoolOptions;

    async fn store() -> PostgresStore {
        let options = PgServer::shared()
            .options()
            .options([("default_transaction_isolation", "serializable")]);
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await
            .expect("connect");
        let level: String = sqlx::query_scalar("SHOW transaction_isolation")
            .fetch_one(&pool)
            .await
            .expect("isolation");
        assert_eq!(level, "serializable");
        let store = PostgresStore::new(pool);
        store.migrate().await.expect("migrate");
        store
    }

    /// Two serializable handles, each over a pool of its own.
    async fn handles() -> Handles {
        Handles::new(store().await).with_second(store().await)
    }

    agent_vault::conformance_tests!(handles);

    /// One handle, as the macro also takes a plain store.
    mod one_handle {
        agent_vault::conformance_tests!(super::store);
    }
}

/// Migrations are idempotent and safe when many run at once (as when
/// several processes start together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_are_safe() {
    let server = PgServer::shared();
    let mut runs = Vec::new();
    for _ in 0..8 {
        let pool = server.pool(2).await;
        runs.push(tokio::spawn(async move {
            PostgresStore::new(pool).migrate().await
        }));
    }
    for run in runs {
        run.await.expect("join").expect("migrate");
    }
    let pool = server.pool(1).await;
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM agent_vault_schema ORDER BY version")
            .fetch_all(&pool)
            .await
            .expect("read schema versions");
    assert_eq!(versions, vec![1, 2], "each migration recorded once");
}

/// A database migrated by a newer library is refused, not misread.
#[tokio::test]
async fn newer_schema_is_refused() {
    // A database of its own, so the other tests keep a current schema.
    let server = PgServer::start();
    let pool = server.pool(2).await;
    let store = PostgresStore::new(pool.clone());
    store.migrate().await.expect("migrate");
    sqlx::query("INSERT INTO agent_vault_schema (version) VALUES (99)")
        .execute(&pool)
        .await
        .expect("pretend a newer library migrated");
    assert!(matches!(store.migrate().await, Err(StoreError::Backend(_))));
    // The store still works on the tables it knows.
    let user = agent_vault::conformance::unique_user("pg-newer");
    let key = agent_vault::store::RecordKey::new(&user, agent_vault::store::RecordKind::Item, "x");
    assert!(store.get(&key).await.expect("get").is_none());
}

/// `connect` takes a URL (here with the socket directory as `host`).
#[tokio::test]
async fn connect_by_url() {
    let server = PgServer::shared();
    let url = format!(
        "postgres://postgres@localhost/{}?host={}",
        support::pg::DATABASE,
        server.socket_dir().display()
    );
    let store = PostgresStore::connect(&url).await.expect("connect by URL");
    agent_vault::conformance::create_is_exclusive(&store).await;
}
