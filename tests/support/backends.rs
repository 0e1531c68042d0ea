//! Every vault behaviour test on every backend, the way rustls runs its
//! tests against every crypto provider.
//!
//! [`on_every_backend!`] takes the names of a file's scenarios, `async fn
//! name<B: Backend>()`, and makes one `#[tokio::test]` of each per backend,
//! in modules `memory`, `sqlite` (feature `sqlite`) and `postgres` (feature
//! `postgres`). A scenario gets a fresh, empty store of its backend from
//! `B::store().await`. Without features (`cargo test`) only `memory` runs.
//! A scenario left off the list is dead code, which the lints refuse.
//!
//! Each store is a database of its own, so a test sees only its own users
//! and records (and `Store::users`, which `rewrap` walks, only those): an
//! in-memory SQLite database, or a schema of its own on the one PostgreSQL
//! server the test binary shares (`tests/support/pg.rs`).

use std::future::Future;

use agent_vault::store::{Record, RecordKind, Store};

/// A backend the vault behaviour tests run on.
pub trait Backend {
    /// Its store.
    type Store: Store + Clone + 'static;

    /// A fresh, empty store of its own.
    fn store() -> impl Future<Output = Self::Store> + Send;
}

/// One test per scenario and backend; see the module docs.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $crate::support::backends::on_backend!(memory, Memory, $($scenario),*);
        #[cfg(feature = "sqlite")]
        $crate::support::backends::on_backend!(sqlite, Sqlite, $($scenario),*);
        #[cfg(feature = "postgres")]
        $crate::support::backends::on_backend!(postgres, Postgres, $($scenario),*);
    };
}
pub(crate) use on_every_backend;

/// One test per scenario in module `$module`, on backend `$backend`. Every
/// test runs on two worker threads, so scenarios that race really race.
macro_rules! on_backend {
    ($module:ident, $backend:ident, $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario::<$crate::support::backends::$backend>().await;
                }
            )*
        }
    };
}
pub(crate) use on_backend;

/// Every record of every user of `store`, in key order: what is at rest, to
/// compare before and after a call (`MemoryStore::snapshot` for any store).
pub async fn snapshot(store: &impl Store) -> Vec<Record> {
    let mut out = Vec::new();
    for user in store.users().await.expect("users") {
        for kind in RecordKind::ALL {
            out.extend(store.list(&user, kind).await.expect("list"));
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// `MemoryStore`.
pub struct Memory;

impl Backend for Memory {
    type Store = agent_vault::store::MemoryStore;

    async fn store() -> Self::Store {
        Self::Store::new()
    }
}

/// `SqliteStore`, each on a private in-memory database.
#[cfg(feature = "sqlite")]
pub struct Sqlite;

#[cfg(feature = "sqlite")]
impl Backend for Sqlite {
    type Store = agent_vault::store::SqliteStore;

    async fn store() -> Self::Store {
        Self::Store::in_memory()
            .await
            .expect("an in-memory SQLite store")
    }
}

/// `PostgresStore`, each in a schema of its own on the shared server.
#[cfg(feature = "postgres")]
pub struct Postgres;

#[cfg(feature = "postgres")]
impl Backend for Postgres {
    type Store = agent_vault::store::PostgresStore;

    /// A new schema on the server this test binary shares, which the
    /// pool's connections put first on their `search_path`, so the store's
    /// tables, sequence and migrations land there. Cheaper than a database
    /// (no template copy) or a server per test.
    async fn store() -> Self::Store {
        use std::sync::atomic::{AtomicUsize, Ordering};

        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let schema = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let options = crate::support::pg::PgServer::shared()
            .options()
            .options([("search_path", schema.as_str())]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("connect to the test PostgreSQL server");
        // A `search_path` may name a schema that does not exist yet.
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .expect("create the test's schema");
        let store = Self::Store::new(pool);
        store.migrate().await.expect("migrate");
        store
    }
}
