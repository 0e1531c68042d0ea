//! A revoked credential must stay revoked (I8): a writer that read a record
//! before it was deleted and created again must not write the old body back.
//!
//! The attack: `attach` (or `rewrap`) reads connection `anthropic:api-key`;
//! meanwhile the user disconnects the leaked key and connects a new one
//! under the same fixed key; then the stale call commits "expect the version
//! I read". Were versions to restart at 1 after a delete, that commit would
//! succeed and put the leaked key back into every agent's environment.

use std::sync::Arc;

use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{MemoryStore, Store};
use agent_vault::{Attachable, Credential, Provider, RewrapOptions, SecretValue, UserId, Vault};
use secrecy::{ExposeSecret as _, SecretString};

use super::hooks::HookStore;

const LEAKED: &str = "sk-ant-LEAKED-0000";
const FRESH: &str = "sk-ant-FRESH-1111";

fn user() -> UserId {
    UserId::parse("victim").unwrap()
}

fn anthropic(key: &str) -> Credential {
    Credential::api_key(
        Provider::Anthropic,
        SecretValue::parse(SecretString::from(key)).unwrap(),
    )
    .unwrap()
}

/// The other caller: revokes the leaked key and connects a fresh one.
async fn revoke_and_reconnect(other: Arc<Vault<Arc<dyn Store>>>) {
    let id = anthropic(LEAKED).connection_id();
    other.delete_connection(&user(), id).await.unwrap();
    other
        .create_connection(&user(), &anthropic(FRESH))
        .await
        .unwrap();
}

async fn anthropic_key_in_environment<S: Store>(vault: &Vault<S>) -> String {
    let agents = vault.agents(&user()).await.unwrap();
    let (env, _) = vault.environment(&user(), agents[0].id).await.unwrap();
    env.get("ANTHROPIC_API_KEY")
        .expect("the connection is attached")
        .expose_secret()
        .to_owned()
}

/// The stores the attacks run against: every built-in backend available in
/// this build.
async fn backends() -> Vec<(&'static str, Arc<dyn Store>)> {
    #[allow(unused_mut)]
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    #[cfg(feature = "sqlite")]
    stores.push((
        "sqlite",
        Arc::new(agent_vault::store::SqliteStore::in_memory().await.unwrap()),
    ));
    stores
}

#[tokio::test]
async fn attach_racing_a_reconnect_never_restores_the_revoked_key() {
    for (backend, inner) in backends().await {
        let keyring = Keyring::single(MasterKey::generate());
        let store = Arc::new(HookStore::new(Arc::clone(&inner)));
        let vault = Vault::new(Arc::clone(&store), keyring.clone());
        let other = Arc::new(Vault::new(Arc::clone(&inner), keyring));
        vault
            .create_connection(&user(), &anthropic(LEAKED))
            .await
            .unwrap();
        let (agent, _) = vault
            .create_agent(&user(), &"bot".parse().unwrap())
            .await
            .unwrap();
        // Warm the other caller up, so its own first-use work (checking the
        // master key against the vault) is done before the race.
        other.gateway_token(&user(), agent.id).await.unwrap();

        store.arm_commit(revoke_and_reconnect(Arc::clone(&other)));
        vault
            .attach(
                &user(),
                agent.id,
                &[Attachable::parse("provider:anthropic").unwrap()],
            )
            .await
            .unwrap();
        assert!(store.fired(), "{backend}: the race was not staged");

        assert_eq!(
            anthropic_key_in_environment(&vault).await,
            FRESH,
            "{backend}: the revoked key came back through a stale attach"
        );
        let connection = &vault.connections(&user()).await.unwrap()[0];
        assert_eq!(connection.agents, vec![agent.id], "{backend}");
    }
}

#[tokio::test]
async fn rewrap_racing_a_reconnect_never_restores_the_revoked_key() {
    for (backend, inner) in backends().await {
        let old = MasterKey::generate();
        let store = Arc::new(HookStore::new(Arc::clone(&inner)));
        let vault = Vault::new(Arc::clone(&store), Keyring::single(old.clone()));
        vault
            .create_connection(&user(), &anthropic(LEAKED))
            .await
            .unwrap();
        let (agent, _) = vault
            .create_agent(&user(), &"bot".parse().unwrap())
            .await
            .unwrap();

        // A new primary key: the connection now needs rewrapping.
        let mut ring = Keyring::single(old);
        ring.add(KeyId(2), MasterKey::generate()).unwrap();
        ring.promote(KeyId(2)).unwrap();
        vault.set_keyring(ring.clone());
        let other = Arc::new(Vault::new(Arc::clone(&inner), ring));
        // Both callers' first use of the new keyring is done before the race.
        vault.gateway_token(&user(), agent.id).await.unwrap();
        other.gateway_token(&user(), agent.id).await.unwrap();

        store.arm_commit(revoke_and_reconnect(Arc::clone(&other)));
        vault
            .rewrap(&RewrapOptions::default(), &mut |_| {})
            .await
            .unwrap();
        assert!(store.fired(), "{backend}: the race was not staged");

        vault
            .attach(
                &user(),
                agent.id,
                &[Attachable::parse("provider:anthropic").unwrap()],
            )
            .await
            .unwrap();
        assert_eq!(
            anthropic_key_in_environment(&vault).await,
            FRESH,
            "{backend}: the revoked key came back through a stale rewrap"
        );
    }
}
