//! A deployment receipt marks an agent synced: a forged, altered or foreign
//! one must be refused, so nothing is marked synced that was not delivered.

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{
    Attachable, DeploymentReceipt, Error, Kind, Name, ReceiptError, SecretValue, SyncState,
    Timestamp, UserId, Vault,
};
use secrecy::SecretString;

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn mallory() -> UserId {
    UserId::parse("mallory").unwrap()
}

async fn deployed_agent(
    vault: &Vault<MemoryStore>,
    user: &UserId,
) -> (agent_vault::AgentId, DeploymentReceipt) {
    let name = Name::parse("TOKEN").unwrap();
    let value = SecretValue::parse(SecretString::from("v1")).unwrap();
    vault
        .create_item(user, &name, Kind::Secret, value)
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(user, agent.id, &[Attachable::parse("TOKEN").unwrap()])
        .await
        .unwrap();
    let (_, receipt) = vault.environment(user, agent.id).await.unwrap();
    (agent.id, receipt)
}

fn refused(result: agent_vault::Result<()>, expected: ReceiptError, what: &str) {
    match result {
        Err(Error::InvalidReceipt(reason)) => assert_eq!(reason, expected, "{what}"),
        other => panic!("{what}: expected InvalidReceipt({expected:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn forged_altered_and_foreign_receipts_mark_nothing_synced() {
    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let (agent, receipt) = deployed_agent(&vault, &alice()).await;
    // The value changes after the environment was built: the real receipt
    // is stale, and a forger wants it to look current.
    vault
        .update_item(
            &alice(),
            &Name::parse("TOKEN").unwrap(),
            SecretValue::parse(SecretString::from("v2")).unwrap(),
        )
        .await
        .unwrap();

    let mut bumped = receipt.clone();
    bumped.entries[0].revision = 2;
    refused(
        vault.record_deployment(&alice(), &bumped).await,
        ReceiptError::Forged,
        "revision that was never delivered",
    );
    let mut future = receipt.clone();
    future.issued_at = Timestamp::from_unix_millis(Timestamp::now().unix_millis() + 3_600_000);
    refused(
        vault.record_deployment(&alice(), &future).await,
        ReceiptError::Forged,
        "issued_at moved to the future",
    );
    let mut token = receipt.clone();
    token.token_revision += 1;
    refused(
        vault.record_deployment(&alice(), &token).await,
        ReceiptError::Forged,
        "token revision altered",
    );
    // Mallory presents Alice's receipt as her own, or relabels it.
    let (_, mallory_receipt) = deployed_agent(&vault, &mallory()).await;
    refused(
        vault.record_deployment(&mallory(), &receipt).await,
        ReceiptError::OtherUser,
        "another user's receipt",
    );
    let mut relabelled = receipt.clone();
    relabelled.user = mallory();
    refused(
        vault.record_deployment(&mallory(), &relabelled).await,
        ReceiptError::Forged,
        "a receipt relabelled to another user",
    );
    // Mallory's genuine receipt pointed at Alice's agent.
    let mut moved = mallory_receipt.clone();
    moved.agent = agent;
    moved.user = alice();
    refused(
        vault.record_deployment(&alice(), &moved).await,
        ReceiptError::Forged,
        "another user's receipt moved onto this agent",
    );

    let status = vault.status(&alice(), agent).await.unwrap();
    assert!(
        status
            .items
            .iter()
            .all(|item| item.state == SyncState::NotDeployed),
        "nothing was recorded: {status:?}"
    );

    // The genuine receipt, kept as JSON by the host and read back, is
    // accepted, and shows the truth: the running agent has the old value.
    let kept = serde_json::to_string(&receipt).unwrap();
    let back: DeploymentReceipt = serde_json::from_str(&kept).unwrap();
    vault.record_deployment(&alice(), &back).await.unwrap();
    let status = vault.status(&alice(), agent).await.unwrap();
    assert_eq!(status.items[0].state, SyncState::Stale);
}
