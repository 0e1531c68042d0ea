//! Leak canaries: random secret values flow through every vault operation;
//! every public type and error the calls produce is formatted with `Debug`,
//! with `Display` where it has one, and as serde JSON where it is
//! `Serialize`, and none of that text contains a canary. The stored records
//! (`MemoryStore::snapshot()`, which includes every sealed record) contain
//! none either: not a secret's value, a connection's credential or a
//! gateway token, current or rotated away.
//!
//! The crate does not log (it has no `tracing` or `log` dependency), so
//! there is no log output to check.

/// Every public type's output, and the store, for one canary set.
#[path = "canaries/hygiene.rs"]
mod hygiene;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::dotenv;
use agent_vault::hazmat::UserKeys;
use agent_vault::store::{FaultPlan, FaultyStore, MemoryStore};
use agent_vault::{
    Attachable, CodexTokens, ConnectionId, Credential, CustomEndpoint, Error, ImportOptions, Kind,
    Name, OnConflict, Provider, SecretValue, Timestamp, UserId, Vault, VaultConfig,
};
use proptest::prelude::*;
use secrecy::{ExposeSecret as _, SecretString};

/// Eight distinct canaries: secret values, API keys, OAuth tokens.
fn canaries() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[A-Za-z0-9]{12,24}", 8).prop_map(|values| {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| format!("cnry{i}{v}"))
            .collect()
    })
}

/// Collects everything the calls show, to check at the end.
#[derive(Default)]
struct Shown(Vec<String>);

impl Shown {
    fn debug(&mut self, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{value:?}"));
        self.0.push(format!("{value:#?}"));
    }

    fn display(&mut self, value: &dyn std::fmt::Display) {
        self.0.push(value.to_string());
    }

    fn json<T: serde::Serialize>(&mut self, value: &T) {
        self.0
            .push(serde_json::to_string(value).expect("serialisable"));
    }

    fn error(&mut self, error: &Error) {
        self.debug(error);
        self.display(error);
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            self.display(inner);
            self.debug(inner);
            source = inner.source();
        }
    }
}

fn secret(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).expect("a valid value")
}

fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

async fn scenario(c: &[String]) -> Result<(), TestCaseError> {
    let store = MemoryStore::new();
    let master = MasterKey::generate();
    let vault = Vault::with_config(
        store.clone(),
        Keyring::single(master.clone()),
        VaultConfig::default().with_max_value_len(256),
    );
    let user = UserId::parse("alice").unwrap();
    let mut shown = Shown::default();
    let mut tokens: Vec<String> = Vec::new();

    // Secrets and a variable.
    let value = secret(&c[0]);
    shown.debug(&value);
    let item = vault
        .create_item(&user, &name("API_TOKEN"), Kind::Secret, value)
        .await
        .unwrap();
    shown.debug(&item);
    shown.json(&item);
    let item = vault
        .update_item(&user, &name("api_token"), secret(&c[1]))
        .await
        .unwrap();
    shown.debug(&item);
    shown.json(&item);
    vault
        .create_item(
            &user,
            &name("PUBLIC_URL"),
            Kind::Variable,
            secret("https://x"),
        )
        .await
        .unwrap();
    let listed = vault.items(&user).await.unwrap();
    shown.debug(&listed);
    shown.json(&listed);
    let got = vault.item(&user, &name("API_TOKEN")).await.unwrap();
    shown.debug(&got);
    shown.json(&got);

    // An import of secrets, a dry run, a refused one and a broken one.
    let file = format!("IMPORTED={}\nexport OTHER=\"{}\"\n", c[2], c[3]);
    let parsed = dotenv::parse(file.as_bytes()).unwrap();
    shown.debug(&parsed);
    for entry in parsed.entries() {
        shown.debug(entry);
    }
    for dry_run in [true, false] {
        let report = vault
            .import_dotenv(
                &user,
                file.as_bytes(),
                &ImportOptions::default().dry_run(dry_run),
            )
            .await
            .unwrap();
        shown.debug(&report);
        shown.json(&report);
        for entry in &report.entries {
            shown.debug(entry);
            shown.json(entry);
        }
    }
    let overwrite = format!("IMPORTED={}\nIMPORTED={}\n", c[4], c[3]);
    let report = vault
        .import_dotenv(
            &user,
            overwrite.as_bytes(),
            &ImportOptions::default().on_conflict(OnConflict::Overwrite),
        )
        .await
        .unwrap();
    shown.debug(&report);
    shown.json(&report);
    let mut errors = vec![
        vault
            .import_dotenv(&user, file.as_bytes(), &ImportOptions::default())
            .await
            .unwrap_err(),
        vault
            .import_dotenv(
                &user,
                format!("A={}\nB=\"{}", c[0], c[1]).as_bytes(),
                &ImportOptions::default(),
            )
            .await
            .unwrap_err(),
        vault
            .import_dotenv(
                &user,
                format!("PATH={}\n", c[0]).as_bytes(),
                &ImportOptions::default(),
            )
            .await
            .unwrap_err(),
        vault
            .import_dotenv(
                &user,
                format!("A={}\na={}\n", c[0], c[1]).as_bytes(),
                &ImportOptions::default(),
            )
            .await
            .unwrap_err(),
        vault
            .import_dotenv(
                &user,
                format!("A={}\n", c[0].repeat(16)).as_bytes(),
                &ImportOptions::default(),
            )
            .await
            .unwrap_err(),
    ];
    let parse_error = dotenv::parse(c[0].as_bytes()).unwrap_err();
    shown.debug(&parse_error);
    shown.display(&parse_error);
    let export = vault.export_variables(&user).await.unwrap();
    shown.0.push(export.to_string());

    // Connections of every kind.
    let api = Credential::api_key(Provider::OpenRouter, secret(&c[5])).unwrap();
    shown.debug(&api);
    let info = vault.create_connection(&user, &api).await.unwrap();
    shown.debug(&info);
    shown.json(&info);
    let codex = CodexTokens::new(secret(&c[6]), secret(&c[7]), Timestamp::now());
    shown.debug(&codex);
    let codex = Credential::CodexSubscription(codex);
    shown.debug(&codex);
    vault.create_connection(&user, &codex).await.unwrap();
    let endpoint = CustomEndpoint::new(
        "https://llm.example.com",
        Some(secret(&c[4])),
        vec!["m".into()],
    )
    .unwrap();
    shown.debug(&endpoint);
    vault
        .create_connection(&user, &Credential::Custom(endpoint))
        .await
        .unwrap();
    let info = vault
        .update_connection(
            &user,
            &Credential::api_key(Provider::OpenRouter, secret(&c[2])).unwrap(),
        )
        .await
        .unwrap();
    shown.debug(&info);
    shown.json(&info);
    let cards = vault.connections(&user).await.unwrap();
    shown.debug(&cards);
    shown.json(&cards);

    // Agents, attachments, the environment, deployments, tokens.
    let (agent, token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    tokens.push(token.expose_secret().to_owned());
    shown.debug(&agent);
    shown.json(&agent);
    shown.debug(&token);
    let targets = [
        Attachable::parse("API_TOKEN").unwrap(),
        Attachable::parse("IMPORTED").unwrap(),
        Attachable::parse("provider:openrouter").unwrap(),
        Attachable::parse("provider:openai:codex-subscription").unwrap(),
        Attachable::parse("provider:custom").unwrap(),
    ];
    for target in &targets {
        shown.debug(target);
        shown.display(target);
    }
    let attached = vault.attach(&user, agent.id, &targets).await.unwrap();
    shown.debug(&attached);
    shown.json(&attached);
    let (env, receipt) = vault.environment(&user, agent.id).await.unwrap();
    shown.debug(&env);
    shown.debug(&receipt);
    shown.json(&receipt);
    // Not vacuous: the values really are in the environment.
    let everything: String = env.iter().map(|(_, v)| v.expose_secret()).collect();
    for canary in [&c[1], &c[3], &c[2], &c[6], &c[7], &c[4]] {
        prop_assert!(everything.contains(canary.as_str()));
    }
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    let status = vault.status(&user, agent.id).await.unwrap();
    shown.debug(&status);
    shown.json(&status);
    let rotated = vault.rotate_gateway_token(&user, agent.id).await.unwrap();
    tokens.push(rotated.expose_secret().to_owned());
    shown.debug(&rotated);
    let viewed = vault.gateway_token(&user, agent.id).await.unwrap();
    shown.debug(&viewed);
    shown.debug(&vault.agents(&user).await.unwrap());
    shown.json(&vault.agents(&user).await.unwrap());
    shown.debug(&vault.agent(&user, agent.id).await.unwrap());

    // Errors on every path where a secret was at hand.
    errors.extend([
        vault
            .create_item(&user, &name("API_TOKEN"), Kind::Secret, secret(&c[0]))
            .await
            .unwrap_err(),
        vault
            .update_item(&user, &name("API_TOKEN"), secret(&c[0].repeat(16)))
            .await
            .unwrap_err(),
        vault
            .create_item(&user, &name("PATH"), Kind::Secret, secret(&c[0]))
            .await
            .unwrap_err(),
        // A provider that takes no API key: refused when built.
        Error::from(Credential::api_key(Provider::Pinata, secret(&c[0])).unwrap_err()),
        // Over the vault's value limit (256 bytes here).
        vault
            .delete_item(&user, &name("API_TOKEN"))
            .await
            .unwrap_err(),
        vault
            .delete_connection(&user, ConnectionId::parse("openrouter").unwrap())
            .await
            .unwrap_err(),
        vault
            .create_connection(
                &user,
                &Credential::api_key(Provider::Venice, secret(&c[0].repeat(16))).unwrap(),
            )
            .await
            .unwrap_err(),
        vault
            .create_connection(
                &user,
                &Credential::api_key(Provider::OpenRouter, secret(&c[0])).unwrap(),
            )
            .await
            .unwrap_err(),
        vault
            .verify_gateway_token(&user, agent.id, &tokens[0])
            .await
            .unwrap_err(),
        vault
            .verify_gateway_token(&user, agent.id, &c[0])
            .await
            .unwrap_err(),
        vault
            .attach(
                &user,
                agent.id,
                &[Attachable::parse("provider:openai").unwrap()],
            )
            .await
            .unwrap_err(),
        CodexTokens::from_json(&format!("{{\"access_token\": \"{}\"", c[6])).unwrap_err(),
        CodexTokens::from_json(&format!(
            "{{\"access_token\": \"{}\", \"refresh_token\": \"{}\", \"expires_at\": \"{}\"}}",
            c[6], c[7], c[0]
        ))
        .unwrap_err(),
        CustomEndpoint::new(&format!("https://{}@x", c[4]), None, vec![]).unwrap_err(),
        CustomEndpoint::new(&format!("https://x/{}?k={}", c[4], c[5]), None, vec![]).unwrap_err(),
    ]);
    let value_error = SecretValue::parse(SecretString::from(format!("{}\0", c[0]))).unwrap_err();
    shown.debug(&value_error);
    shown.display(&value_error);

    // Store faults, ambiguous or not, carry no value either.
    let faulty = Vault::new(
        FaultyStore::new(MemoryStore::new(), FaultPlan::uniform(1.0, 7)),
        Keyring::single(master.clone()),
    );
    errors.push(
        faulty
            .create_item(&user, &name("X"), Kind::Secret, secret(&c[0]))
            .await
            .unwrap_err(),
    );
    shown.debug(&faulty);

    for error in &errors {
        shown.error(error);
    }
    shown.debug(&vault);
    shown.debug(&store);
    shown.debug(&Keyring::single(master));
    shown.debug(&UserKeys::generate());
    shown.json(&UserKeys::generate());

    let mut all: Vec<&str> = c.iter().map(String::as_str).collect();
    all.extend(tokens.iter().map(String::as_str));
    for text in &shown.0 {
        for canary in &all {
            prop_assert!(!text.contains(canary), "output leaks a canary: {}", text);
        }
    }
    // At rest: every record, sealed or not. (The only plaintext value,
    // PUBLIC_URL, is not a canary.)
    for record in store.snapshot() {
        let debug = format!("{record:?}");
        for canary in &all {
            prop_assert!(
                !contains(&record.body, canary.as_bytes()),
                "record {} holds a canary",
                record.key
            );
            prop_assert!(!debug.contains(canary));
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_output_and_no_record_contains_a_canary(c in canaries()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(scenario(&c))?;
    }
}
