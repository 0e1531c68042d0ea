//! Fixed canary values pass through every operation and never show
//! up in `Debug`, `Display`, errors, serde output or the store's records.

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::hazmat::UserKeys;
use agent_vault::store::MemoryStore;
use agent_vault::{
    Attachable, CodexTokens, Credential, CustomEndpoint, Kind, Name, Provider, SecretValue,
    Timestamp, UserId, Vault, VaultConfig,
};
use secrecy::{ExposeSecret, SecretString};

const CANARIES: [&str; 6] = [
    "CANARY-secret-5b1d",
    "CANARY-apikey-77e0",
    "CANARY-access-0c4f",
    "CANARY-refresh-9a2b",
    "CANARY-custom-3d8e",
    "CANARY-updated-61aa",
];

fn assert_clean(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{what} leaks {canary}: {text}");
    }
}

#[tokio::test]
async fn no_output_of_any_public_type_contains_a_secret() {
    let master = MasterKey::generate();
    let store = MemoryStore::new();
    let vault = Vault::with_config(
        store.clone(),
        Keyring::single(master.clone()),
        VaultConfig::default().with_max_value_len(256),
    );
    let user = UserId::parse("alice").unwrap();
    let mut shown: Vec<String> = Vec::new();

    let secret = SecretValue::parse(SecretString::from(CANARIES[0])).unwrap();
    shown.push(format!("{secret:?}"));
    let item = vault
        .create_item(&user, &Name::parse("S").unwrap(), Kind::Secret, secret)
        .await
        .unwrap();
    shown.push(format!(
        "{item:?} {}",
        serde_json::to_string(&item).unwrap()
    ));

    let key = Credential::api_key(
        Provider::OpenRouter,
        SecretValue::parse(SecretString::from(CANARIES[1])).unwrap(),
    )
    .unwrap();
    shown.push(format!("{key:?}"));
    vault.create_connection(&user, &key).await.unwrap();
    let tokens = CodexTokens::new(
        SecretValue::parse(SecretString::from(CANARIES[2])).unwrap(),
        SecretValue::parse(SecretString::from(CANARIES[3])).unwrap(),
        Timestamp::now(),
    );
    shown.push(format!("{tokens:?}"));
    vault
        .create_connection(&user, &Credential::CodexSubscription(tokens))
        .await
        .unwrap();
    let endpoint = CustomEndpoint::new(
        "https://llm.example.com",
        Some(SecretValue::parse(SecretString::from(CANARIES[4])).unwrap()),
        vec![],
    )
    .unwrap();
    shown.push(format!("{endpoint:?}"));
    vault
        .create_connection(&user, &Credential::Custom(endpoint))
        .await
        .unwrap();
    let cards = vault.connections(&user).await.unwrap();
    shown.push(format!(
        "{cards:?} {}",
        serde_json::to_string(&cards).unwrap()
    ));

    let (agent, token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    shown.push(format!("{agent:?} {token:?}"));
    vault
        .attach(
            &user,
            agent.id,
            &[
                Attachable::parse("S").unwrap(),
                Attachable::parse("provider:openrouter").unwrap(),
                Attachable::parse("provider:openai:codex-subscription").unwrap(),
                Attachable::parse("provider:custom").unwrap(),
            ],
        )
        .await
        .unwrap();
    let (env, receipt) = vault.environment(&user, agent.id).await.unwrap();
    shown.push(format!(
        "{env:?} {receipt:?} {}",
        serde_json::to_string(&receipt).unwrap()
    ));
    // The values are really in the environment (the test would be vacuous otherwise).
    let all: String = env
        .iter()
        .map(|(_, v)| v.expose_secret().to_owned())
        .collect();
    for canary in &CANARIES[..5] {
        assert!(
            all.contains(canary),
            "{canary} missing from the environment"
        );
    }
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .unwrap();
    let status = vault.status(&user, agent.id).await.unwrap();
    shown.push(format!(
        "{status:?} {}",
        serde_json::to_string(&status).unwrap()
    ));

    // Errors on every path where a value was at hand.
    let name = Name::parse("S").unwrap();
    let too_long = SecretValue::parse(SecretString::from(CANARIES[5].repeat(100))).unwrap();
    let errors = vec![
        vault.update_item(&user, &name, too_long).await.unwrap_err(),
        vault.delete_item(&user, &name).await.unwrap_err(),
        vault
            .verify_gateway_token(&user, agent.id, CANARIES[5])
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
        CodexTokens::from_json(&format!("{{\"access_token\": \"{}\"", CANARIES[2])).unwrap_err(),
        CustomEndpoint::new(&format!("https://{}@x", CANARIES[4]), None, vec![]).unwrap_err(),
    ];
    for error in &errors {
        shown.push(format!("{error} {error:?}"));
    }
    let value_error =
        SecretValue::parse(SecretString::from(format!("{}\0", CANARIES[0]))).unwrap_err();
    shown.push(format!("{value_error} {value_error:?}"));
    shown.push(format!(
        "{vault:?} {:?} {:?}",
        Keyring::single(master),
        UserKeys::generate()
    ));

    for text in &shown {
        assert_clean("output", text);
    }
    for record in store.snapshot() {
        let body = String::from_utf8_lossy(&record.body);
        assert_clean(&format!("record {}", record.key), &body);
        assert_clean("record debug", &format!("{record:?}"));
    }
}

#[test]
fn master_keys_are_redacted() {
    let key = MasterKey::from_bytes([0xAB; 32]);
    let shown = format!("{key:?} {:?}", Keyring::single(key.clone()));
    assert!(!shown.to_lowercase().contains("abab"));
    assert!(!shown.contains(key.to_base64().as_str()));
    assert!(shown.contains("REDACTED"));
}
