//! Store round trips per operation do not grow with the number of targets:
//! a counting store counts every call (deterministic, so a test, not a
//! bench).

use std::sync::atomic::{AtomicUsize, Ordering};

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{
    Limits, MemoryStore, Record, RecordKey, RecordKind, Store, StoreError, Write,
};
use agent_vault::{
    AgentId, Attachable, Credential, Kind, Name, Provider, SecretValue, UserId, Vault,
};
use secrecy::SecretString;

/// Counts every store call.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    calls: AtomicUsize,
}

impl Counting {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

#[agent_vault::async_trait]
impl Store for Counting {
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.list(user, kind).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.commit(writes).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.users().await
    }

    fn limits(&self) -> Limits {
        self.inner.limits()
    }
}

fn user() -> UserId {
    UserId::parse("alice").unwrap()
}

/// A vault with 20 secrets and an OpenRouter connection, and an agent.
async fn setup() -> (Vault<Counting>, AgentId, Vec<Attachable>) {
    let vault = Vault::new(Counting::default(), Keyring::single(MasterKey::generate()));
    let mut targets = Vec::new();
    for i in 0..19 {
        let name = Name::parse(&format!("SECRET_{i}")).unwrap();
        let value = SecretValue::parse(SecretString::from("v")).unwrap();
        vault
            .create_item(&user(), &name, Kind::Secret, value)
            .await
            .unwrap();
        targets.push(Attachable::Item(name));
    }
    vault
        .create_connection(
            &user(),
            &Credential::api_key(
                Provider::OpenRouter,
                SecretValue::parse(SecretString::from("sk-or")).unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    targets.push(Attachable::Connection(
        agent_vault::ConnectionId::default_for(Provider::OpenRouter),
    ));
    let (agent, _) = vault
        .create_agent(&user(), &"bot".parse().unwrap())
        .await
        .unwrap();
    (vault, agent.id, targets)
}

/// The store calls `run` makes.
async fn calls<F: std::future::Future<Output = ()>>(vault: &Vault<Counting>, run: F) -> usize {
    let before = vault.store().calls();
    run.await;
    vault.store().calls() - before
}

#[tokio::test]
async fn attach_and_detach_cost_the_same_for_one_target_and_for_twenty() {
    let (vault, agent, targets) = setup().await;
    let one = &targets[..1];
    // The agent, the name index entries, the targets, the commit.
    let attach_one = calls(&vault, async {
        vault.attach(&user(), agent, one).await.unwrap();
    })
    .await;
    assert_eq!(attach_one, 4);
    // The agent, the targets, the commit.
    let detach_one = calls(&vault, async {
        vault.detach(&user(), agent, one).await.unwrap();
    })
    .await;
    assert_eq!(detach_one, 3);

    assert_eq!(targets.len(), 20);
    let attach_twenty = calls(&vault, async {
        vault.attach(&user(), agent, &targets).await.unwrap();
    })
    .await;
    assert_eq!(attach_twenty, attach_one);
    let detach_twenty = calls(&vault, async {
        vault.detach(&user(), agent, &targets).await.unwrap();
    })
    .await;
    assert_eq!(detach_twenty, detach_one);

    // Creating an agent with all twenty attached: the owner index entry
    // (its own commit, under the vault's reserved user), the user's keys,
    // the name index entries, the targets, the commit.
    let created = calls(&vault, async {
        vault
            .create_agent_with(&user(), &"bot-2".parse().unwrap(), &targets)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(created, 5);
}

/// `.env` text of `lines` secrets, `KEY_0=value-0` and so on.
fn dotenv_lines(lines: usize, prefix: &str) -> String {
    (0..lines)
        .map(|i| format!("{prefix}_{i}=value-{i}\n"))
        .collect()
}

/// The exact store calls of each everyday operation, counted on a vault
/// whose keyring is already checked (as in a running service): a change to
/// any of them is a change to what a networked store pays per call.
#[tokio::test]
async fn each_operation_makes_an_exact_number_of_store_calls() {
    let (vault, agent, targets) = setup().await;
    let name = Name::parse("NEW_SECRET").unwrap();
    let value = || SecretValue::parse(SecretString::from("v2")).unwrap();

    // The user's keys, the commit (the name index entry is created with
    // "must be absent": no read).
    let create = calls(&vault, async {
        vault
            .create_item(&user(), &name, Kind::Secret, value())
            .await
            .unwrap();
    })
    .await;
    assert_eq!(create, 2, "create");

    // The name index entry, the item, the user's keys, the commit.
    let update = calls(&vault, async {
        vault.update_item(&user(), &name, value()).await.unwrap();
    })
    .await;
    assert_eq!(update, 4, "update");

    // The agent, the name index entries, the targets, the commit: for one
    // target and for twenty.
    let attach_one = calls(&vault, async {
        vault.attach(&user(), agent, &targets[..1]).await.unwrap();
    })
    .await;
    assert_eq!(attach_one, 4, "attach of 1");
    vault.detach(&user(), agent, &targets[..1]).await.unwrap();
    let attach_twenty = calls(&vault, async {
        vault.attach(&user(), agent, &targets).await.unwrap();
    })
    .await;
    assert_eq!(attach_twenty, 4, "attach of 20");

    // The agent, then every target with the user's keys in one read.
    let environment = calls(&vault, async {
        vault.environment(&user(), agent).await.unwrap();
    })
    .await;
    assert_eq!(environment, 2, "environment");

    // The name index entries of every line, the items they point at with
    // the user's keys, the commit: for 100 new lines, and for 100 lines that
    // all overwrite existing items.
    let text = dotenv_lines(100, "IMPORTED");
    let import_new = calls(&vault, async {
        vault
            .import_dotenv(
                &user(),
                text.as_bytes(),
                &agent_vault::ImportOptions::default(),
            )
            .await
            .unwrap();
    })
    .await;
    assert_eq!(import_new, 3, "import of 100 new lines");
    let overwrite =
        agent_vault::ImportOptions::default().on_conflict(agent_vault::OnConflict::Overwrite);
    let import_again = calls(&vault, async {
        vault
            .import_dotenv(&user(), text.as_bytes(), &overwrite)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(import_again, 3, "import of 100 updated lines");
}
