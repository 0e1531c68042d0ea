//! Value history and rollback: what is kept, what is listed (never a
//! value), what a rollback restores, and that history is sealed, bound to
//! its revision, resealed by rewrap and gone with its item.

use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{MemoryStore, Record, RecordKind, Store, Write};
use agent_vault::{
    Attachable, DEFAULT_HISTORY_LEN, Error, ImportOptions, Kind, Name, OnConflict, RewrapOptions,
    SecretValue, SyncState, UserId, Vault, VaultConfig,
};
use secrecy::{ExposeSecret as _, SecretString};

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

fn vault_with(config: VaultConfig) -> Vault<MemoryStore> {
    Vault::with_config(MemoryStore::new(), Keyring::single(key(7)), config)
}

fn vault() -> Vault<MemoryStore> {
    vault_with(VaultConfig::default())
}

/// Adds master key 2 and makes it primary.
fn promote_a_second_key(vault: &Vault<MemoryStore>) {
    let mut ring = Keyring::single(key(7));
    ring.add(KeyId(2), key(8)).unwrap();
    ring.promote(KeyId(2)).unwrap();
    vault.set_keyring(ring);
}

/// The value an agent with `item` attached gets.
async fn delivered(vault: &Vault<MemoryStore>, item: &str) -> String {
    let user = alice();
    let (agent, _) = vault
        .create_agent(&user, &"probe".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&user, agent.id, &[Attachable::Item(name(item))])
        .await
        .unwrap();
    let (env, _) = vault.environment(&user, agent.id).await.unwrap();
    let out = env.get(item).unwrap().expose_secret().to_owned();
    vault.delete_agent(&user, agent.id).await.unwrap();
    out
}

async fn item_record(vault: &Vault<MemoryStore>) -> Record {
    let mut items = vault
        .store()
        .list(&alice(), RecordKind::Item)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    items.remove(0)
}

/// Where each envelope (FORMAT.md §3: `01`, key id, generation) starts in
/// an item body sealed under key 1, generation `generation`.
fn envelope_offsets(body: &[u8], len: usize, generation: u32) -> Vec<usize> {
    let mut header = vec![1, 0, 0, 0, 1];
    header.extend_from_slice(&generation.to_be_bytes());
    (0..body.len().saturating_sub(len - 1))
        .filter(|&at| body[at..].starts_with(&header))
        .collect()
}

#[tokio::test]
async fn updates_keep_history_and_it_lists_versions_never_values() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("one"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("two"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("three"))
        .await
        .unwrap();

    let history = vault.item_history(&user, &token).await.unwrap();
    let versions: Vec<(u64, bool)> = history.iter().map(|v| (v.version, v.current)).collect();
    assert_eq!(versions, [(3, true), (2, false), (1, false)]);
    assert!(history.windows(2).all(|w| w[0].since >= w[1].since));
    // Serialised, a version is its number, time and flag: no value.
    let json = serde_json::to_string(&history).unwrap();
    for secret in ["one", "two", "three"] {
        assert!(!json.contains(secret), "{json}");
    }
    assert_eq!(DEFAULT_HISTORY_LEN, 10);
}

#[tokio::test]
async fn rollback_restores_an_old_value_as_a_new_version_and_makes_agents_stale() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("first"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("second"))
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&user, agent.id, &[Attachable::Item(token.clone())])
        .await
        .unwrap();
    let (_, receipt) = vault.environment(&user, agent.id).await.unwrap();
    vault.record_deployment(&user, &receipt).await.unwrap();
    assert!(!vault.status(&user, agent.id).await.unwrap().restart_needed);

    // The name in another case finds the item; the value of version 1
    // comes back as version 3.
    let info = vault
        .rollback_item(&user, &name("api_token"), 1)
        .await
        .unwrap();
    assert_eq!(info.version, 3);
    let (env, _) = vault.environment(&user, agent.id).await.unwrap();
    assert_eq!(env.get("API_TOKEN").unwrap().expose_secret(), "first");
    let status = vault.status(&user, agent.id).await.unwrap();
    assert_eq!(status.items[0].state, SyncState::Stale);
    let versions: Vec<u64> = vault
        .item_history(&user, &token)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    // And forward again, to what version 2 held.
    vault.rollback_item(&user, &token, 2).await.unwrap();
    assert_eq!(delivered(&vault, "API_TOKEN").await, "second");
}

#[tokio::test]
async fn rollback_works_for_variables_and_refuses_unknown_and_current_versions() {
    let vault = vault();
    let user = alice();
    let level = name("LOG_LEVEL");
    vault
        .create_item(&user, &level, Kind::Variable, value("debug"))
        .await
        .unwrap();
    vault
        .update_item(&user, &level, value("info"))
        .await
        .unwrap();
    let info = vault.rollback_item(&user, &level, 1).await.unwrap();
    assert_eq!(info.value.as_deref(), Some("debug"));
    assert_eq!(info.version, 3);

    let error = vault.rollback_item(&user, &level, 3).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    let error = vault.rollback_item(&user, &level, 42).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(error.http_status(), 404);
    assert_eq!(
        vault.item(&user, &level).await.unwrap().version,
        3,
        "nothing changed"
    );
}

#[tokio::test]
async fn history_keeps_the_configured_number_of_values() {
    let vault = vault_with(VaultConfig::default().with_history_len(2));
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("v1"))
        .await
        .unwrap();
    for n in 2..=5 {
        vault
            .update_item(&user, &token, value(&format!("v{n}")))
            .await
            .unwrap();
    }
    let versions: Vec<u64> = vault
        .item_history(&user, &token)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [5, 4, 3]);
    assert!(matches!(
        vault.rollback_item(&user, &token, 2).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    // The dropped values are gone from the record, not just unlisted: only
    // the current value and two past ones are sealed in it.
    let record = item_record(&vault).await;
    let sealed_len = 37 + 2;
    assert_eq!(envelope_offsets(&record.body, sealed_len, 1).len(), 3);

    let none = vault_with(VaultConfig::default().with_history_len(0));
    none.create_item(&user, &token, Kind::Secret, value("v1"))
        .await
        .unwrap();
    none.update_item(&user, &token, value("v2")).await.unwrap();
    assert_eq!(none.item_history(&user, &token).await.unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_an_item_deletes_its_history() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("old-one"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("old-two"))
        .await
        .unwrap();
    vault.delete_item(&user, &token).await.unwrap();
    assert!(
        vault
            .store()
            .list(&user, RecordKind::Item)
            .await
            .unwrap()
            .is_empty()
    );
    vault
        .create_item(&user, &token, Kind::Secret, value("fresh"))
        .await
        .unwrap();
    let history = vault.item_history(&user, &token).await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "a new item under the old name has no history"
    );
    assert!(matches!(
        vault.rollback_item(&user, &token, 1).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

#[tokio::test]
async fn rewrap_and_user_key_rotation_reseal_history_too() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("aaaa"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("bbbb"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("cccc"))
        .await
        .unwrap();

    // Per-user rotation: every envelope in the record moves to generation 2.
    vault.rotate_user_key(&user).await.unwrap();
    vault
        .rewrap_user(&user, &RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let body = item_record(&vault).await.body;
    assert_eq!(
        envelope_offsets(&body, 41, 1).len(),
        0,
        "nothing left under generation 1"
    );
    assert_eq!(
        envelope_offsets(&body, 41, 2).len(),
        3,
        "current and two past values"
    );

    // Master key rotation: the old key can be retired only because history
    // was resealed too.
    promote_a_second_key(&vault);
    vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let usage = vault.key_usage().await.unwrap();
    assert_eq!(usage.get(&KeyId(1)), None, "{usage:?}");
    vault.retire_key(KeyId(1)).await.unwrap();
    vault.rollback_item(&user, &token, 1).await.unwrap();
    assert_eq!(delivered(&vault, "API_TOKEN").await, "aaaa");
}

#[tokio::test]
async fn key_usage_counts_history_so_a_key_in_use_there_is_not_retired() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("one"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("two"))
        .await
        .unwrap();
    promote_a_second_key(&vault);
    // The next update seals under key 2, and reseals the value it replaces
    // as it moves into the history; version 1, deeper in the history, stays
    // under key 1 until a rewrap.
    vault
        .update_item(&user, &token, value("three"))
        .await
        .unwrap();
    let usage = vault.key_usage().await.unwrap();
    assert_eq!(usage.get(&KeyId(1)), Some(&1), "{usage:?}");
    let error = vault.retire_key(KeyId(1)).await.unwrap_err();
    assert!(matches!(error, Error::KeyInUse { .. }), "{error:?}");
    vault.rollback_item(&user, &token, 1).await.unwrap();
    assert_eq!(delivered(&vault, "API_TOKEN").await, "one");
}

/// The attack: with write access to the database, put an old value back by
/// swapping a past envelope into the current slot. Past values are bound to
/// their revision under their own purpose (FORMAT.md §4, purpose 5), so the
/// swapped value does not open; the old value is never delivered.
#[tokio::test]
async fn a_past_value_moved_into_the_current_slot_does_not_open() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("revoked1"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("current2"))
        .await
        .unwrap();
    let record = item_record(&vault).await;
    let len = 37 + "revoked1".len();
    let offsets = envelope_offsets(&record.body, len, 1);
    assert_eq!(offsets.len(), 2, "current value, then the past one");
    let (current, past) = (offsets[0], offsets[1]);
    let mut body = record.body.to_vec();
    let past_envelope = record.body[past..past + len].to_vec();
    body[current..current + len].copy_from_slice(&past_envelope);
    vault
        .store()
        .commit(vec![Write::Put {
            key: record.key.clone(),
            expect: agent_vault::store::Expect::Version(record.version),
            body,
        }])
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&user, agent.id, &[Attachable::Item(token.clone())])
        .await
        .unwrap();
    let error = vault.environment(&user, agent.id).await.unwrap_err();
    assert!(matches!(error, Error::DecryptionFailed), "{error:?}");
    // Nor does a past value open as another revision's.
    let mut body = record.body.to_vec();
    let current_envelope = record.body[current..current + len].to_vec();
    body[past..past + len].copy_from_slice(&current_envelope);
    let now = item_record(&vault).await;
    vault
        .store()
        .commit(vec![Write::Put {
            key: now.key.clone(),
            expect: agent_vault::store::Expect::Version(now.version),
            body,
        }])
        .await
        .unwrap();
    let error = vault.rollback_item(&user, &token, 1).await.unwrap_err();
    assert!(matches!(error, Error::DecryptionFailed), "{error:?}");
}

#[tokio::test]
async fn import_overwrites_keep_history_and_a_variable_made_secret_keeps_no_plaintext() {
    let vault = vault();
    let user = alice();
    let overwrite = ImportOptions::default().on_conflict(OnConflict::Overwrite);
    vault
        .create_item(&user, &name("TOKEN"), Kind::Secret, value("t1"))
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &name("PLAIN"),
            Kind::Variable,
            value("plain-old-value"),
        )
        .await
        .unwrap();
    vault
        .import_dotenv(&user, b"TOKEN=t2\nPLAIN=now-secret\n", &overwrite)
        .await
        .unwrap();
    let versions = vault.item_history(&user, &name("TOKEN")).await.unwrap();
    assert_eq!(versions.len(), 2);
    vault.rollback_item(&user, &name("TOKEN"), 1).await.unwrap();
    assert_eq!(delivered(&vault, "TOKEN").await, "t1");

    let plain = vault.item(&user, &name("PLAIN")).await.unwrap();
    assert_eq!(plain.kind, Kind::Secret);
    assert_eq!(
        vault
            .item_history(&user, &name("PLAIN"))
            .await
            .unwrap()
            .len(),
        1
    );
    for record in vault.store().list(&user, RecordKind::Item).await.unwrap() {
        let text = String::from_utf8_lossy(&record.body);
        assert!(
            !text.contains("plain-old-value"),
            "plaintext left beside a secret"
        );
    }
}

#[tokio::test]
async fn a_lowered_history_length_is_honoured_by_rollback_and_rewrap() {
    let store = MemoryStore::new();
    let user = alice();
    let token = name("API_TOKEN");
    let long = Vault::new(store.clone(), Keyring::single(key(7)));
    long.create_item(&user, &token, Kind::Secret, value("v1"))
        .await
        .unwrap();
    for n in 2..=4 {
        long.update_item(&user, &token, value(&format!("v{n}")))
            .await
            .unwrap();
    }
    // The same store, configured to keep one earlier value.
    let short = Vault::with_config(
        store.clone(),
        Keyring::single(key(7)),
        VaultConfig::default().with_history_len(1),
    );
    assert!(matches!(
        short.rollback_item(&user, &token, 1).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    short
        .rewrap_user(&user, &RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    // Now gone from the record too, also for the vault that kept more.
    assert!(matches!(
        long.rollback_item(&user, &token, 2).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    long.rollback_item(&user, &token, 3).await.unwrap();
}

#[tokio::test]
async fn a_damaged_past_value_is_dropped_by_rewrap_not_a_blocker() {
    let vault = vault();
    let user = alice();
    let token = name("API_TOKEN");
    vault
        .create_item(&user, &token, Kind::Secret, value("aaaa"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("bbbb"))
        .await
        .unwrap();
    vault
        .update_item(&user, &token, value("cccc"))
        .await
        .unwrap();
    let record = item_record(&vault).await;
    let offsets = envelope_offsets(&record.body, 41, 1);
    assert_eq!(offsets.len(), 3, "current, then versions 2 and 1");
    let mut body = record.body.to_vec();
    body[offsets[2] + 40] ^= 1; // the last tag byte of version 1
    vault
        .store()
        .commit(vec![Write::Put {
            key: record.key.clone(),
            expect: agent_vault::store::Expect::Version(record.version),
            body,
        }])
        .await
        .unwrap();
    promote_a_second_key(&vault);
    vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let versions: Vec<u64> = vault
        .item_history(&user, &token)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [3, 2], "the damaged value was dropped");
    vault.retire_key(KeyId(1)).await.unwrap();
    vault.rollback_item(&user, &token, 2).await.unwrap();
    assert_eq!(delivered(&vault, "API_TOKEN").await, "bbbb");
}
