//! Writes canary secrets through the vault, for the no-plaintext-at-rest
//! tests of each backend.

use agent_vault::store::Store;
use agent_vault::{
    Attachable, ConnectionId, Credential, Kind, Name, Provider, SecretValue, UserId, Vault,
};
use secrecy::SecretString;

/// The values that must never be found at rest, and one (a variable's) that
/// must, proving the scan reads the right bytes.
pub struct Canaries {
    /// Secret values, API keys and gateway tokens.
    pub hidden: Vec<String>,
    /// A variable's value: plaintext by design.
    pub visible: String,
}

/// Stores a secret, an updated secret, a provider API key and an agent
/// (with its gateway token, rotated once) through `vault`.
pub async fn write_canaries<S: Store>(vault: &Vault<S>) -> Canaries {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let user = UserId::parse(&format!("at-rest-{tag}")).expect("user");
    let secret = format!("CANARY-secret-{tag}");
    let updated = format!("CANARY-updated-{tag}");
    let api_key = format!("sk-CANARY-key-{tag}");
    let visible = format!("plain-variable-{tag}");
    let value = |v: &str| SecretValue::parse(SecretString::from(v)).expect("value");

    let name = Name::parse("DATABASE_PASSWORD").expect("name");
    vault
        .create_item(&user, &name, Kind::Secret, value(&secret))
        .await
        .expect("create secret");
    let other = Name::parse("SIGNING_KEY").expect("name");
    vault
        .create_item(&user, &other, Kind::Secret, value("first"))
        .await
        .expect("create secret");
    vault
        .update_item(&user, &other, value(&updated))
        .await
        .expect("update secret");
    let variable = Name::parse("PUBLIC_URL").expect("name");
    vault
        .create_item(&user, &variable, Kind::Variable, value(&visible))
        .await
        .expect("create variable");
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::Anthropic,
                SecretValue::parse(SecretString::from(api_key.as_str())).unwrap(),
            )
            .unwrap(),
        )
        .await
        .expect("connect");
    let (agent, token) = vault
        .create_agent(&user, &"canary agent".parse().unwrap())
        .await
        .expect("agent");
    vault
        .attach(
            &user,
            agent.id,
            &[
                Attachable::Item(name),
                Attachable::Item(other),
                Attachable::Item(variable),
                Attachable::Connection(ConnectionId::default_for(Provider::Anthropic)),
            ],
        )
        .await
        .expect("attach");
    let rotated = vault
        .rotate_gateway_token(&user, agent.id)
        .await
        .expect("rotate");
    let (env, receipt) = vault
        .environment(&user, agent.id)
        .await
        .expect("environment");
    assert_eq!(env.len(), 5, "the environment opens: {env:?}");
    vault
        .record_deployment(&receipt.user, &receipt)
        .await
        .expect("deployment");
    Canaries {
        hidden: vec![
            secret,
            updated,
            api_key,
            token.expose_secret().to_owned(),
            rotated.expose_secret().to_owned(),
        ],
        visible,
    }
}

/// Panics if any hidden canary occurs in `bytes`; returns whether the
/// visible one does.
pub fn scan(what: &str, bytes: &[u8], canaries: &Canaries) -> bool {
    for canary in &canaries.hidden {
        assert!(
            !contains(bytes, canary.as_bytes()),
            "a secret value is stored in plaintext in {what}"
        );
    }
    contains(bytes, canaries.visible.as_bytes())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
