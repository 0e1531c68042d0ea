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
    let stats = run_model("MemoryStore", cases(1_000), STEPS, |_| async {
        MemoryStore::new()
    });
    assert!(
        stats.ok > stats.cases * 10,
        "too few successful steps: {stats:?}"
    );
}

#[test]
fn faulty_store_at_5_percent_follows_the_model() {
    let stats = run_model("FaultyStore(5%)", cases(1_000), STEPS, |seed| async move {
        FaultyStore::new(MemoryStore::new(), FaultPlan::uniform(0.05, seed))
    });
    assert!(
        stats.store_faults > 0 && stats.ambiguous_applied > 0,
        "{stats:?}"
    );
}

/// The same model over SQLite (in memory; fewer sequences: each step is a
/// few dozen SQL statements). `AGENT_VAULT_MODEL_CASES` scales it too.
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_follows_the_model() {
    use agent_vault::store::SqliteStore;
    let stats = run_model("SqliteStore", cases(1_000) / 10, STEPS, |_| async {
        SqliteStore::in_memory()
            .await
            .expect("an in-memory SQLite store")
    });
    assert!(
        stats.ok > stats.cases * 10,
        "too few successful steps: {stats:?}"
    );
}

/// SQLite through `FaultyStore` at 5%.
#[cfg(feature = "sqlite")]
#[test]
fn faulty_sqlite_store_at_5_percent_follows_the_model() {
    use agent_vault::store::SqliteStore;
    let stats = run_model(
        "FaultyStore(SqliteStore, 5%)",
        cases(1_000) / 10,
        STEPS,
        |seed| async move {
            let store = SqliteStore::in_memory()
                .await
                .expect("an in-memory SQLite store");
            FaultyStore::new(store, FaultPlan::uniform(0.05, seed))
        },
    );
    assert!(stats.store_faults > 0, "{stats:?}");
}

/// Found while building the model: a connection removed and connected again
/// (with another key) has the address and the revision (1) the deployment
/// recorded, so `status` called it synced although the running agent had
/// the old key. It is stale now.
#[tokio::test]
async fn a_connection_connected_again_after_a_deployment_is_stale() {
    use agent_vault::crypto::{Keyring, MasterKey};
    use agent_vault::{
        Attachable, ConnectionId, Credential, Provider, SecretValue, SyncState, UserId, Vault,
    };
    use secrecy::SecretString;

    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let user = UserId::parse("alice").unwrap();
    let key = |k: &str| {
        Credential::api_key(
            Provider::Anthropic,
            SecretValue::parse(SecretString::from(k)).unwrap(),
        )
        .unwrap()
    };
    let conn = [Attachable::parse("provider:anthropic").unwrap()];
    vault
        .create_connection(&user, &key("old-key"))
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&user, &"a".parse().unwrap())
        .await
        .unwrap();
    vault.attach(&user, agent.id, &conn).await.unwrap();
    let (_, receipt) = vault.environment(&user, agent.id).await.unwrap();
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    assert!(!vault.status(&user, agent.id).await.unwrap().restart_needed);

    vault.detach(&user, agent.id, &conn).await.unwrap();
    let id = ConnectionId::parse("anthropic").unwrap();
    vault.delete_connection(&user, id).await.unwrap();
    // At once (no clock can tell them apart): the same address, the same
    // revision 1, another instance.
    let again = vault
        .create_connection(&user, &key("new-key"))
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    vault.attach(&user, agent.id, &conn).await.unwrap();
    let status = vault.status(&user, agent.id).await.unwrap();
    assert!(status.restart_needed);
    assert_eq!(status.items[0].state, SyncState::Stale);
}
