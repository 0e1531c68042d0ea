//! The public conformance suite against the key-value example backend
//! (`examples/redb_store.rs`, on redb), one fresh database file per test,
//! and a vault on top of it that keeps to the store's declared limits.

#[allow(dead_code)] // The example's `main` and helpers this test does not call.
#[path = "../examples/redb_store.rs"]
mod redb_store;

use std::fmt::Write as _;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use agent_vault::{
    Attachable, Error, ImportAction, ImportOptions, Kind, Name, SecretValue, UserId, Vault,
};
use redb_store::RedbStore;
use secrecy::ExposeSecret as _;

agent_vault::conformance_tests!(|| async { RedbStore::temporary().await.expect("a redb file") });

fn vault(store: RedbStore) -> Vault<RedbStore> {
    Vault::new(store, Keyring::single(MasterKey::generate()))
}

/// Every record of every user, sorted: the whole database, to compare a
/// state before and after a refused operation.
async fn everything(store: &RedbStore) -> Vec<Record> {
    let mut out = Vec::new();
    for user in store.users().await.expect("users") {
        for kind in RecordKind::ALL {
            out.extend(store.list(&user, kind).await.expect("list"));
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// A `.env` file of `lines` new variables `VAR_0=value-0`, ...
fn dotenv_of(lines: usize) -> String {
    let mut text = String::with_capacity(lines * 24);
    for i in 0..lines {
        writeln!(text, "VAR_{i}=value-{i}").expect("writing to a String");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_creates_attaches_and_builds_an_environment() {
    let store = RedbStore::temporary().await.expect("a redb file");
    let vault = vault(store.clone());
    let user = UserId::parse("alice@example.com").expect("user id");
    let name = Name::parse("DATABASE_URL").expect("name");
    vault
        .create_item(
            &user,
            &name,
            Kind::Secret,
            SecretValue::parse("postgres://app:pw@db/app".into()).expect("value"),
        )
        .await
        .expect("create a secret");
    let (agent, token) = vault
        .create_agent(&user, &"builder".parse().unwrap())
        .await
        .expect("agent");
    vault
        .attach(&user, agent.id, &[Attachable::Item(name)])
        .await
        .expect("attach");
    let (env, _) = vault
        .environment(&user, agent.id)
        .await
        .expect("environment");
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k, v.expose_secret())).collect();
    assert!(
        vars.contains(&("DATABASE_URL", "postgres://app:pw@db/app")),
        "the secret reaches the environment"
    );
    assert!(
        vars.contains(&("OPENCLAW_GATEWAY_TOKEN", token.expose_secret())),
        "the gateway token reaches the environment"
    );
    // The user, and the vault's reserved user holding the key check, are
    // both listed.
    let users = store.users().await.expect("users");
    assert!(users.contains(&user), "{users:?}");
    assert!(users.iter().any(UserId::is_reserved), "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_over_the_store_limits_is_refused_whole() {
    let store = RedbStore::temporary().await.expect("a redb file");
    let vault = vault(store.clone());
    let user = UserId::parse("bob").expect("user id");
    // Something already there, so "nothing written" is checked against a
    // non-empty database.
    vault
        .create_item(
            &user,
            &Name::parse("KEEP").expect("name"),
            Kind::Variable,
            SecretValue::parse("kept".into()).expect("value"),
        )
        .await
        .expect("create a variable");
    let before = everything(&store).await;

    // 300 new names: an item and a name index each, 600 writes (plus the
    // user's keys on a first secret), far over the 128 the store takes.
    let error = vault
        .import_dotenv(&user, dotenv_of(300).as_bytes(), &ImportOptions::default())
        .await
        .expect_err("an import of 601 writes into a store that takes 128");
    assert!(
        matches!(error, Error::TooLarge { writes, limits, .. }
            if writes >= 600 && writes > limits.max_writes && limits == store.limits()),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 413);
    assert_eq!(everything(&store).await, before, "nothing was written");

    let report = vault
        .import_dotenv(&user, dotenv_of(50).as_bytes(), &ImportOptions::default())
        .await
        .expect("an import of 50 lines fits");
    assert_eq!(report.count(ImportAction::Create), 50);
    assert_eq!(vault.items(&user).await.expect("list").len(), 51);
}

/// The store refuses a batch over its own limits even from a caller that
/// skips the vault's check: the second line of defence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_a_batch_over_its_limits() {
    let store = RedbStore::temporary().await.expect("a redb file");
    let user = agent_vault::conformance::unique_user("limits");
    let max = store.limits().max_writes;
    let batch = |n: usize| -> Vec<Write> {
        (0..n)
            .map(|i| Write::Put {
                key: RecordKey::new(&user, RecordKind::Item, format!("r{i}")),
                expect: Expect::Absent,
                body: b"x".to_vec(),
            })
            .collect()
    };
    let refused = store.commit(batch(max + 1)).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidBatch(_))),
        "{refused:?}"
    );
    assert!(store.users().await.expect("users").is_empty());

    let too_big = vec![Write::Put {
        key: RecordKey::new(&user, RecordKind::Item, "big"),
        expect: Expect::Absent,
        body: vec![0; store.limits().max_body_len + 1],
    }];
    let refused = store.commit(too_big).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidBatch(_))),
        "{refused:?}"
    );
    assert!(store.users().await.expect("users").is_empty());

    store.commit(batch(max)).await.expect("a full batch fits");
    assert_eq!(
        store
            .list(&user, RecordKind::Item)
            .await
            .expect("list")
            .len(),
        max
    );
}
