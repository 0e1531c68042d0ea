//! Master keys: a wrong key never writes (I9), a key change during a
//! retire is never undone, and a rewrap survives a user-key rotation.

use std::sync::{Arc, OnceLock, Weak};

use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{
    Attachable, Credential, Error, ImportOptions, Kind, Name, OnConflict, Provider, RewrapOptions,
    SecretValue, UserId, Vault,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::hooks::HookStore;

fn user() -> UserId {
    UserId::parse("operator-victim").unwrap()
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

fn is_mismatch(result: Result<impl std::fmt::Debug, Error>, what: &str) {
    match result {
        Err(Error::KeyMismatch { key: KeyId(1) }) => {}
        other => panic!("{what}: expected KeyMismatch for key 1, got {other:?}"),
    }
}

#[tokio::test]
async fn a_mistyped_master_key_never_writes_and_never_reads() {
    let store = MemoryStore::new();
    let right = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    right
        .create_item(&user(), &name("API_TOKEN"), Kind::Secret, value("s3cret"))
        .await
        .unwrap();
    right
        .create_item(
            &user(),
            &name("PUBLIC_URL"),
            Kind::Variable,
            value("https://x"),
        )
        .await
        .unwrap();
    right
        .create_connection(
            &user(),
            &Credential::api_key(
                Provider::Venice,
                SecretValue::parse(SecretString::from("vk-1")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let (agent, _) = right
        .create_agent(&user(), &"bot".parse().unwrap())
        .await
        .unwrap();
    right
        .attach(
            &user(),
            agent.id,
            &[Attachable::parse("API_TOKEN").unwrap()],
        )
        .await
        .unwrap();
    let (_, receipt) = right.environment(&user(), agent.id).await.unwrap();
    let before = store.snapshot();

    // The same id, other bytes: a typo in the key, or another deployment's.
    let wrong = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let u = &user();
    is_mismatch(
        wrong
            .create_item(u, &name("NEW"), Kind::Secret, value("x"))
            .await,
        "create secret",
    );
    is_mismatch(
        wrong
            .create_item(u, &name("NEW_VAR"), Kind::Variable, value("x"))
            .await,
        "create variable",
    );
    is_mismatch(
        wrong.update_item(u, &name("API_TOKEN"), value("y")).await,
        "update",
    );
    is_mismatch(wrong.delete_item(u, &name("PUBLIC_URL")).await, "delete");
    let openai = Credential::api_key(
        Provider::OpenAi,
        SecretValue::parse(SecretString::from("sk-x")).unwrap(),
    )
    .unwrap();
    is_mismatch(wrong.create_connection(u, &openai).await, "connect");
    let venice = Credential::api_key(
        Provider::Venice,
        SecretValue::parse(SecretString::from("vk-2")).unwrap(),
    )
    .unwrap();
    is_mismatch(
        wrong.update_connection(u, &venice).await,
        "update connection",
    );
    is_mismatch(
        wrong.delete_connection(u, venice.connection_id()).await,
        "disconnect",
    );
    is_mismatch(
        wrong.create_agent(u, &"other".parse().unwrap()).await,
        "create agent",
    );
    is_mismatch(
        wrong
            .attach(u, agent.id, &[Attachable::parse("PUBLIC_URL").unwrap()])
            .await,
        "attach",
    );
    is_mismatch(
        wrong
            .detach(u, agent.id, &[Attachable::parse("API_TOKEN").unwrap()])
            .await,
        "detach",
    );
    is_mismatch(
        wrong.rotate_gateway_token(u, agent.id).await,
        "rotate token",
    );
    is_mismatch(wrong.delete_agent(u, agent.id).await, "delete agent");
    let options = ImportOptions::default().on_conflict(OnConflict::Overwrite);
    is_mismatch(
        wrong
            .import_dotenv(u, b"API_TOKEN=z\nFRESH=1\n", &options)
            .await,
        "import",
    );
    is_mismatch(wrong.rotate_user_key(u).await, "rotate user key");
    is_mismatch(
        wrong.rewrap(&RewrapOptions::default(), &mut |_| {}).await,
        "rewrap",
    );
    is_mismatch(
        wrong.record_deployment(u, &receipt).await,
        "record deployment",
    );
    // Reads that would open a sealed value say why, not "decryption failed".
    is_mismatch(wrong.environment(u, agent.id).await, "environment");
    is_mismatch(wrong.gateway_token(u, agent.id).await, "gateway token");
    is_mismatch(
        wrong.verify_gateway_token(u, agent.id, "avgt_x").await,
        "verify token",
    );
    assert_eq!(error_status(&wrong).await, 503);

    assert!(
        store.snapshot() == before,
        "a vault with a wrong master key changed stored records"
    );
    // The right key still opens everything.
    let (env, _) = right.environment(&user(), agent.id).await.unwrap();
    assert_eq!(env.get("API_TOKEN").unwrap().expose_secret(), "s3cret");
}

async fn error_status(vault: &Vault<MemoryStore>) -> u16 {
    vault
        .create_item(&user(), &name("Z"), Kind::Variable, value("z"))
        .await
        .unwrap_err()
        .http_status()
}

#[tokio::test]
async fn a_new_key_id_is_accepted_and_its_check_value_then_binds_it() {
    let store = MemoryStore::new();
    let first = MasterKey::generate();
    let vault = Vault::new(store.clone(), Keyring::single(first.clone()));
    vault
        .create_item(&user(), &name("A"), Kind::Secret, value("1"))
        .await
        .unwrap();
    let second = MasterKey::generate();
    let mut ring = Keyring::single(first.clone());
    ring.add(KeyId(2), second.clone()).unwrap();
    ring.promote(KeyId(2)).unwrap();
    vault.set_keyring(ring);
    vault
        .create_item(&user(), &name("B"), Kind::Secret, value("2"))
        .await
        .unwrap();
    assert_eq!(vault.key_usage().await.unwrap().get(&KeyId(2)), Some(&1));

    // Another replica with a different key 2 is now refused.
    let mut other = Keyring::single(first);
    other.add(KeyId(2), MasterKey::generate()).unwrap();
    let replica = Vault::new(store, other);
    match replica
        .create_item(&user(), &name("C"), Kind::Variable, value("3"))
        .await
    {
        Err(Error::KeyMismatch { key: KeyId(2) }) => {}
        other => panic!("expected KeyMismatch for key 2, got {other:?}"),
    }
}

type RacedVault = Vault<Arc<HookStore<MemoryStore>>>;

#[tokio::test]
async fn retire_never_undoes_a_key_promoted_during_its_scan() {
    let (one, two, three) = (
        MasterKey::generate(),
        MasterKey::generate(),
        MasterKey::generate(),
    );
    let mut ring = Keyring::single(one);
    ring.add(KeyId(2), two.clone()).unwrap();
    ring.promote(KeyId(2)).unwrap();
    let store = Arc::new(HookStore::new(MemoryStore::new()));
    let vault = Arc::new(Vault::new(Arc::clone(&store), ring.clone()));
    vault
        .create_item(&user(), &name("OLD"), Kind::Secret, value("under key 2"))
        .await
        .unwrap();

    // During retire(1)'s usage scan, an operator adds key 3, promotes it,
    // and a secret is sealed under it.
    let cell: Arc<OnceLock<Weak<RacedVault>>> = Arc::new(OnceLock::new());
    cell.set(Arc::downgrade(&vault)).ok();
    let mut promoted = ring.clone();
    promoted.add(KeyId(3), three).unwrap();
    promoted.promote(KeyId(3)).unwrap();
    let hook_cell = Arc::clone(&cell);
    store.arm_users(async move {
        let vault = hook_cell.get().unwrap().upgrade().unwrap();
        vault.set_keyring(promoted);
        vault
            .create_item(&user(), &name("NEW"), Kind::Secret, value("under key 3"))
            .await
            .unwrap();
    });

    vault.retire_key(KeyId(1)).await.unwrap();
    assert!(store.fired(), "the race was staged");

    let ring = vault.keyring();
    assert_eq!(
        ring.primary_id(),
        Some(KeyId(3)),
        "the promotion was undone"
    );
    assert_eq!(ring.ids().collect::<Vec<_>>(), vec![KeyId(2), KeyId(3)]);
    let (agent, _) = vault
        .create_agent(&user(), &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(
            &user(),
            agent.id,
            &[
                Attachable::parse("OLD").unwrap(),
                Attachable::parse("NEW").unwrap(),
            ],
        )
        .await
        .unwrap();
    let (env, _) = vault.environment(&user(), agent.id).await.unwrap();
    assert_eq!(env.get("NEW").unwrap().expose_secret(), "under key 3");
    assert_eq!(env.get("OLD").unwrap().expose_secret(), "under key 2");
}

#[tokio::test]
async fn rewrap_racing_a_user_key_rotation_reads_the_keys_again() {
    let one = MasterKey::generate();
    let inner = MemoryStore::new();
    let store = Arc::new(HookStore::new(inner.clone()));
    let vault = Vault::new(Arc::clone(&store), Keyring::single(one.clone()));
    vault
        .create_item(&user(), &name("TOKEN"), Kind::Secret, value("v1"))
        .await
        .unwrap();
    let mut ring = Keyring::single(one);
    ring.add(KeyId(2), MasterKey::generate()).unwrap();
    ring.promote(KeyId(2)).unwrap();
    vault.set_keyring(ring.clone());
    let other = Arc::new(Vault::new(inner, ring));
    // Both callers check the new keyring before the race.
    vault.key_usage().await.unwrap();
    vault.rotate_user_key(&user()).await.unwrap();
    other
        .create_item(&user(), &name("WARM"), Kind::Variable, value("w"))
        .await
        .unwrap();

    // Between rewrap's read and its commit, the user's key is rotated and
    // the secret updated: it is now sealed under a generation the rewrap's
    // keys don't have.
    let racer = Arc::clone(&other);
    store.arm_commit(async move {
        racer.rotate_user_key(&user()).await.unwrap();
        racer
            .update_item(&user(), &name("TOKEN"), value("v2"))
            .await
            .unwrap();
    });
    let report = vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .expect("rewrap goes on after a concurrent user-key rotation");
    assert!(store.fired(), "the race was staged");
    assert!(report.records >= 2);

    let (agent, _) = vault
        .create_agent(&user(), &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&user(), agent.id, &[Attachable::parse("TOKEN").unwrap()])
        .await
        .unwrap();
    let (env, _) = vault.environment(&user(), agent.id).await.unwrap();
    assert_eq!(env.get("TOKEN").unwrap().expose_secret(), "v2");
}

/// The vault's key check values live under the reserved user `~vault`. A
/// host that hands an id read with `UserId::parse_stored` to the vault
/// can't act as it: every call refuses it before touching the store.
#[tokio::test]
async fn no_call_can_act_as_the_vaults_reserved_user() {
    use agent_vault::UserIdError;

    let store = MemoryStore::new();
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let (agent, _) = vault
        .create_agent(&user(), &"bot".parse().unwrap())
        .await
        .unwrap();
    let before = store.snapshot();
    let reserved = UserId::parse_stored("~vault").unwrap();
    let r = &reserved;
    fn refused<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
        match result {
            Err(Error::InvalidUserId(UserIdError::Reserved)) => {}
            other => panic!("{what} as a reserved user: {other:?}"),
        }
    }
    refused(
        vault
            .create_item(r, &name("X"), Kind::Variable, value("x"))
            .await,
        "create",
    );
    refused(vault.items(r).await, "list");
    refused(vault.item(r, &name("X")).await, "get");
    refused(vault.delete_item(r, &name("X")).await, "delete");
    refused(vault.agents(r).await, "agents");
    refused(
        vault.create_agent(r, &"a".parse().unwrap()).await,
        "create agent",
    );
    refused(vault.environment(r, agent.id).await, "environment");
    refused(vault.gateway_token(r, agent.id).await, "gateway token");
    refused(vault.connections(r).await, "connections");
    let venice = Credential::api_key(
        Provider::Venice,
        SecretValue::parse(SecretString::from("vk")).unwrap(),
    )
    .unwrap();
    refused(vault.create_connection(r, &venice).await, "connect");
    refused(
        vault
            .import_dotenv(r, b"A=1\n", &ImportOptions::default())
            .await,
        "import",
    );
    refused(vault.export_variables(r).await, "export");
    refused(vault.rotate_user_key(r).await, "rotate user key");
    refused(
        vault
            .rewrap_user(r, &RewrapOptions::default(), &mut |_| {})
            .await,
        "rewrap user",
    );
    assert!(store.snapshot() == before, "a reserved user's call wrote");
    assert_eq!(
        Error::InvalidUserId(UserIdError::Reserved).http_status(),
        400
    );
}
