//! The gateway-token check remembers envelopes it opened (so the request
//! path skips the decryption), yet a rotation takes effect at once on every
//! vault that shares the store, and every rejection stays a rejection.

use agent_vault::crypto::{Backend, Keyring, MasterKey};
use agent_vault::store::{MemoryStore, Store};
use agent_vault::{AgentId, Error, GatewayToken, UserId, Vault, VaultConfig};

fn alice() -> UserId {
    UserId::parse("alice").expect("valid user")
}

/// Two replicas over one store, with the same master key: what a hosting
/// service runs behind a load balancer.
fn replicas<S: Store + Clone>(store: S) -> (Vault<S>, Vault<S>) {
    let key = MasterKey::generate();
    (
        Vault::new(store.clone(), Keyring::single(key.clone())),
        Vault::new(store, Keyring::single(key)),
    )
}

async fn rejected<S: Store>(vault: &Vault<S>, user: &UserId, agent: AgentId, token: &str) -> bool {
    matches!(
        vault.verify_gateway_token(user, agent, token).await,
        Err(Error::TokenRejected)
    )
}

async fn rotation_on_one_replica_fails_the_old_token_on_the_other<S: Store + Clone>(store: S) {
    let (a, b) = replicas(store);
    let user = alice();
    let (agent, first) = a
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    // B opens and remembers the first token, and then answers from memory.
    for _ in 0..3 {
        b.verify_gateway_token(&user, agent.id, first.expose_secret())
            .await
            .unwrap();
    }
    let second = a.rotate_gateway_token(&user, agent.id).await.unwrap();
    // The very next call on B refuses the old token and takes the new one.
    assert!(rejected(&b, &user, agent.id, first.expose_secret()).await);
    b.verify_gateway_token(&user, agent.id, second.expose_secret())
        .await
        .unwrap();
    assert!(rejected(&b, &user, agent.id, first.expose_secret()).await);

    // And back the other way: B rotates, A (which never saw the second
    // token) refuses it at once.
    a.verify_gateway_token(&user, agent.id, second.expose_secret())
        .await
        .unwrap();
    let third = b.rotate_gateway_token(&user, agent.id).await.unwrap();
    assert!(rejected(&a, &user, agent.id, second.expose_secret()).await);
    a.verify_gateway_token(&user, agent.id, third.expose_secret())
        .await
        .unwrap();

    // A deleted agent is gone for every replica on its next call.
    a.delete_agent(&user, agent.id).await.unwrap();
    let gone = b
        .verify_gateway_token(&user, agent.id, third.expose_secret())
        .await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

#[tokio::test]
async fn rotation_on_one_memory_replica_fails_the_old_token_on_the_next_call_of_another() {
    rotation_on_one_replica_fails_the_old_token_on_the_other(MemoryStore::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn rotation_on_one_sqlite_replica_fails_the_old_token_on_the_next_call_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first = agent_vault::store::SqliteStore::open(&path).await.unwrap();
    let second = agent_vault::store::SqliteStore::open(&path).await.unwrap();
    let key = MasterKey::generate();
    let a = Vault::new(first, Keyring::single(key.clone()));
    let b = Vault::new(second, Keyring::single(key));
    let user = alice();
    let (agent, old) = a
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    b.verify_gateway_token(&user, agent.id, old.expose_secret())
        .await
        .unwrap();
    let new = a.rotate_gateway_token(&user, agent.id).await.unwrap();
    assert!(rejected(&b, &user, agent.id, old.expose_secret()).await);
    b.verify_gateway_token(&user, agent.id, new.expose_secret())
        .await
        .unwrap();
}

/// Once the real token is remembered, near misses are still refused: a
/// prefix, the token with one more character, the last character changed,
/// another agent's token, the empty string. The comparison is of keyed
/// hashes in constant time, so none of these is a shortcut.
#[tokio::test]
async fn remembered_tokens_refuse_near_misses_and_other_agents_tokens() {
    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let user = alice();
    let (one, token) = vault
        .create_agent(&user, &"one".parse().unwrap())
        .await
        .unwrap();
    let (two, other) = vault
        .create_agent(&user, &"two".parse().unwrap())
        .await
        .unwrap();
    let text = token.expose_secret();
    vault
        .verify_gateway_token(&user, one.id, text)
        .await
        .unwrap();
    vault
        .verify_gateway_token(&user, two.id, other.expose_secret())
        .await
        .unwrap();

    let mut last_changed = text.to_owned();
    let last = last_changed.pop().unwrap();
    last_changed.push(if last == 'a' { 'b' } else { 'a' });
    let near_misses = [
        text[..text.len() - 1].to_owned(),
        format!("{text}x"),
        last_changed,
        other.expose_secret().to_owned(),
        String::new(),
        GatewayToken::generate().expose_secret().to_owned(),
    ];
    for presented in &near_misses {
        assert!(rejected(&vault, &user, one.id, presented).await);
    }
    // The real one still passes, on both agents, and not crosswise.
    vault
        .verify_gateway_token(&user, one.id, text)
        .await
        .unwrap();
    assert!(rejected(&vault, &user, two.id, text).await);

    // Another user can't use the agent id with the right token.
    let mallory = UserId::parse("mallory").unwrap();
    let err = vault.verify_gateway_token(&mallory, one.id, text).await;
    assert!(matches!(err, Err(Error::NotFound { .. })), "{err:?}");
}

/// A new keyring is a new crypto snapshot with an empty memory: a wrong key
/// can't verify a token an earlier, right key opened.
#[tokio::test]
async fn a_wrong_keyring_cannot_verify_a_token_the_right_one_remembered() {
    let store = MemoryStore::new();
    let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
    let user = alice();
    let (agent, token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .verify_gateway_token(&user, agent.id, token.expose_secret())
        .await
        .unwrap();
    vault.set_keyring(Keyring::single(MasterKey::generate()));
    let err = vault
        .verify_gateway_token(&user, agent.id, token.expose_secret())
        .await;
    assert!(err.is_err(), "accepted under the wrong key");
    assert!(!matches!(err, Err(Error::TokenRejected)), "{err:?}");
}

/// Many agents, a small cache: every token still verifies (evicted ones
/// are opened again) and every wrong one is still refused.
#[tokio::test]
async fn more_agents_than_the_cache_holds_all_verify() {
    let mut config = VaultConfig::default();
    config.cipher_cache_capacity = 2;
    let vault = Vault::with_config(
        MemoryStore::new(),
        Keyring::single(MasterKey::generate()),
        config,
    );
    let user = alice();
    let mut agents = Vec::new();
    for i in 0..6 {
        agents.push(
            vault
                .create_agent(&user, &format!("bot-{i}").parse().unwrap())
                .await
                .unwrap(),
        );
    }
    for _ in 0..2 {
        for (agent, token) in &agents {
            vault
                .verify_gateway_token(&user, agent.id, token.expose_secret())
                .await
                .unwrap();
        }
        for pair in agents.windows(2) {
            let (agent, _) = &pair[0];
            let (_, wrong) = &pair[1];
            assert!(rejected(&vault, &user, agent.id, wrong.expose_secret()).await);
        }
    }
}

/// Replicas may run different backends: an envelope sealed by one opens
/// on the other (the bytes are the same).
#[tokio::test]
async fn replicas_on_different_backends_verify_each_others_tokens() {
    let store = MemoryStore::new();
    let key = MasterKey::generate();
    for sealer in Backend::ALL {
        for checker in Backend::ALL {
            let a = Vault::with_config(
                store.clone(),
                Keyring::single(key.clone()),
                VaultConfig::default().with_backend(*sealer),
            );
            let b = Vault::with_config(
                store.clone(),
                Keyring::single(key.clone()),
                VaultConfig::default().with_backend(*checker),
            );
            let user = alice();
            let (agent, token) = a
                .create_agent(&user, &"bot".parse().unwrap())
                .await
                .unwrap();
            b.verify_gateway_token(&user, agent.id, token.expose_secret())
                .await
                .unwrap();
            let rotated = a.rotate_gateway_token(&user, agent.id).await.unwrap();
            assert!(rejected(&b, &user, agent.id, token.expose_secret()).await);
            b.verify_gateway_token(&user, agent.id, rotated.expose_secret())
                .await
                .unwrap();
        }
    }
}
