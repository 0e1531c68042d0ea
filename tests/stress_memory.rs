//! Concurrency stress test of the vault over `MemoryStore` (wrapped so that
//! tasks interleave at every store call), and proof that the checker catches
//! a store that ignores expected versions.

mod support;

use std::time::Instant;

use agent_vault::Vault;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use support::stores::{BrokenStore, Interleaved};
use support::stress::{self, NAMES, OPS, PROVIDERS, WRITERS, World};

#[test]
fn memory_store_keeps_the_invariants_under_concurrent_writers() {
    let started = Instant::now();
    let runtime = stress::runtime();
    let store = MemoryStore::new();
    let key = MasterKey::generate();
    let setup = Vault::new(Interleaved(store.clone()), Keyring::single(key.clone()));
    let world = runtime.block_on(World::create(&setup, 2, 3, NAMES, PROVIDERS));
    let histories = stress::run_writer_threads(2, WRITERS, &world, OPS, stress::seed(), {
        move |_| {
            let vault = Vault::new(Interleaved(store.clone()), Keyring::single(key.clone()));
            async move { vault }
        }
    });
    let violations = runtime.block_on(stress::check(&setup, &world, &histories));
    stress::report("memory", &histories, &violations);
    eprintln!(
        "memory: {WRITERS} writers x {OPS} ops in {:?}",
        started.elapsed()
    );
}

#[test]
fn checker_catches_a_store_that_ignores_expected_versions() {
    let runtime = stress::runtime();
    let store = MemoryStore::new();
    let key = MasterKey::generate();
    let setup = Vault::new(BrokenStore(store.clone()), Keyring::single(key.clone()));
    // Many writers, few targets: the races the broken store lets through
    // are near certain.
    let world = runtime.block_on(World::create(
        &setup,
        1,
        2,
        &["OPENAI_API_KEY", "API_TOKEN"],
        &PROVIDERS[..1],
    ));
    let histories = stress::run_writer_threads(2, 16, &world, 300, stress::seed(), {
        move |_| {
            let vault = Vault::new(BrokenStore(store.clone()), Keyring::single(key.clone()));
            async move { vault }
        }
    });
    let violations = runtime.block_on(stress::check(&setup, &world, &histories));
    eprintln!(
        "broken store: {} violations by kind: {:?}; e.g.:",
        violations.len(),
        stress::violation_kinds(&violations)
    );
    for violation in violations.iter().take(8) {
        eprintln!("  {violation}");
    }
    assert!(
        !violations.is_empty(),
        "the checker found nothing wrong with a store that ignores expected versions"
    );
    assert!(
        violations.iter().any(|v| v.0.contains("lost update")),
        "the checker reports lost updates"
    );
}
