//! Manifest requirements: what an agent declares against what it gets.

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{
    AgentId, Attachable, ConnectionId, Credential, CredentialKind, CustomEndpoint, Error, Kind,
    Name, Provider, Provision, Requirement, RequirementState, Requirements, SecretValue, UserId,
    Vault, VaultConfig,
};
use secrecy::SecretString;

fn vault() -> Vault<MemoryStore> {
    Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()))
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

fn states(
    report: &agent_vault::RequirementsReport,
) -> Vec<(&str, RequirementState, Option<Provision>)> {
    report
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.state, e.provided_by))
        .collect()
}

const MANIFEST: &str = r#"{
  "name": "support-bot",
  "image": "ghcr.io/example/bot:1",
  "secrets": [
    { "name": "OPENROUTER_API_KEY" },
    { "name": "TELEGRAM_BOT_TOKEN", "description": "BotFather token", "required": false },
    { "name": "DB_URL" },
    { "name": "PUBLIC_URL" },
    { "name": "WEBHOOK_SECRET" },
    { "name": "PINATA_LLM_KEY", "required": false }
  ]
}"#;

async fn agent(vault: &Vault<MemoryStore>, user: &UserId, name: &str) -> AgentId {
    vault
        .create_agent(user, &name.parse().unwrap())
        .await
        .unwrap()
        .0
        .id
}

#[tokio::test]
async fn each_declared_name_is_attached_in_the_vault_or_missing() {
    let vault = vault();
    let user = alice();
    let requirements = Requirements::from_manifest_json(MANIFEST).unwrap();
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::OpenRouter,
                SecretValue::parse(SecretString::from("sk-or-1")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    vault
        .create_connection(
            &user,
            &Credential::pinata(SecretValue::parse(SecretString::from("pk-1")).unwrap()),
        )
        .await
        .unwrap();
    vault
        .create_item(&user, &name("DB_URL"), Kind::Secret, value("postgres://x"))
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
    // Another spelling is another environment variable.
    vault
        .create_item(&user, &name("webhook_secret"), Kind::Secret, value("w"))
        .await
        .unwrap();
    let bot = agent(&vault, &user, "bot").await;

    let report = vault
        .check_requirements(&user, bot, &requirements)
        .await
        .unwrap();
    let openrouter = ConnectionId::new(Provider::OpenRouter, CredentialKind::ApiKey).unwrap();
    let pinata = ConnectionId::new(Provider::Pinata, CredentialKind::Hosted).unwrap();
    assert_eq!(
        states(&report),
        [
            (
                "OPENROUTER_API_KEY",
                RequirementState::NotAttached,
                Some(Provision::Connection { id: openrouter })
            ),
            ("TELEGRAM_BOT_TOKEN", RequirementState::Missing, None),
            (
                "DB_URL",
                RequirementState::NotAttached,
                Some(Provision::Item { kind: Kind::Secret })
            ),
            (
                "PUBLIC_URL",
                RequirementState::NotAttached,
                Some(Provision::Item {
                    kind: Kind::Variable
                })
            ),
            ("WEBHOOK_SECRET", RequirementState::Missing, None),
            (
                "PINATA_LLM_KEY",
                RequirementState::NotAttached,
                Some(Provision::Connection { id: pinata })
            ),
        ]
    );
    assert!(!report.is_satisfied());
    assert_eq!(
        report.entries[1].description.as_deref(),
        Some("BotFather token")
    );
    let unsatisfied: Vec<_> = report.unsatisfied().map(|e| e.name.as_str()).collect();
    assert_eq!(
        unsatisfied,
        [
            "OPENROUTER_API_KEY",
            "DB_URL",
            "PUBLIC_URL",
            "WEBHOOK_SECRET"
        ]
    );

    vault
        .create_item(&user, &name("WEBHOOK_SECRET"), Kind::Secret, value("w2"))
        .await
        .unwrap_err(); // names are unique ignoring case: rename instead
    vault
        .delete_item(&user, &name("webhook_secret"))
        .await
        .unwrap();
    vault
        .create_item(&user, &name("WEBHOOK_SECRET"), Kind::Secret, value("w2"))
        .await
        .unwrap();
    vault
        .attach(
            &user,
            bot,
            &[
                Attachable::Connection(openrouter),
                Attachable::Item(name("DB_URL")),
                Attachable::Item(name("PUBLIC_URL")),
                Attachable::Item(name("WEBHOOK_SECRET")),
            ],
        )
        .await
        .unwrap();
    let report = vault
        .check_requirements(&user, bot, &requirements)
        .await
        .unwrap();
    assert!(report.is_satisfied(), "{report:?}");
    assert_eq!(report.count(RequirementState::Attached), 4);
    // Optional names may stay missing or unattached.
    assert_eq!(report.count(RequirementState::Missing), 1);
    assert_eq!(report.count(RequirementState::NotAttached), 1);

    // Another agent of the same user has nothing attached.
    let other = agent(&vault, &user, "other").await;
    let report = vault
        .check_requirements(&user, other, &requirements)
        .await
        .unwrap();
    assert_eq!(report.count(RequirementState::Attached), 0);
}

#[tokio::test]
async fn a_connection_provides_only_the_variables_it_really_sets() {
    let vault = vault();
    let user = alice();
    vault
        .create_connection(
            &user,
            &Credential::Custom(
                CustomEndpoint::new("https://llm.example.com/v1", None, vec![]).unwrap(),
            ),
        )
        .await
        .unwrap();
    let bot = agent(&vault, &user, "bot").await;
    vault
        .attach(&user, bot, &[Attachable::parse("provider:custom").unwrap()])
        .await
        .unwrap();
    let requirements: Requirements = ["CUSTOM_OPENAI_BASE_URL", "CUSTOM_OPENAI_API_KEY"]
        .into_iter()
        .map(|n| Requirement::new(name(n)))
        .collect();
    let report = vault
        .check_requirements(&user, bot, &requirements)
        .await
        .unwrap();
    let got: Vec<_> = report.entries.iter().map(|e| e.state).collect();
    // No key was given, so the endpoint sets no CUSTOM_OPENAI_API_KEY.
    assert_eq!(got, [RequirementState::Attached, RequirementState::Missing]);
}

#[tokio::test]
async fn the_gateway_token_variable_is_always_attached() {
    let config = VaultConfig::default().with_gateway_token_var(name("GATEWAY_TOKEN"));
    let vault = Vault::with_config(
        MemoryStore::new(),
        Keyring::single(MasterKey::generate()),
        config,
    );
    let user = alice();
    let bot = agent(&vault, &user, "bot").await;
    let requirements =
        Requirements::from_manifest_json(r#"{"secrets":[{"name":"GATEWAY_TOKEN"}]}"#).unwrap();
    let report = vault
        .check_requirements(&user, bot, &requirements)
        .await
        .unwrap();
    assert_eq!(
        states(&report),
        [(
            "GATEWAY_TOKEN",
            RequirementState::Attached,
            Some(Provision::GatewayToken)
        )]
    );
    assert!(report.is_satisfied());
}

#[tokio::test]
async fn an_unknown_agent_or_another_users_agent_is_not_found() {
    let vault = vault();
    let user = alice();
    let bob = UserId::parse("bob").unwrap();
    let bots = agent(&vault, &bob, "bobs-bot").await;
    let requirements = Requirements::from_manifest_json(MANIFEST).unwrap();
    let err = vault
        .check_requirements(&user, bots, &requirements)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // Nothing declared: trivially satisfied.
    let report = vault
        .check_requirements(&bob, bots, &Requirements::default())
        .await
        .unwrap();
    assert!(report.is_satisfied() && report.entries.is_empty());
}

#[test]
fn a_manifest_error_is_a_400_vault_error() {
    let err: Error = Requirements::from_manifest_json(r#"{"secrets":[{"name":"1X"}]}"#)
        .unwrap_err()
        .into();
    assert_eq!(err.http_status(), 400);
    assert!(err.to_string().contains("1X"), "{err}");
}

#[tokio::test]
async fn create_agent_for_attaches_what_the_manifest_declares_in_one_commit() {
    let vault = vault();
    let user = alice();
    vault
        .create_item(&user, &name("TELEGRAM_BOT_TOKEN"), Kind::Secret, value("t"))
        .await
        .unwrap();
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::OpenRouter,
                SecretValue::parse(SecretString::from("sk-or")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let requirements = Requirements::from_manifest_json(
        r#"{"secrets": [
            {"name": "OPENROUTER_API_KEY"},
            {"name": "TELEGRAM_BOT_TOKEN"},
            {"name": "OPENCLAW_GATEWAY_TOKEN"},
            {"name": "SENTRY_DSN", "required": false}
        ]}"#,
    )
    .unwrap();
    let (agent, _token) = vault
        .create_agent_for(&user, &"support-bot".parse().unwrap(), &requirements)
        .await
        .unwrap();
    assert_eq!(agent.attached, ["openrouter:api-key", "TELEGRAM_BOT_TOKEN"]);
    let report = vault
        .check_requirements(&user, agent.id, &requirements)
        .await
        .unwrap();
    assert!(report.is_satisfied(), "{report:?}");
    // The items know their agent (the attachment is real, not a label).
    let item = vault
        .item(&user, &name("TELEGRAM_BOT_TOKEN"))
        .await
        .unwrap();
    assert_eq!(item.agents, [agent.id]);
}

#[tokio::test]
async fn create_agent_for_refuses_listing_every_missing_required_name() {
    let vault = vault();
    let user = alice();
    vault
        .create_item(&user, &name("TELEGRAM_BOT_TOKEN"), Kind::Secret, value("t"))
        .await
        .unwrap();
    let requirements = Requirements::from_manifest_json(
        r#"{"secrets": [
            {"name": "OPENROUTER_API_KEY"},
            {"name": "TELEGRAM_BOT_TOKEN"},
            {"name": "DISCORD_TOKEN"},
            {"name": "SENTRY_DSN", "required": false}
        ]}"#,
    )
    .unwrap();
    let error = vault
        .create_agent_for(&user, &"support-bot".parse().unwrap(), &requirements)
        .await
        .unwrap_err();
    match &error {
        Error::RequirementsMissing { names } => {
            let names: Vec<&str> = names.iter().map(Name::as_str).collect();
            assert_eq!(names, ["OPENROUTER_API_KEY", "DISCORD_TOKEN"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.http_status(), 409);
    assert!(
        error
            .to_string()
            .contains("OPENROUTER_API_KEY, DISCORD_TOKEN"),
        "{error}"
    );
    assert!(
        vault.agents(&user).await.unwrap().is_empty(),
        "nothing created"
    );
    let item = vault
        .item(&user, &name("TELEGRAM_BOT_TOKEN"))
        .await
        .unwrap();
    assert!(item.agents.is_empty());
}

#[tokio::test]
async fn create_agent_with_is_all_or_nothing() {
    let vault = vault();
    let user = alice();
    vault
        .create_item(&user, &name("OPENAI_API_KEY"), Kind::Secret, value("sk"))
        .await
        .unwrap();
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::OpenAi,
                SecretValue::parse(SecretString::from("sk-2")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // Two credentials for one provider: refused, and no agent exists.
    let openai = ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap();
    let error = vault
        .create_agent_with(
            &user,
            &"bot".parse().unwrap(),
            &[
                Attachable::Item(name("OPENAI_API_KEY")),
                Attachable::Connection(openai),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ProviderConflict { .. }), "{error:?}");
    // A target that does not exist: refused too.
    let error = vault
        .create_agent_with(
            &user,
            &"bot".parse().unwrap(),
            &[Attachable::Item(name("NOPE"))],
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert!(vault.agents(&user).await.unwrap().is_empty());
    assert!(
        vault
            .item(&user, &name("OPENAI_API_KEY"))
            .await
            .unwrap()
            .agents
            .is_empty()
    );

    let (agent, _) = vault
        .create_agent_with(
            &user,
            &"bot".parse().unwrap(),
            &[Attachable::Connection(openai)],
        )
        .await
        .unwrap();
    assert_eq!(agent.attached, ["openai:api-key"]);
    let (env, _) = vault.environment(&user, agent.id).await.unwrap();
    assert!(env.get("OPENAI_API_KEY").is_some());
}
