//! Master-key rotation, per-user key rotation and rewrap: online, resumable,
//! and never losing a record; on every backend (`tests/support/backends.rs`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use agent_vault::crypto::{KeyId, Keyring, KeyringError, MasterKey};
use agent_vault::hazmat::Crypto;
use agent_vault::store::{Record, RecordKey, RecordKind, Store, StoreError, Write};
use agent_vault::{
    AgentId, Attachable, Credential, Error, Kind, Name, Provider, RewrapOptions, RewrapProgress,
    SecretValue, UserId, Vault,
};
use secrecy::{ExposeSecret, SecretString};

use support::backends::{Backend, on_every_backend};

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

fn ring(keys: &[(u32, &MasterKey)], primary: u32) -> Keyring {
    let mut ring = Keyring::empty();
    for (id, key) in keys {
        ring.add(KeyId(*id), (*key).clone()).unwrap();
    }
    ring.promote(KeyId(primary)).unwrap();
    ring
}

/// A user with `n` secrets, a provider key and an agent with all attached;
/// returns the agent.
async fn populate<S: Store>(vault: &Vault<S>, user: &UserId, n: usize) -> AgentId {
    let mut targets = Vec::new();
    for i in 0..n {
        let item = name(&format!("SECRET_{i}"));
        vault
            .create_item(
                user,
                &item,
                Kind::Secret,
                value(&format!("value-{user}-{i}")),
            )
            .await
            .unwrap();
        targets.push(Attachable::Item(item));
    }
    vault
        .create_connection(
            user,
            &Credential::api_key(
                Provider::Venice,
                SecretValue::parse(SecretString::from("venice-key")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    targets.push(Attachable::parse("provider:venice").unwrap());
    let (agent, _) = vault
        .create_agent(user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault.attach(user, agent.id, &targets).await.unwrap();
    agent.id
}

async fn env_of<S: Store>(
    vault: &Vault<S>,
    user: &UserId,
    agent: AgentId,
) -> BTreeMap<String, String> {
    let (env, _) = vault.environment(user, agent).await.unwrap();
    env.iter()
        .map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned()))
        .collect()
}

fn no_progress() -> impl FnMut(RewrapProgress) + Send {
    |_| {}
}

async fn add_promote_rewrap_retire_keeps_every_value<B: Backend>() {
    let (k1, k2) = (MasterKey::generate(), MasterKey::generate());
    let vault = Vault::new(B::store().await, ring(&[(1, &k1)], 1));
    let users = [
        UserId::parse("alice").unwrap(),
        UserId::parse("bob").unwrap(),
    ];
    let mut agents = Vec::new();
    for user in &users {
        agents.push(populate(&vault, user, 5).await);
    }
    let mut before = Vec::new();
    for (user, agent) in users.iter().zip(&agents) {
        before.push(env_of(&vault, user, *agent).await);
    }
    assert_eq!(
        vault.key_usage().await.unwrap(),
        BTreeMap::from([(KeyId(1), 14)])
    );

    // Add (not primary): nothing changes for new seals.
    vault.set_keyring(ring(&[(1, &k1), (2, &k2)], 1));
    vault
        .create_item(&users[0], &name("AFTER_ADD"), Kind::Secret, value("x"))
        .await
        .unwrap();
    assert_eq!(
        vault.key_usage().await.unwrap(),
        BTreeMap::from([(KeyId(1), 15)])
    );

    // Promote: new seals use key 2, old records still open.
    vault.set_keyring(ring(&[(1, &k1), (2, &k2)], 2));
    vault
        .create_item(&users[0], &name("AFTER_PROMOTE"), Kind::Secret, value("y"))
        .await
        .unwrap();
    assert_eq!(
        vault.key_usage().await.unwrap(),
        BTreeMap::from([(KeyId(1), 15), (KeyId(2), 1)])
    );
    assert_eq!(env_of(&vault, &users[1], agents[1]).await, before[1]);

    // Retiring key 1 now is refused; retiring the primary always is.
    let err = vault.retire_key(KeyId(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyInUse {
                key: KeyId(1),
                records: 15
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 409);
    let err = vault.retire_key(KeyId(2)).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Keyring(KeyringError::RetirePrimary(KeyId(2)))
    ));

    // Rewrap with progress.
    let mut seen = Vec::new();
    let report = vault
        .rewrap(&RewrapOptions::default().with_batch_size(4), &mut |p| {
            seen.push(p)
        })
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 15);
    // Rewrap looks at every record, to upgrade old formats too: the 16
    // that hold a sealed value or a variable, the 12 name index entries and
    // the 2 users' key records.
    assert_eq!(report.records, 30);
    assert_eq!(report.users, 2);
    assert_eq!(seen.first().unwrap().done, 0);
    assert_eq!(
        seen.last().unwrap(),
        &RewrapProgress {
            done: 30,
            total: 30
        }
    );
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(
        vault.key_usage().await.unwrap(),
        BTreeMap::from([(KeyId(2), 16)])
    );

    // A rerun has nothing to do.
    let again = vault
        .rewrap(&RewrapOptions::default(), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(again.rewrapped, 0);

    // Retire key 1; every value is identical.
    vault.retire_key(KeyId(1)).await.unwrap();
    assert_eq!(vault.keyring().ids().collect::<Vec<_>>(), [KeyId(2)]);
    for ((user, agent), before) in users.iter().zip(&agents).zip(&before) {
        let mut after = env_of(&vault, user, *agent).await;
        let mut before = before.clone();
        // The gateway token is the same too.
        assert_eq!(
            after.remove("OPENCLAW_GATEWAY_TOKEN"),
            before.remove("OPENCLAW_GATEWAY_TOKEN")
        );
        assert_eq!(after, before);
    }
}

async fn a_record_under_a_missing_key_is_a_typed_error_naming_the_key<B: Backend>() {
    let (k1, k2) = (MasterKey::generate(), MasterKey::generate());
    let vault = Vault::new(B::store().await, ring(&[(1, &k1)], 1));
    let user = UserId::parse("alice").unwrap();
    let agent = populate(&vault, &user, 1).await;
    vault.set_keyring(ring(&[(2, &k2)], 2));
    let err = vault.environment(&user, agent).await.unwrap_err();
    assert!(matches!(err, Error::UnknownKey(KeyId(1))), "{err:?}");
    assert!(err.to_string().contains('1'));
    let err = vault
        .rewrap(&RewrapOptions::default(), &mut no_progress())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKey(KeyId(1))), "{err:?}");
}

async fn per_user_rotation_starts_a_new_generation_and_rewrap_moves_records<B: Backend>() {
    let vault = Vault::new(B::store().await, Keyring::single(MasterKey::generate()));
    let (alice, bob) = (
        UserId::parse("alice").unwrap(),
        UserId::parse("bob").unwrap(),
    );
    let agent = populate(&vault, &alice, 3).await;
    populate(&vault, &bob, 1).await;
    let before = env_of(&vault, &alice, agent).await;
    assert_eq!(vault.rotate_user_key(&alice).await.unwrap(), 2);
    vault
        .create_item(&alice, &name("NEW"), Kind::Secret, value("n"))
        .await
        .unwrap();
    assert_eq!(env_of(&vault, &alice, agent).await, before);

    let report = vault
        .rewrap_user(&alice, &RewrapOptions::default(), &mut no_progress())
        .await
        .unwrap();
    // 3 secrets, the connection and the agent's token: the new secret is
    // already under generation 2.
    assert_eq!(report.rewrapped, 5);
    assert_eq!(env_of(&vault, &alice, agent).await, before);
    let again = vault
        .rewrap(&RewrapOptions::default(), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(
        again.rewrapped, 0,
        "bob's records were untouched and alice's are done"
    );
}

/// Fails the n-th commit and every later one, either before applying it or
/// after (the ambiguous case), as a crash or a lost connection would.
struct FailFrom<S> {
    inner: S,
    remaining: AtomicI64,
    after_commit: bool,
}

#[async_trait::async_trait]
impl<S: Store> Store for FailFrom<S> {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.inner.list(user, kind).await
    }
    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.users().await
    }
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) > 0 {
            return self.inner.commit(writes).await;
        }
        let fault = std::io::Error::other("injected fault");
        if self.after_commit {
            self.inner.commit(writes).await?;
        }
        Err(StoreError::backend(fault))
    }
}

async fn an_interrupted_rewrap_leaves_every_record_readable_and_a_rerun_finishes<B: Backend>() {
    for after_commit in [false, true] {
        for fail_at in 0..6 {
            let (k1, k2) = (MasterKey::generate(), MasterKey::generate());
            let store = B::store().await;
            let setup = Vault::new(store.clone(), ring(&[(1, &k1)], 1));
            let user = UserId::parse("alice").unwrap();
            let agent = populate(&setup, &user, 9).await;
            let before = env_of(&setup, &user, agent).await;

            let faulty = Vault::new(
                FailFrom {
                    inner: store.clone(),
                    remaining: AtomicI64::new(fail_at),
                    after_commit,
                },
                ring(&[(1, &k1), (2, &k2)], 2),
            );
            let err = faulty
                .rewrap(
                    &RewrapOptions::default().with_batch_size(2),
                    &mut no_progress(),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::Store(StoreError::Backend(_))),
                "{err:?}"
            );

            // Halfway: every record opens under key 1 or key 2.
            let resumed = Vault::new(store.clone(), ring(&[(1, &k1), (2, &k2)], 2));
            assert_eq!(
                env_of(&resumed, &user, agent).await,
                before,
                "fail_at {fail_at}"
            );
            let usage = resumed.key_usage().await.unwrap();
            assert_eq!(usage.values().sum::<u64>(), 11);
            resumed
                .rewrap(&RewrapOptions::default(), &mut no_progress())
                .await
                .unwrap();
            assert_eq!(
                resumed.key_usage().await.unwrap(),
                BTreeMap::from([(KeyId(2), 11)])
            );
            resumed.retire_key(KeyId(1)).await.unwrap();
            assert_eq!(env_of(&resumed, &user, agent).await, before);
        }
    }
}

async fn rewrap_while_writers_run_loses_no_update<B: Backend>() {
    let (k1, k2) = (MasterKey::generate(), MasterKey::generate());
    let store = B::store().await;
    let vault = Arc::new(Vault::new(store.clone(), ring(&[(1, &k1)], 1)));
    let user = UserId::parse("alice").unwrap();
    let agent = populate(&vault, &user, 20).await;
    vault.set_keyring(ring(&[(1, &k1), (2, &k2)], 2));

    let updates = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (vault, user, updates) = (vault.clone(), user.clone(), updates.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..50 {
                let item = name(&format!("SECRET_{}", (round * 7 + w) % 20));
                let text = format!("w{w}-r{round}");
                vault.update_item(&user, &item, value(&text)).await.unwrap();
                updates.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }
    let rewrapper = {
        let vault = vault.clone();
        tokio::spawn(async move {
            vault
                .rewrap(
                    &RewrapOptions::default().with_batch_size(3),
                    &mut no_progress(),
                )
                .await
                .unwrap()
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    rewrapper.await.unwrap();
    vault
        .rewrap(&RewrapOptions::default(), &mut no_progress())
        .await
        .unwrap();
    assert_eq!(
        vault.key_usage().await.unwrap(),
        BTreeMap::from([(KeyId(2), 22)])
    );

    // No lost update: every item's version is 1 + its updates, and its value
    // is the last one written (writers touch disjoint rounds per item in order).
    let items = vault.items(&user).await.unwrap();
    let total_versions: u64 = items.iter().map(|i| i.version - 1).sum();
    assert_eq!(total_versions, updates.load(Ordering::Relaxed) as u64);
    let env = env_of(&vault, &user, agent).await;
    assert_eq!(env.len(), 22);
    assert!(env.values().all(|v| !v.is_empty()));
}

#[test]
fn key_sources_parse_files_and_specs() {
    let dir = std::env::temp_dir().join(format!("agent-vault-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = MasterKey::generate();

    let text_file = dir.join("key.b64");
    std::fs::write(&text_file, format!("  {}\n", key.to_base64().as_str())).unwrap();
    let raw_file = dir.join("key.bin");
    let raw: Vec<u8> = agent_vault_test_bytes(&key);
    std::fs::write(&raw_file, &raw).unwrap();
    for file in [&text_file, &raw_file] {
        let loaded = MasterKey::from_file(file).unwrap();
        assert_eq!(loaded.to_base64().as_str(), key.to_base64().as_str());
    }
    let err = MasterKey::from_file(dir.join("missing")).unwrap_err();
    assert!(matches!(
        err,
        KeyringError::Io(std::io::ErrorKind::NotFound)
    ));

    let spec = format!(
        "1:{}\n*7:{}\n",
        key.to_base64().as_str(),
        MasterKey::generate().to_base64().as_str()
    );
    let spec_file = dir.join("keyring");
    std::fs::write(&spec_file, &spec).unwrap();
    let ring = Keyring::from_file(&spec_file).unwrap();
    assert_eq!(ring.primary_id(), Some(KeyId(7)));
    assert_eq!(ring.ids().collect::<Vec<_>>(), [KeyId(1), KeyId(7)]);
    assert_eq!(
        Keyring::parse(&ring.to_spec()).unwrap().primary_id(),
        Some(KeyId(7))
    );

    // A single bare key is key 1; several need ids and one primary.
    let single = Keyring::parse(key.to_base64().as_str()).unwrap();
    assert_eq!(single.primary_id(), Some(KeyId(1)));
    for bad in [
        String::new(),
        "1:notbase64".to_owned(),
        format!("{0},{0}", key.to_base64().as_str()),
        format!("1:{0},2:{0}", key.to_base64().as_str()),
        format!("*1:{0},*2:{0}", key.to_base64().as_str()),
        format!("x:{0}", key.to_base64().as_str()),
        format!("*1:{0},1:{0}", key.to_base64().as_str()),
    ] {
        let err = Keyring::parse(&bad).unwrap_err();
        assert!(!err.to_string().contains(key.to_base64().as_str()), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The raw bytes of a key, through its base64 form (the key keeps its bytes
/// private).
fn agent_vault_test_bytes(key: &MasterKey) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(key.to_base64().as_str())
        .unwrap()
}

#[test]
fn envelope_headers_name_key_and_generation() {
    let crypto = Crypto::new(ring(&[(3, &MasterKey::generate())], 3));
    let user = UserId::parse("u").unwrap();
    let mut keys = agent_vault::hazmat::UserKeys::generate();
    keys.rotate().unwrap();
    let binding =
        agent_vault::hazmat::Binding::new(&user, agent_vault::hazmat::Purpose::Item, "r", "N");
    let sealed = crypto.seal(&keys, &binding, b"x").unwrap();
    assert_eq!(Crypto::header_of(&sealed).unwrap(), (KeyId(3), 2));
}

on_every_backend!(
    add_promote_rewrap_retire_keeps_every_value,
    a_record_under_a_missing_key_is_a_typed_error_naming_the_key,
    per_user_rotation_starts_a_new_generation_and_rewrap_moves_records,
    an_interrupted_rewrap_leaves_every_record_readable_and_a_rerun_finishes,
    rewrap_while_writers_run_loses_no_update,
);
