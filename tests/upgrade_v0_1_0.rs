//! A vault written by agent-vault 0.1.0 (`tests/fixtures/v0.1.0/vault.db`,
//! made by `generate.sh` there from tag v0.1.0, never edited) opens with
//! this version: every value reads, every rule holds, the first write of a
//! record moves it to the current format, and a rewrap moves them all.

use std::path::PathBuf;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{RecordKind, SqliteStore, Store};
use agent_vault::{
    AgentId, Attachable, ConnectionId, CredentialKind, Error, Kind, Name, Provider, RewrapOptions,
    SecretValue, SyncState, UserId, Vault,
};
use secrecy::ExposeSecret as _;

/// The fixture's master key (a test key: `generate.sh`).
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(text.to_owned().into()).unwrap()
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

/// A private copy of the fixture, opened (and migrated) by this version.
async fn open_fixture() -> (tempfile::TempDir, PathBuf, Vault<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1.0/vault.db");
    std::fs::copy(&fixture, &path).unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let key = MasterKey::from_base64(MASTER_KEY).unwrap();
    let vault = Vault::new(store, Keyring::single(key));
    (dir, path, vault)
}

/// The format byte of every stored body, per (user, kind, id).
async fn formats(vault_store: &SqliteStore) -> Vec<(String, RecordKind, String, u8)> {
    let mut out = Vec::new();
    for user in vault_store.users().await.unwrap() {
        for kind in RecordKind::ALL {
            for record in vault_store.list(&user, kind).await.unwrap() {
                out.push((
                    user.to_string(),
                    kind,
                    record.key.id.clone(),
                    record.body[0],
                ));
            }
        }
    }
    out
}

async fn agent_named(vault: &Vault<SqliteStore>, user: &UserId, wanted: &str) -> AgentId {
    vault
        .agents(user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == wanted)
        .unwrap_or_else(|| panic!("agent {wanted} in the fixture"))
        .id
}

#[tokio::test]
async fn every_value_of_a_0_1_0_vault_reads() {
    let (_dir, _path, vault) = open_fixture().await;
    let alice = user("alice");
    let bob = user("bob");

    let items = vault.items(&alice).await.unwrap();
    let summary: Vec<(&str, Kind, u64)> = items
        .iter()
        .map(|i| (i.name.as_str(), i.kind, i.version))
        .collect();
    assert_eq!(
        summary,
        [
            ("ANTHROPIC_API_KEY", Kind::Secret, 1),
            ("DATABASE_URL", Kind::Secret, 2),
            ("LOG_LEVEL", Kind::Variable, 1),
            ("TELEGRAM_BOT_TOKEN", Kind::Secret, 1),
        ]
    );
    let log_level = items
        .iter()
        .find(|i| i.name.as_str() == "LOG_LEVEL")
        .unwrap();
    assert_eq!(log_level.value.as_deref(), Some("debug"));
    assert!(
        items
            .iter()
            .filter(|i| i.kind == Kind::Secret)
            .all(|i| i.value.is_none())
    );

    let connections = vault.connections(&alice).await.unwrap();
    let ids: Vec<ConnectionId> = connections.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            ConnectionId::new(Provider::Custom, CredentialKind::Custom).unwrap(),
            ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap(),
            ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription).unwrap(),
        ]
    );

    // Every secret, connection and token opens: support-bot's environment.
    let support = agent_named(&vault, &alice, "support-bot").await;
    let (env, _) = vault.environment(&alice, support).await.unwrap();
    let value = |n: &str| env.get(n).map(|v| v.expose_secret().to_owned());
    assert_eq!(
        value("TELEGRAM_BOT_TOKEN").as_deref(),
        Some("alice-telegram-token")
    );
    assert_eq!(
        value("DATABASE_URL").as_deref(),
        Some("postgres://alice@db2/app")
    );
    assert_eq!(value("LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(value("OPENAI_API_KEY").as_deref(), Some("sk-openai-alice"));
    let token = value("OPENCLAW_GATEWAY_TOKEN").unwrap();
    vault
        .verify_gateway_token(&alice, support, &token)
        .await
        .unwrap();

    let research = agent_named(&vault, &alice, "research-bot").await;
    let (env, _) = vault.environment(&alice, research).await.unwrap();
    let value = |n: &str| env.get(n).map(|v| v.expose_secret().to_owned());
    assert_eq!(value("ANTHROPIC_API_KEY").as_deref(), Some("sk-ant-alice"));
    assert_eq!(
        value("CUSTOM_OPENAI_BASE_URL").as_deref(),
        Some("https://llm.example.com/v1")
    );
    assert_eq!(
        value("CUSTOM_OPENAI_API_KEY").as_deref(),
        Some("sk-custom-alice")
    );

    // A user with variables only had no key record in 0.1.0.
    let carol = user("carol");
    let carols: Vec<(String, Option<String>)> = vault
        .items(&carol)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name.to_string(), i.value))
        .collect();
    assert_eq!(
        carols,
        [
            ("LOG_LEVEL".to_owned(), Some("info".to_owned())),
            (
                "PUBLIC_URL".to_owned(),
                Some("https://carol.example".to_owned())
            ),
        ]
    );

    let bot = agent_named(&vault, &bob, "bob-bot").await;
    let (env, _) = vault.environment(&bob, bot).await.unwrap();
    let value = |n: &str| env.get(n).map(|v| v.expose_secret().to_owned());
    assert_eq!(
        value("TELEGRAM_BOT_TOKEN").as_deref(),
        Some("bob-telegram-token")
    );
    assert_eq!(value("PUBLIC_URL").as_deref(), Some("https://bob.example"));
}

#[tokio::test]
async fn the_synced_indicator_of_a_0_1_0_deployment() {
    let (_dir, _path, vault) = open_fixture().await;
    let alice = user("alice");
    let support = agent_named(&vault, &alice, "support-bot").await;
    let status = vault.status(&alice, support).await.unwrap();
    let states: Vec<(&str, SyncState)> = status
        .items
        .iter()
        .map(|i| (i.name.as_str(), i.state))
        .collect();
    // DATABASE_URL changed after the deployment; the token rotated. 0.1.0
    // did not record which connection instance it delivered, so the
    // connection is never claimed synced (FORMAT.md §6.7).
    assert_eq!(
        states,
        [
            ("TELEGRAM_BOT_TOKEN", SyncState::Synced),
            ("DATABASE_URL", SyncState::Stale),
            ("LOG_LEVEL", SyncState::Synced),
            ("openai:api-key", SyncState::Stale),
        ]
    );
    assert!(status.token_stale);
    assert!(status.restart_needed);

    // A new deployment records instances: then everything is synced.
    let (_, receipt) = vault.environment(&alice, support).await.unwrap();
    vault.record_deployment(&alice, &receipt).await.unwrap();
    let status = vault.status(&alice, support).await.unwrap();
    assert!(
        status.items.iter().all(|i| i.state == SyncState::Synced),
        "{status:?}"
    );
    assert!(!status.restart_needed);
}

#[tokio::test]
async fn the_rules_hold_on_a_0_1_0_vault() {
    let (_dir, _path, vault) = open_fixture().await;
    let alice = user("alice");
    let bob = user("bob");
    let support = agent_named(&vault, &alice, "support-bot").await;

    // An attached secret can't be deleted.
    let error = vault
        .delete_item(&alice, &name("TELEGRAM_BOT_TOKEN"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Attached { .. }), "{error:?}");
    // No agent holds two credentials for one provider.
    let codex = Attachable::Connection(
        ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription).unwrap(),
    );
    let error = vault.attach(&alice, support, &[codex]).await.unwrap_err();
    assert!(matches!(error, Error::ProviderConflict { .. }), "{error:?}");
    // Names stay unique, ignoring case.
    let error = vault
        .create_item(&alice, &name("log_level"), Kind::Variable, value("x"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error:?}");
    // Users stay apart: bob's agent is not alice's.
    // A user with variables only had no key record in 0.1.0.
    let carol = user("carol");
    let carols: Vec<(String, Option<String>)> = vault
        .items(&carol)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name.to_string(), i.value))
        .collect();
    assert_eq!(
        carols,
        [
            ("LOG_LEVEL".to_owned(), Some("info".to_owned())),
            (
                "PUBLIC_URL".to_owned(),
                Some("https://carol.example".to_owned())
            ),
        ]
    );

    let bot = agent_named(&vault, &bob, "bob-bot").await;
    assert!(matches!(
        vault.agent(&alice, bot).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    // Detaching then deleting works on old records.
    let research = agent_named(&vault, &alice, "research-bot").await;
    vault
        .detach(
            &alice,
            research,
            &[Attachable::Item(name("ANTHROPIC_API_KEY"))],
        )
        .await
        .unwrap();
    vault
        .delete_item(&alice, &name("ANTHROPIC_API_KEY"))
        .await
        .unwrap();
}

#[tokio::test]
async fn writes_and_rewrap_upgrade_every_record() {
    let (_dir, _path, vault) = open_fixture().await;
    let alice = user("alice");
    let before = formats(vault.store()).await;
    assert!(before.len() >= 20, "the fixture has records: {before:?}");
    assert!(
        before
            .iter()
            .all(|(user, .., format)| *format == 1 || user == "~vault"),
        "0.1.0 wrote format 1: {before:?}"
    );

    // One write moves its record (and only it) to the current format.
    let updated = vault
        .update_item(&alice, &name("LOG_LEVEL"), value("info"))
        .await
        .unwrap();
    let after_write = formats(vault.store()).await;
    let format_of = |records: &[(String, RecordKind, String, u8)], kind, id: &str| {
        records
            .iter()
            .find(|(u, k, i, _)| u == "alice" && *k == kind && i == id)
            .map(|r| r.3)
    };
    let id = updated.id.to_string();
    assert_eq!(format_of(&after_write, RecordKind::Item, &id), Some(2));
    let still_old = after_write
        .iter()
        .filter(|(u, _, _, f)| u != "~vault" && *f == 1)
        .count();
    assert_eq!(still_old, before.len() - 1);

    // 0.1.0 kept no owner index: an agent can't be found by id alone yet.
    let support = agent_named(&vault, &alice, "support-bot").await;
    assert!(matches!(
        vault.agent_owner(support).await,
        Err(Error::NotFound { .. })
    ));

    // A rewrap upgrades everything else (a user without a key record
    // too), indexes every agent, and a second one has nothing to do.
    let mut last = None;
    let report = vault
        .rewrap(&RewrapOptions::default(), &mut |p| last = Some(p))
        .await
        .unwrap();
    let last = last.unwrap();
    assert_eq!(last.done, last.total, "progress reaches its total");
    assert_eq!(report.rewrapped as usize, still_old, "{report:?}");
    let after = formats(vault.store()).await;
    assert!(after.iter().all(|r| r.3 == 2), "{after:?}");
    let again = vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.rewrapped, 0);
    assert_eq!(report.agents_indexed, 3, "{report:?}");
    assert_eq!(again.agents_indexed, 0, "{again:?}");
    assert_eq!(vault.agent_owner(support).await.unwrap(), alice);
    let bob = user("bob");
    let bot = agent_named(&vault, &bob, "bob-bot").await;
    assert_eq!(vault.agent_owner(bot).await.unwrap(), bob);

    // And every value still reads.
    let (env, _) = vault.environment(&alice, support).await.unwrap();
    assert_eq!(
        env.get("LOG_LEVEL")
            .map(|v| v.expose_secret().to_owned())
            .as_deref(),
        Some("info")
    );
    assert_eq!(
        env.get("OPENAI_API_KEY")
            .map(|v| v.expose_secret().to_owned())
            .as_deref(),
        Some("sk-openai-alice")
    );
}
