//! Model-based test: random sequences of every public `Vault` operation run
//! against a store and against a plain reference model (maps of what should
//! exist, values in plaintext), comparing every answer, the invariants
//! I1–I7 of `DESIGN.md`, and the stored records after every step.
//!
//! `AGENT_VAULT_MODEL_CASES=N` runs more (or fewer) sequences.

#[path = "model/ops.rs"]
mod ops;
#[path = "model/reference.rs"]
mod reference;
#[path = "model/runner.rs"]
mod runner;

use agent_vault::store::{FaultPlan, FaultyStore, MemoryStore};

use runner::{cases, run_model};

const STEPS: usize = 50;

#[test]
fn memory_store_follows_the_model() {
    let stats = run_model("MemoryStore", cases(1_000), STEPS, |_| MemoryStore::new());
    assert!(
        stats.ok > stats.cases * 10,
        "too few successful steps: {stats:?}"
    );
}

#[test]
fn faulty_store_at_5_percent_follows_the_model() {
    let stats = run_model("FaultyStore(5%)", cases(1_000), STEPS, |seed| {
        FaultyStore::new(MemoryStore::new(), FaultPlan::uniform(0.05, seed))
    });
    assert!(
        stats.store_faults > 0 && stats.ambiguous_applied > 0,
        "{stats:?}"
    );
}
