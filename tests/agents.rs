//! Agents, attachments, provider connections, the environment at start, the
//! synced indicator and gateway tokens, on every backend
//! (`tests/support/backends.rs`). The racing tests stay on the in-memory
//! store: they wrap it in a store that yields before every call and counts
//! conflicts, to show the tasks really interleaved.

mod support;

use std::sync::Arc;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{MemoryStore, Record, RecordKey, RecordKind, Store, StoreError, Write};
use agent_vault::{
    AgentId, AgentName, Attachable, CodexTokens, ConnectionId, Credential, CredentialKind,
    CustomEndpoint, Entity, Error, GatewayToken, Kind, Name, Provider, SecretValue, SyncState,
    Target, Timestamp, UserId, Vault,
};
use secrecy::{ExposeSecret, SecretString};

use support::backends::{Backend, on_every_backend};

async fn vault<B: Backend>() -> Vault<B::Store> {
    Vault::new(B::store().await, Keyring::single(MasterKey::generate()))
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

fn item(text: &str) -> Attachable {
    Attachable::Item(name(text))
}

fn conn(provider: Provider, kind: CredentialKind) -> Attachable {
    Attachable::Connection(ConnectionId::new(provider, kind).unwrap())
}

fn api_key(provider: Provider, key: &str) -> Credential {
    Credential::api_key(provider, value(key)).unwrap()
}

fn codex() -> Credential {
    Credential::CodexSubscription(CodexTokens::new(
        value("access-CANARY"),
        value("refresh-CANARY"),
        Timestamp::from_unix_millis(1_900_000_000_000),
    ))
}

async fn agent<S: Store>(vault: &Vault<S>, name: &str) -> AgentId {
    vault
        .create_agent(&alice(), &name.parse().unwrap())
        .await
        .unwrap()
        .0
        .id
}

fn env_pairs(env: &agent_vault::Environment) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned()))
        .collect()
}

async fn agents_are_created_listed_got_and_deleted<B: Backend>() {
    let vault = vault::<B>().await;
    let (info, token) = vault
        .create_agent(&alice(), &"support bot".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(info.name, "support bot");
    assert!(GatewayToken::looks_valid(token.expose_secret()));
    assert_eq!(vault.agents(&alice()).await.unwrap(), vec![info.clone()]);
    assert_eq!(vault.agent(&alice(), info.id).await.unwrap(), info);
    vault.delete_agent(&alice(), info.id).await.unwrap();
    let err = vault.agent(&alice(), info.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));

    let long = "x".repeat(101);
    for bad in ["", long.as_str(), "tab\tname", "bot-\u{202E}txt.exe"] {
        let err = Error::from(bad.parse::<AgentName>().unwrap_err());
        assert!(matches!(err, Error::InvalidAgentName(_)), "{bad:?}");
        assert_eq!(err.http_status(), 400);
        assert!(!err.to_string().contains("txt"), "the name is not echoed");
    }
    assert_eq!(vault.agents(&alice()).await.unwrap(), vec![]);
    assert!(
        vault
            .create_agent(&alice(), &("é".repeat(100)).parse().unwrap())
            .await
            .is_ok()
    );
}

async fn the_environment_holds_exactly_what_is_attached_plus_the_token<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_item(
            &user,
            &name("TELEGRAM_BOT_TOKEN"),
            Kind::Secret,
            value("tg-1"),
        )
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &name("PUBLIC_URL"),
            Kind::Variable,
            value("https://x"),
        )
        .await
        .unwrap();
    vault
        .create_item(&user, &name("UNATTACHED"), Kind::Secret, value("no"))
        .await
        .unwrap();
    vault
        .create_connection(&user, &api_key(Provider::Anthropic, "sk-ant-1"))
        .await
        .unwrap();
    vault
        .create_connection(&user, &Credential::pinata(value("pk-llm-1")))
        .await
        .unwrap();
    vault
        .create_connection(
            &user,
            &Credential::Custom(
                CustomEndpoint::new(
                    "https://llm.example.com/v1",
                    Some(value("ck")),
                    vec!["llama-3".into()],
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let (info, token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(
            &user,
            info.id,
            &[
                item("TELEGRAM_BOT_TOKEN"),
                item("public_url"),
                conn(Provider::Anthropic, CredentialKind::ApiKey),
                conn(Provider::Pinata, CredentialKind::Hosted),
                conn(Provider::Custom, CredentialKind::Custom),
            ],
        )
        .await
        .unwrap();

    let (env, receipt) = vault.environment(&user, info.id).await.unwrap();
    let expected: Vec<(String, String)> = [
        ("ANTHROPIC_API_KEY", "sk-ant-1"),
        ("CUSTOM_OPENAI_API_KEY", "ck"),
        ("CUSTOM_OPENAI_BASE_URL", "https://llm.example.com/v1"),
        ("CUSTOM_OPENAI_MODELS", "llama-3"),
        ("OPENCLAW_GATEWAY_TOKEN", token.expose_secret()),
        ("PINATA_LLM_KEY", "pk-llm-1"),
        ("PUBLIC_URL", "https://x"),
        ("TELEGRAM_BOT_TOKEN", "tg-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env_pairs(&env), expected);
    assert_eq!(receipt.entries.len(), 5);
    assert_eq!(receipt.agent, info.id);
    let debug = format!("{env:?}");
    assert!(debug.contains("TELEGRAM_BOT_TOKEN") && !debug.contains("tg-1"));

    let mut command = std::process::Command::new("env");
    env.apply_to(&mut command);
    let envs: Vec<_> = command.get_envs().map(|(k, _)| k.to_owned()).collect();
    assert_eq!(envs.len(), 8);
}

async fn codex_subscription_materialises_as_the_json_bundle<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault.create_connection(&user, &codex()).await.unwrap();
    let id = agent(&vault, "codex").await;
    vault
        .attach(
            &user,
            id,
            &[conn(Provider::OpenAi, CredentialKind::CodexSubscription)],
        )
        .await
        .unwrap();
    let (env, _) = vault.environment(&user, id).await.unwrap();
    let bundle: serde_json::Value =
        serde_json::from_str(env.get("OPENAI_OAUTH_TOKEN").unwrap().expose_secret()).unwrap();
    assert_eq!(bundle["access_token"], "access-CANARY");
    assert_eq!(bundle["refresh_token"], "refresh-CANARY");
    assert_eq!(bundle["expires_at"], "2030-03-17T17:46:40Z");
}

async fn connections_are_cards_without_credentials_and_both_openai_kinds_coexist<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_connection(&user, &api_key(Provider::OpenAi, "sk-CANARY"))
        .await
        .unwrap();
    vault.create_connection(&user, &codex()).await.unwrap();
    let err = vault
        .create_connection(&user, &api_key(Provider::OpenAi, "sk-2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }));
    let cards = vault.connections(&user).await.unwrap();
    let kinds: Vec<_> = cards.iter().map(|c| (c.provider, c.kind)).collect();
    assert_eq!(
        kinds,
        [
            (Provider::OpenAi, CredentialKind::ApiKey),
            (Provider::OpenAi, CredentialKind::CodexSubscription)
        ]
    );
    let shown = format!("{cards:?} {}", serde_json::to_string(&cards).unwrap());
    assert!(!shown.contains("CANARY"));
    let updated = vault
        .update_connection(&user, &api_key(Provider::OpenAi, "sk-3"))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    vault
        .delete_connection(
            &user,
            ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(vault.connections(&user).await.unwrap().len(), 1);
    // Pinata takes no API key: such a credential can't be built.
    assert!(Credential::api_key(Provider::Pinata, value("k")).is_err());
}

async fn nothing_attached_can_be_deleted_and_the_conflict_names_the_agents<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_item(&user, &name("SLACK_TOKEN"), Kind::Secret, value("x"))
        .await
        .unwrap();
    vault
        .create_connection(&user, &api_key(Provider::Venice, "v"))
        .await
        .unwrap();
    let a = agent(&vault, "a").await;
    let b = agent(&vault, "b").await;
    for id in [a, b] {
        vault
            .attach(
                &user,
                id,
                &[
                    item("SLACK_TOKEN"),
                    conn(Provider::Venice, CredentialKind::ApiKey),
                ],
            )
            .await
            .unwrap();
    }
    let err = vault
        .delete_item(&user, &name("SLACK_TOKEN"))
        .await
        .unwrap_err();
    match &err {
        Error::Attached { agents, .. } => {
            let mut expected = vec![a, b];
            expected.sort();
            assert_eq!(agents, &expected);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.http_status(), 409);
    let venice = ConnectionId::new(Provider::Venice, CredentialKind::ApiKey).unwrap();
    let err = vault.delete_connection(&user, venice).await.unwrap_err();
    assert!(matches!(err, Error::Attached { .. }));

    vault
        .detach(&user, a, &[item("SLACK_TOKEN")])
        .await
        .unwrap();
    assert!(
        vault
            .delete_item(&user, &name("SLACK_TOKEN"))
            .await
            .is_err()
    );
    vault.delete_agent(&user, b).await.unwrap();
    vault
        .delete_item(&user, &name("SLACK_TOKEN"))
        .await
        .unwrap();
    let err = vault
        .detach(&user, a, &[item("SLACK_TOKEN")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

async fn one_credential_per_provider_per_agent<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_item(&user, &name("OPENAI_API_KEY"), Kind::Secret, value("sk"))
        .await
        .unwrap();
    vault.create_connection(&user, &codex()).await.unwrap();
    vault
        .create_connection(&user, &api_key(Provider::OpenAi, "sk2"))
        .await
        .unwrap();
    let id = agent(&vault, "a").await;
    vault
        .attach(&user, id, &[item("OPENAI_API_KEY")])
        .await
        .unwrap();

    // The product's example: a plain OPENAI_API_KEY secret plus a Codex subscription.
    let err = vault
        .attach(
            &user,
            id,
            &[conn(Provider::OpenAi, CredentialKind::CodexSubscription)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProviderConflict {
                provider: Provider::OpenAi,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 409);
    // An API-key connection for the same provider, too.
    let err = vault
        .attach(&user, id, &[conn(Provider::OpenAi, CredentialKind::ApiKey)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProviderConflict { .. }));

    // All-or-nothing: a batch with one bad target attaches nothing.
    vault
        .create_item(&user, &name("OTHER"), Kind::Secret, value("o"))
        .await
        .unwrap();
    let err = vault
        .attach(
            &user,
            id,
            &[
                item("OTHER"),
                conn(Provider::OpenAi, CredentialKind::CodexSubscription),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProviderConflict { .. }));
    assert_eq!(
        vault.agent(&user, id).await.unwrap().attached,
        ["OPENAI_API_KEY"]
    );
    assert!(
        vault
            .item(&user, &name("OTHER"))
            .await
            .unwrap()
            .agents
            .is_empty()
    );

    // Two different agents may each hold one.
    let other = agent(&vault, "b").await;
    vault
        .attach(
            &user,
            other,
            &[conn(Provider::OpenAi, CredentialKind::CodexSubscription)],
        )
        .await
        .unwrap();
}

/// The host generates Pinata's inference key and the agent reads it as
/// `PINATA_LLM_KEY`; a user secret of that name is the Pinata credential.
async fn a_user_pinata_llm_key_counts_as_the_pinata_credential<B: Backend>() {
    assert_eq!(
        Provider::owning_variable("PINATA_LLM_KEY"),
        Some(Provider::Pinata)
    );
    assert_eq!(Provider::owning_variable("PINATA_HOSTED_INFERENCE"), None);
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_connection(&user, &Credential::pinata(value("pk-host")))
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &name("PINATA_LLM_KEY"),
            Kind::Secret,
            value("pk-user"),
        )
        .await
        .unwrap();
    let id = agent(&vault, "a").await;
    let err = vault
        .attach(
            &user,
            id,
            &[
                conn(Provider::Pinata, CredentialKind::Hosted),
                item("PINATA_LLM_KEY"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProviderConflict {
                provider: Provider::Pinata,
                ..
            }
        ),
        "{err:?}"
    );
    // Either one alone is fine, and the agent sees the key it holds.
    vault
        .attach(&user, id, &[item("PINATA_LLM_KEY")])
        .await
        .unwrap();
    let (env, _) = vault.environment(&user, id).await.unwrap();
    assert_eq!(
        env.get("PINATA_LLM_KEY")
            .map(|v| v.expose_secret().to_owned()),
        Some("pk-user".to_owned())
    );
    // An empty key can't be a credential's value.
    assert!(SecretValue::parse(SecretString::from("")).is_err());
    // Nor can a key Pinata does not connect by: refused when built, before
    // any vault sees it.
    let refused = Credential::api_key(Provider::Pinata, value("pk-CANARY")).unwrap_err();
    assert_eq!(refused.given(), Some("pinata:api-key"));
    assert!(!format!("{refused} {refused:?}").contains("CANARY"));
    assert!(matches!(Error::from(refused), Error::InvalidInput { .. }));
}

/// The vault's value limit applies to every variable a connection sets, as
/// to an item's value: over it, connecting and updating are refused with
/// `InvalidValue`/`TooLong` naming the variable, never echoing the value,
/// and nothing is stored.
#[tokio::test]
async fn a_credential_over_the_configured_value_limit_is_refused() {
    let config = agent_vault::VaultConfig::default().with_max_value_len(16);
    let vault = Vault::with_config(
        MemoryStore::new(),
        Keyring::single(MasterKey::generate()),
        config,
    );
    let user = alice();
    let long = "CANARY-".repeat(3);
    let refused = |err: Error, variable: &str| {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        match err {
            Error::InvalidValue {
                name,
                reason: agent_vault::ValueError::TooLong { len, max: 16 },
            } => {
                assert_eq!(name, variable);
                assert!(len > 16);
            }
            other => panic!("expected TooLong for {variable}, got {other:?}"),
        }
    };
    let endpoint = CustomEndpoint::new("https://a.io", Some(value(&long)), vec![]);
    for (credential, variable) in [
        (api_key(Provider::OpenAi, &long), "OPENAI_API_KEY"),
        (Credential::pinata(value(&long)), "PINATA_LLM_KEY"),
        (
            Credential::Custom(endpoint.unwrap()),
            "CUSTOM_OPENAI_API_KEY",
        ),
        // The bundle's JSON is what the agent gets, so it is what is measured.
        (codex(), "OPENAI_OAUTH_TOKEN"),
    ] {
        refused(
            vault
                .create_connection(&user, &credential)
                .await
                .unwrap_err(),
            variable,
        );
    }
    assert!(vault.connections(&user).await.unwrap().is_empty());

    // At the limit it is stored; an update over it is refused and changes
    // nothing.
    let at_limit = "k".repeat(16);
    vault
        .create_connection(&user, &api_key(Provider::Venice, &at_limit))
        .await
        .unwrap();
    let err = vault
        .update_connection(&user, &api_key(Provider::Venice, &long))
        .await
        .unwrap_err();
    refused(err, "VENICE_API_KEY");
    let cards = vault.connections(&user).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].version, 1);
}

async fn attaching_what_would_set_one_variable_twice_is_a_conflict<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_item(
            &user,
            &name("CUSTOM_OPENAI_MODELS"),
            Kind::Variable,
            value("x"),
        )
        .await
        .unwrap();
    vault
        .create_item(&user, &name("MISSING_LATER"), Kind::Variable, value("x"))
        .await
        .unwrap();
    vault
        .create_connection(
            &user,
            &Credential::Custom(CustomEndpoint::new("http://localhost:1", None, vec![]).unwrap()),
        )
        .await
        .unwrap();
    let id = agent(&vault, "a").await;
    // CUSTOM_OPENAI_MODELS is one of Custom's variables, so it counts as
    // Custom's credential: a provider conflict first.
    let err = vault
        .attach(
            &user,
            id,
            &[
                item("CUSTOM_OPENAI_MODELS"),
                conn(Provider::Custom, CredentialKind::Custom),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProviderConflict { .. }), "{err:?}");

    // Unknown targets are 404 and attach nothing.
    let err = vault
        .attach(&user, id, &[item("MISSING_LATER"), item("NOPE")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(vault.agent(&user, id).await.unwrap().attached.is_empty());
}

async fn the_synced_indicator_follows_updates_attaches_detaches_and_deploys<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    vault
        .create_item(&user, &name("A"), Kind::Secret, value("a1"))
        .await
        .unwrap();
    vault
        .create_item(&user, &name("B"), Kind::Variable, value("b1"))
        .await
        .unwrap();
    let id = agent(&vault, "bot").await;
    vault.attach(&user, id, &[item("A")]).await.unwrap();

    let states = |status: &agent_vault::AgentStatus| {
        status
            .items
            .iter()
            .map(|i| (i.name.clone(), i.state))
            .collect::<Vec<_>>()
    };
    let status = vault.status(&user, id).await.unwrap();
    assert_eq!(states(&status), [("A".to_owned(), SyncState::NotDeployed)]);
    assert!(
        status.restart_needed,
        "never deployed: it has to be started"
    );

    let (_, receipt) = vault.environment(&user, id).await.unwrap();
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    let status = vault.status(&user, id).await.unwrap();
    assert_eq!(states(&status), [("A".to_owned(), SyncState::Synced)]);
    assert!(!status.restart_needed);

    // Updating a value never rolls out by itself.
    vault
        .update_item(&user, &name("A"), value("a2"))
        .await
        .unwrap();
    let status = vault.status(&user, id).await.unwrap();
    assert_eq!(states(&status), [("A".to_owned(), SyncState::Stale)]);
    assert!(status.restart_needed);

    // A new attachment is stale; a detached one is "removed" until the restart.
    vault.attach(&user, id, &[item("B")]).await.unwrap();
    let (_, receipt) = vault.environment(&user, id).await.unwrap();
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    vault.detach(&user, id, &[item("A")]).await.unwrap();
    let status = vault.status(&user, id).await.unwrap();
    assert_eq!(
        states(&status),
        [
            ("B".to_owned(), SyncState::Synced),
            ("A".to_owned(), SyncState::Removed)
        ]
    );
    assert!(status.restart_needed);

    // Rotating the token makes the agent stale too.
    let (env, receipt) = vault.environment(&user, id).await.unwrap();
    assert!(env.get("A").is_none());
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    assert!(!vault.status(&user, id).await.unwrap().restart_needed);
    vault.rotate_gateway_token(&user, id).await.unwrap();
    let status = vault.status(&user, id).await.unwrap();
    assert!(status.token_stale && status.restart_needed);

    // An older receipt does not overwrite a newer one (receipts are ordered
    // by their millisecond issue time).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (_, newer) = vault.environment(&user, id).await.unwrap();
    vault.record_deployment(&newer.user, &newer).await.unwrap();
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    assert!(!vault.status(&user, id).await.unwrap().restart_needed);
    assert!(matches!(
        vault.status(&user, id).await.unwrap().items[0].target,
        Target::Item(_)
    ));
}

async fn gateway_tokens_verify_in_constant_time_and_rotate<B: Backend>() {
    let vault = vault::<B>().await;
    let user = alice();
    let (info, first) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        vault
            .gateway_token(&user, info.id)
            .await
            .unwrap()
            .expose_secret(),
        first.expose_secret()
    );
    vault
        .verify_gateway_token(&user, info.id, first.expose_secret())
        .await
        .unwrap();
    let second = vault.rotate_gateway_token(&user, info.id).await.unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret());
    let err = vault
        .verify_gateway_token(&user, info.id, first.expose_secret())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenRejected));
    assert_eq!(err.http_status(), 401);
    vault
        .verify_gateway_token(&user, info.id, second.expose_secret())
        .await
        .unwrap();
    let (env, _) = vault.environment(&user, info.id).await.unwrap();
    assert_eq!(
        env.get("OPENCLAW_GATEWAY_TOKEN").unwrap().expose_secret(),
        second.expose_secret()
    );
}

async fn the_token_variable_is_configurable<B: Backend>() {
    let vault = Vault::with_config(
        B::store().await,
        Keyring::single(MasterKey::generate()),
        agent_vault::VaultConfig::default().with_gateway_token_var(name("GATEWAY_TOKEN")),
    );
    let user = alice();
    let (info, token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    let (env, _) = vault.environment(&user, info.id).await.unwrap();
    assert_eq!(
        env.get("GATEWAY_TOKEN").unwrap().expose_secret(),
        token.expose_secret()
    );
    let err = vault
        .create_item(&user, &name("gateway_token"), Kind::Secret, value("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }));
}

/// A store that yields to the scheduler before every call and counts the
/// conflicts it reports, so racing tasks really interleave between their
/// reads and their commits, and the test can show that they did.
#[derive(Default)]
struct Interleaving {
    inner: MemoryStore,
    conflicts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Store for Interleaving {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        tokio::task::yield_now().await;
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.inner.list(user, kind).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.users().await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        let result = self.inner.commit(writes).await;
        if matches!(result, Err(StoreError::Conflict { .. })) {
            self.conflicts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}

fn racing_vault() -> Arc<Vault<Arc<Interleaving>>> {
    Arc::new(Vault::new(
        Arc::new(Interleaving::default()),
        Keyring::single(MasterKey::generate()),
    ))
}

fn conflicts(vault: &Vault<Arc<Interleaving>>) -> usize {
    vault
        .store()
        .conflicts
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn racing_agent(vault: &Vault<Arc<Interleaving>>, name: &str) -> AgentId {
    vault
        .create_agent(&alice(), &name.parse().unwrap())
        .await
        .unwrap()
        .0
        .id
}

/// Many threads race deletes against attaches: no deleted item is ever left
/// attached, and an item that is attached at the end still exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_racing_attaches_never_leave_a_deleted_item_attached() {
    let mut total_conflicts = 0;
    for round in 0..20 {
        let vault = racing_vault();
        let user = alice();
        vault
            .create_item(&user, &name("RACE"), Kind::Secret, value("x"))
            .await
            .unwrap();
        let mut agents = Vec::new();
        for i in 0..6 {
            agents.push(racing_agent(&vault, &format!("a{i}")).await);
        }
        let mut tasks = Vec::new();
        for id in agents.clone() {
            let (v, u) = (vault.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                v.attach(&u, id, &[item("RACE")]).await.map(|_| ())
            }));
            let (v, u) = (vault.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                v.delete_item(&u, &name("RACE")).await
            }));
        }
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) | Err(Error::Attached { .. } | Error::NotFound { .. }) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        let exists = vault.item(&user, &name("RACE")).await.ok();
        for id in agents {
            let attached = !vault.agent(&user, id).await.unwrap().attached.is_empty();
            if attached {
                let item = exists.as_ref().expect("an attached item was deleted");
                assert!(item.agents.contains(&id));
            }
            // Every environment still opens.
            vault.environment(&user, id).await.unwrap();
        }
        total_conflicts += conflicts(&vault);
    }
    assert!(
        total_conflicts > 0,
        "the tasks never collided: the test raced nothing"
    );
}

/// Many threads race attaches of different credentials for one provider to
/// one agent: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_attaches_never_leave_two_credentials_for_one_provider() {
    let mut total_conflicts = 0;
    for round in 0..20 {
        let vault = racing_vault();
        let user = alice();
        vault
            .create_item(&user, &name("OPENAI_API_KEY"), Kind::Secret, value("s"))
            .await
            .unwrap();
        vault.create_connection(&user, &codex()).await.unwrap();
        vault
            .create_connection(&user, &api_key(Provider::OpenAi, "k"))
            .await
            .unwrap();
        let id = racing_agent(&vault, "a").await;
        let candidates = [
            item("OPENAI_API_KEY"),
            conn(Provider::OpenAi, CredentialKind::CodexSubscription),
            conn(Provider::OpenAi, CredentialKind::ApiKey),
        ];
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (v, u) = (vault.clone(), user.clone());
            let target = candidates[i % 3].clone();
            tasks.push(tokio::spawn(
                async move { v.attach(&u, id, &[target]).await },
            ));
        }
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) | Err(Error::ProviderConflict { .. }) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        let attached = vault.agent(&user, id).await.unwrap().attached;
        assert_eq!(attached.len(), 1, "round {round}: {attached:?}");
        let (env, _) = vault.environment(&user, id).await.unwrap();
        let openai_vars = env.names().filter(|n| n.starts_with("OPENAI_")).count();
        assert_eq!(openai_vars, 1);
        total_conflicts += conflicts(&vault);
    }
    assert!(
        total_conflicts > 0,
        "the tasks never collided: the test raced nothing"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_environment_applies_to_tokio_commands() {
    let vault = vault::<support::backends::Memory>().await;
    let user = alice();
    vault
        .create_item(&user, &name("ONLY_ME"), Kind::Secret, value("tokio-ok"))
        .await
        .unwrap();
    let id = agent(&vault, "t").await;
    vault.attach(&user, id, &[item("ONLY_ME")]).await.unwrap();
    let (env, _) = vault.environment(&user, id).await.unwrap();
    let mut command = tokio::process::Command::new("sh");
    command.args(["-c", "printf %s \"$ONLY_ME\""]);
    env.apply_to_tokio(&mut command);
    let output = command.output().await.unwrap();
    assert_eq!(output.stdout, b"tokio-ok");
}

/// The owner index records under the vault's reserved user.
async fn owner_index(store: &impl Store) -> Vec<Record> {
    let vault_user = UserId::parse_stored("~vault").unwrap();
    store
        .list(&vault_user, RecordKind::AgentOwner)
        .await
        .unwrap()
}

async fn an_agents_owner_is_found_from_its_id_alone<B: Backend>() {
    let store = B::store().await;
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let bob = UserId::parse("bob").unwrap();
    let (mine, _) = vault
        .create_agent(&alice(), &"mine".parse().unwrap())
        .await
        .unwrap();
    let (theirs, _) = vault
        .create_agent(&bob, &"theirs".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(vault.agent_owner(mine.id).await.unwrap(), alice());
    assert_eq!(vault.agent_owner(theirs.id).await.unwrap(), bob);
    assert!(matches!(
        vault.agent_owner(AgentId::new_random()).await,
        Err(Error::NotFound {
            what: Entity::Agent,
            ..
        })
    ));
    // One index record per agent, no scan of users needed.
    assert_eq!(owner_index(&store).await.len(), 2);

    // Deleting the agent removes its entry.
    vault.delete_agent(&alice(), mine.id).await.unwrap();
    assert!(matches!(
        vault.agent_owner(mine.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(owner_index(&store).await.len(), 1);
}

async fn a_refused_create_leaves_no_owner_index_entry<B: Backend>() {
    let store = B::store().await;
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    vault
        .create_item(&alice(), &name("OPENAI_API_KEY"), Kind::Secret, value("a"))
        .await
        .unwrap();
    vault
        .create_item(
            &alice(),
            &name("OPENAI_OAUTH_TOKEN"),
            Kind::Secret,
            value("b"),
        )
        .await
        .unwrap();
    let refused = vault
        .create_agent_with(
            &alice(),
            &"bot".parse().unwrap(),
            &[item("OPENAI_API_KEY"), item("OPENAI_OAUTH_TOKEN")],
        )
        .await;
    assert!(matches!(refused, Err(Error::ProviderConflict { .. })));
    assert!(owner_index(&store).await.is_empty());
    assert!(vault.agents(&alice()).await.unwrap().is_empty());
}

async fn items_attach_and_detach_by_id_as_by_name<B: Backend>() {
    let vault = vault::<B>().await;
    let token = vault
        .create_item(
            &alice(),
            &name("TELEGRAM_BOT_TOKEN"),
            Kind::Secret,
            value("t"),
        )
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&alice(), &"bot".parse().unwrap())
        .await
        .unwrap();
    let by_id = Attachable::parse_id(&token.id.to_string()).unwrap();
    assert_eq!(by_id, Attachable::ItemId(token.id));
    let attached = vault
        .attach(&alice(), agent.id, std::slice::from_ref(&by_id))
        .await
        .unwrap();
    assert_eq!(attached.attached, ["TELEGRAM_BOT_TOKEN"]);
    // The same item by name is already attached: nothing changes.
    let again = vault
        .attach(&alice(), agent.id, &[item("TELEGRAM_BOT_TOKEN")])
        .await
        .unwrap();
    assert_eq!(again.attached.len(), 1);
    // Another user's id, or an unknown one, is not found.
    let bob = UserId::parse("bob").unwrap();
    let (bobs, _) = vault
        .create_agent(&bob, &"b".parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(
        vault
            .attach(&bob, bobs.id, std::slice::from_ref(&by_id))
            .await,
        Err(Error::NotFound { .. })
    ));
    let detached = vault.detach(&alice(), agent.id, &[by_id]).await.unwrap();
    assert!(detached.attached.is_empty());

    // Connection ids parse as connections; anything else is refused, 400.
    assert_eq!(
        Attachable::parse_id("openai:codex-subscription").unwrap(),
        conn(Provider::OpenAi, CredentialKind::CodexSubscription)
    );
    for bad in ["openai", "TELEGRAM_BOT_TOKEN", "gemini:api-key", ""] {
        let error = Attachable::parse_id(bad).unwrap_err();
        assert_eq!(error.http_status(), 400, "{bad:?}");
    }
}

on_every_backend!(
    agents_are_created_listed_got_and_deleted,
    the_environment_holds_exactly_what_is_attached_plus_the_token,
    codex_subscription_materialises_as_the_json_bundle,
    connections_are_cards_without_credentials_and_both_openai_kinds_coexist,
    nothing_attached_can_be_deleted_and_the_conflict_names_the_agents,
    one_credential_per_provider_per_agent,
    a_user_pinata_llm_key_counts_as_the_pinata_credential,
    attaching_what_would_set_one_variable_twice_is_a_conflict,
    the_synced_indicator_follows_updates_attaches_detaches_and_deploys,
    gateway_tokens_verify_in_constant_time_and_rotate,
    the_token_variable_is_configurable,
    an_agents_owner_is_found_from_its_id_alone,
    a_refused_create_leaves_no_owner_index_entry,
    items_attach_and_detach_by_id_as_by_name,
);
