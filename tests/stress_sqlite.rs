//! Concurrency stress test of the vault over `SqliteStore`: writers on
//! threads of their own, each with its own pool (its own connections) to
//! one database file in WAL mode.

mod support;

use std::time::Instant;

use agent_vault::Vault;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::SqliteStore;
use support::stress::{self, NAMES, OPS, PROVIDERS, WRITERS, World};

#[test]
fn sqlite_store_keeps_the_invariants_under_concurrent_writers() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stress.db");
    let runtime = stress::runtime();
    let key = MasterKey::generate();
    let setup_store = runtime.block_on(SqliteStore::open(&path)).expect("open");
    let setup = Vault::new(setup_store, Keyring::single(key.clone()));
    let world = runtime.block_on(World::create(&setup, 2, 3, NAMES, PROVIDERS));
    let writer_path = path.clone();
    let histories = stress::run_writer_threads(WRITERS, WRITERS, &world, OPS, stress::seed(), {
        move |_| {
            let path = writer_path.clone();
            let key = key.clone();
            async move {
                let store = SqliteStore::open(&path).await.expect("open");
                Vault::new(store, Keyring::single(key))
            }
        }
    });
    let violations = runtime.block_on(stress::check(&setup, &world, &histories));
    stress::report("sqlite", &histories, &violations);
    eprintln!(
        "sqlite: {WRITERS} writers x {OPS} ops in {:?}",
        started.elapsed()
    );
}
