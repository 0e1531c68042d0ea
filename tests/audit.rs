//! The audit trail: an event for every change, refusal and rejected token;
//! never a value, key, token or salt in one; and, for the store-backed log,
//! no change without its event, even under injected store faults.

use std::sync::{Arc, Mutex};

use agent_vault::audit::{AuditAction, AuditEvent, AuditOutcome, AuditSink, AuditSubject};
use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{FaultPlan, FaultyStore, MemoryStore, RecordKind, Store};
use agent_vault::{
    Attachable, ConnectionId, Credential, CredentialKind, Error, ImportOptions, Kind, Name,
    Provider, RewrapOptions, SecretValue, Timestamp, UserId, Vault, VaultConfig,
};
use base64::Engine as _;
use secrecy::SecretString;

#[derive(Debug, Default)]
struct Collect(Mutex<Vec<AuditEvent>>);

impl AuditSink for Collect {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collect {
    fn actions(&self) -> Vec<AuditAction> {
        self.0.lock().unwrap().iter().map(|e| e.action).collect()
    }

    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

const MASTER: [u8; 32] = [0x5a; 32];

fn audited() -> (Vault<MemoryStore>, Arc<Collect>) {
    let sink = Arc::new(Collect::default());
    let config = VaultConfig::default()
        .with_audit_log(true)
        .with_audit_sink(sink.clone());
    let ring = Keyring::single(MasterKey::from_bytes(MASTER));
    (Vault::with_config(MemoryStore::new(), ring, config), sink)
}

fn since_ever() -> Timestamp {
    Timestamp::from_unix_millis(0)
}

#[tokio::test]
async fn every_operation_is_audited_and_no_event_carries_a_secret() {
    let (vault, sink) = audited();
    let user = alice();
    let mut canaries: Vec<String> = vec![
        "canary-secret-value-1".into(),
        "canary-secret-value-2".into(),
        "canary-variable-value".into(),
        "canary-imported-secret".into(),
        "sk-canary-openai-key".into(),
        "sk-canary-openai-key-2".into(),
    ];
    let token_name = name("API_TOKEN");
    vault
        .create_item(&user, &token_name, Kind::Secret, value(&canaries[0]))
        .await
        .unwrap();
    vault
        .update_item(&user, &token_name, value(&canaries[1]))
        .await
        .unwrap();
    vault.rollback_item(&user, &token_name, 1).await.unwrap();
    vault
        .create_item(
            &user,
            &name("LOG_LEVEL"),
            Kind::Variable,
            value(&canaries[2]),
        )
        .await
        .unwrap();
    let dotenv = format!("IMPORTED={}\n", canaries[3]);
    vault
        .import_dotenv(&user, dotenv.as_bytes(), &ImportOptions::default())
        .await
        .unwrap();
    let openai = ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap();
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::OpenAi,
                SecretValue::parse(SecretString::from(canaries[4].as_str())).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    vault
        .update_connection(
            &user,
            &Credential::api_key(
                Provider::OpenAi,
                SecretValue::parse(SecretString::from(canaries[5].as_str())).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let (agent, first_token) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    canaries.push(first_token.expose_secret().to_owned());
    vault
        .attach(
            &user,
            agent.id,
            &[
                Attachable::Item(token_name.clone()),
                Attachable::Connection(openai),
            ],
        )
        .await
        .unwrap();
    let (env, receipt) = vault.environment(&user, agent.id).await.unwrap();
    vault.record_deployment(&user, &receipt).await.unwrap();
    drop(env);
    let second_token = vault.rotate_gateway_token(&user, agent.id).await.unwrap();
    canaries.push(second_token.expose_secret().to_owned());
    let rejected = vault
        .verify_gateway_token(&user, agent.id, first_token.expose_secret())
        .await
        .unwrap_err();
    assert!(matches!(rejected, Error::TokenRejected));
    vault
        .detach(&user, agent.id, &[Attachable::Connection(openai)])
        .await
        .unwrap();
    vault.delete_connection(&user, openai).await.unwrap();
    vault.rotate_user_key(&user).await.unwrap();
    let mut ring = Keyring::single(MasterKey::from_bytes(MASTER));
    ring.add(KeyId(2), MasterKey::from_bytes([0x6b; 32]))
        .unwrap();
    vault.set_keyring(ring);
    vault.promote_key(KeyId(2)).await.unwrap();
    vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    vault.retire_key(KeyId(1)).await.unwrap();
    vault.delete_agent(&user, agent.id).await.unwrap();
    vault.delete_item(&user, &name("LOG_LEVEL")).await.unwrap();

    use AuditAction::*;
    // A rewrap's commits each carry an event, then a summary follows:
    // consecutive ones are one step here.
    let mut actions = sink.actions();
    actions.dedup();
    assert_eq!(
        actions,
        [
            ItemCreated,
            ItemUpdated,
            ItemRolledBack,
            ItemCreated,
            Imported,
            Connected,
            ConnectionUpdated,
            AgentCreated,
            Attached,
            DeploymentRecorded,
            TokenRotated,
            TokenRejected,
            Detached,
            Disconnected,
            UserKeyRotated,
            KeyPromoted,
            Rewrapped,
            KeyRetired,
            AgentDeleted,
            ItemDeleted,
        ]
    );
    let events = sink.take();
    let rejected = events.iter().find(|e| e.action == TokenRejected).unwrap();
    assert_eq!(
        rejected.agent,
        Some(agent.id),
        "the agent whose token acted"
    );
    assert_eq!(rejected.outcome, AuditOutcome::Rejected);
    let imported = events.iter().find(|e| e.action == Imported).unwrap();
    assert_eq!(imported.details["created"], 1);
    let attached = events.iter().find(|e| e.action == Attached).unwrap();
    assert!(
        attached
            .subjects
            .contains(&AuditSubject::Connection { id: openai })
    );

    // The store-backed log holds the same events, per user and vault-wide.
    let mine = vault.audit_log(&user, since_ever(), 1000).await.unwrap();
    let wide = vault.vault_audit_log(since_ever(), 1000).await.unwrap();
    assert_eq!(mine.len() + wide.len(), events.len());
    let wide_actions: Vec<_> = wide.iter().map(|e| e.action).collect();
    assert_eq!(wide_actions, [KeyPromoted, Rewrapped, KeyRetired]);

    // No event, in any form, holds a value, key, token or salt.
    let salts: Vec<Vec<u8>> = {
        let record = vault
            .store()
            .list(&user, RecordKind::UserKeys)
            .await
            .unwrap()
            .remove(0);
        // FORMAT.md §6.6: 02, current, count, then generation and 32 bytes.
        assert_eq!(&record.body[..3], &[2, 2, 2]);
        vec![record.body[4..36].to_vec(), record.body[37..69].to_vec()]
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut needles: Vec<String> = canaries.clone();
    for secret_bytes in salts
        .iter()
        .map(Vec::as_slice)
        .chain([&MASTER[..], &[0x6b; 32][..]])
    {
        needles.push(hex(secret_bytes));
        needles.push(b64(secret_bytes));
    }
    let mut renderings: Vec<String> = Vec::new();
    for event in events.iter().chain(&mine).chain(&wide) {
        renderings.push(serde_json::to_string(event).unwrap());
        renderings.push(format!("{event:?}"));
    }
    for kind in RecordKind::ALL {
        for user in [user.clone(), UserId::parse_stored("~vault").unwrap()] {
            for record in vault.store().list(&user, kind).await.unwrap() {
                if kind == RecordKind::Audit {
                    renderings.push(String::from_utf8_lossy(&record.body).into_owned());
                }
            }
        }
    }
    for rendering in &renderings {
        for needle in &needles {
            assert!(
                !rendering.contains(needle.as_str()),
                "an event holds a secret: {rendering}"
            );
        }
        let raw_salt = String::from_utf8_lossy(&salts[0]).into_owned();
        assert!(!rendering.contains(&raw_salt));
    }
}

#[tokio::test]
async fn refused_conflicts_are_audited_and_change_nothing() {
    let (vault, sink) = audited();
    let user = alice();
    vault
        .create_item(&user, &name("OPENAI_API_KEY"), Kind::Secret, value("sk-1"))
        .await
        .unwrap();
    let duplicate = vault
        .create_item(&user, &name("openai_api_key"), Kind::Secret, value("sk-2"))
        .await
        .unwrap_err();
    assert!(matches!(duplicate, Error::AlreadyExists { .. }));
    vault
        .create_connection(
            &user,
            &Credential::api_key(
                Provider::OpenAi,
                SecretValue::parse(SecretString::from("sk-3")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&user, agent.id, &[Attachable::Item(name("OPENAI_API_KEY"))])
        .await
        .unwrap();
    let openai = ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap();
    let conflict = vault
        .attach(&user, agent.id, &[Attachable::Connection(openai)])
        .await
        .unwrap_err();
    assert!(matches!(conflict, Error::ProviderConflict { .. }));
    let attached = vault
        .delete_item(&user, &name("OPENAI_API_KEY"))
        .await
        .unwrap_err();
    assert!(matches!(attached, Error::Attached { .. }));

    let refused: Vec<(AuditAction, u16)> = vault
        .audit_log(&user, since_ever(), 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.outcome {
            AuditOutcome::Refused { status, .. } => Some((e.action, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        [
            (AuditAction::ItemCreated, 409),
            (AuditAction::Attached, 409),
            (AuditAction::ItemDeleted, 409),
        ]
    );
    assert_eq!(
        sink.take().len(),
        7,
        "the sink saw the same, with the changes"
    );
    assert_eq!(
        vault.items(&user).await.unwrap().len(),
        1,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_log_reads_from_a_time_and_up_to_a_limit() {
    let (vault, _) = audited();
    let user = alice();
    for i in 0..5 {
        vault
            .create_item(
                &user,
                &name(&format!("ITEM_{i}")),
                Kind::Variable,
                value("v"),
            )
            .await
            .unwrap();
    }
    let all = vault.audit_log(&user, since_ever(), 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    assert_eq!(
        vault.audit_log(&user, since_ever(), 2).await.unwrap().len(),
        2
    );
    let later = Timestamp::from_unix_millis(all[4].at.unix_millis() + 1);
    assert!(vault.audit_log(&user, later, 100).await.unwrap().is_empty());
    // Another user's log is their own.
    let bob = UserId::parse("bob").unwrap();
    assert!(
        vault
            .audit_log(&bob, since_ever(), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Fail closed: under injected faults (failed commits, and commits applied
/// but reported failed), every item that exists has its creation event in
/// the log, and every logged creation exists. The event is part of the
/// change's own commit, so the two can't part.
#[tokio::test]
async fn no_change_without_its_event_under_store_faults() {
    let plan = FaultPlan::none()
        .with_commit_before_rate(0.2)
        .with_commit_after_rate(0.2)
        .with_seed(7);
    let store = FaultyStore::new(MemoryStore::new(), plan);
    let config = VaultConfig::default().with_audit_log(true);
    let ring = Keyring::single(MasterKey::from_bytes(MASTER));
    let vault = Vault::with_config(store, ring, config);
    let user = alice();
    let mut failed = 0;
    for i in 0..200 {
        let kind = if i % 2 == 0 {
            Kind::Secret
        } else {
            Kind::Variable
        };
        if vault
            .create_item(&user, &name(&format!("ITEM_{i}")), kind, value("v"))
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    let counts = vault.store().counts();
    assert!(counts.total() > 20, "faults were injected: {counts:?}");
    assert!(failed > 10, "calls failed: {failed}");
    vault.store().set_enabled(false);

    let mut existing: Vec<String> = vault
        .items(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    let mut logged: Vec<String> = vault
        .audit_log(&user, since_ever(), usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::ItemCreated && e.outcome == AuditOutcome::Done)
        .flat_map(|e| e.subjects)
        .filter_map(|s| match s {
            AuditSubject::Item { id, .. } => Some(id.to_string()),
            _ => None,
        })
        .collect();
    existing.sort();
    logged.sort();
    assert_eq!(existing, logged);
    assert!(
        existing.len() > 100,
        "most creates landed: {}",
        existing.len()
    );
    // Some calls reported failure although their commit applied: those are
    // in both lists too (the ambiguous commit).
    assert!(existing.len() > 200 - failed, "ambiguous commits happened");
}

#[tokio::test]
async fn no_event_is_written_without_the_audit_log_and_nothing_is_sent_without_a_sink() {
    let vault = Vault::new(
        MemoryStore::new(),
        Keyring::single(MasterKey::from_bytes(MASTER)),
    );
    let user = alice();
    vault
        .create_item(&user, &name("A"), Kind::Variable, value("v"))
        .await
        .unwrap();
    assert!(
        vault
            .store()
            .list(&user, RecordKind::Audit)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        vault
            .audit_log(&user, since_ever(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
