//! A store's declared limits (`Store::limits`): the vault never sends a
//! batch over them, refuses an operation that can't fit before writing
//! anything, and splits a rewrap to fit.

use std::sync::atomic::{AtomicUsize, Ordering};

use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{
    Limits, MemoryStore, Record, RecordKey, RecordKind, Store, StoreError, Write,
};
use agent_vault::{Error, ImportOptions, Kind, Name, RewrapOptions, SecretValue, UserId, Vault};
use secrecy::SecretString;

/// A memory store that declares small limits and fails the test if a batch
/// over them ever reaches it.
struct Limited {
    inner: MemoryStore,
    limits: Limits,
    commits: AtomicUsize,
}

#[agent_vault::async_trait]
impl Store for Limited {
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.inner.list(user, kind).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        assert!(
            self.limits.admits(&writes),
            "the vault sent {} writes, over the store's limits {:?}",
            writes.len(),
            self.limits
        );
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.inner.commit(writes).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.users().await
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

fn limited(max_writes: usize, max_body_len: usize, max_batch_len: usize) -> Limited {
    Limited {
        inner: MemoryStore::new(),
        limits: Limits::new(max_writes, max_body_len, max_batch_len),
        commits: AtomicUsize::new(0),
    }
}

fn user() -> UserId {
    UserId::parse("u").unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

#[tokio::test]
async fn an_operation_over_the_limits_fails_before_anything_is_written() {
    let vault = Vault::new(
        limited(5, 2_000, 6_000),
        Keyring::single(MasterKey::generate()),
    );
    // 1 key check + user keys + 2 items = fine; then a file of 3 new names
    // needs 6 writes: more than 5.
    vault
        .create_item(
            &user(),
            &Name::parse("FIRST").unwrap(),
            Kind::Secret,
            value("1"),
        )
        .await
        .unwrap();
    let before = vault.store().inner.snapshot();
    let err = vault
        .import_dotenv(&user(), b"A=1\nB=2\nC=3\n", &ImportOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::TooLarge {
            writes: 6, limits, ..
        } => assert_eq!(limits.max_writes, 5),
        other => panic!("expected TooLarge for 6 writes, got {other:?}"),
    }
    assert_eq!(err.http_status(), 413);
    assert!(
        vault.store().inner.snapshot() == before,
        "nothing was written"
    );
    // Two names fit.
    vault
        .import_dotenv(&user(), b"A=1\nB=2\n", &ImportOptions::default())
        .await
        .unwrap();

    // A body over 2,000 bytes is refused, naming nothing of the value.
    let big = "v".repeat(2_500);
    let err = vault
        .create_item(
            &user(),
            &Name::parse("BIG").unwrap(),
            Kind::Variable,
            value(&big),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(!err.to_string().contains(&big));
}

#[tokio::test]
async fn rewrap_commits_in_batches_the_store_takes() {
    let one = MasterKey::generate();
    // At most 4 writes and 1,000 bytes of bodies per commit.
    let vault = Vault::new(limited(4, 1_000, 1_000), Keyring::single(one.clone()));
    for i in 0..10 {
        let name = Name::parse(&format!("S{i}")).unwrap();
        vault
            .create_item(&user(), &name, Kind::Secret, value(&"x".repeat(200)))
            .await
            .unwrap();
    }
    let mut ring = Keyring::single(one);
    ring.add(KeyId(2), MasterKey::generate()).unwrap();
    ring.promote(KeyId(2)).unwrap();
    vault.set_keyring(ring);
    let before = vault.store().commits.load(Ordering::Relaxed);
    let report = vault
        .rewrap(&RewrapOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 10);
    let commits = vault.store().commits.load(Ordering::Relaxed) - before;
    // Each body is about 300 bytes: three per 1,000-byte commit at most,
    // plus the key check value of key 2.
    assert!(commits > 4, "{commits} commits for 10 records");
    assert_eq!(vault.key_usage().await.unwrap().get(&KeyId(2)), Some(&10));
}

/// History never makes an item too large for the store: on a store with a
/// small body limit, updates of a large value go on succeeding, keeping as
/// many earlier values as fit (without the trim, the third update failed
/// with `TooLarge`, for good).
#[tokio::test]
async fn history_keeps_what_fits_the_stores_body_limit() {
    let vault = Vault::new(
        limited(10, 2_000, 100_000),
        Keyring::single(MasterKey::generate()),
    );
    let name = Name::parse("BIG").unwrap();
    vault
        .create_item(&user(), &name, Kind::Secret, value(&"a".repeat(600)))
        .await
        .unwrap();
    for n in 0..6 {
        let text = format!("{n}").repeat(600);
        vault
            .update_item(&user(), &name, value(&text))
            .await
            .unwrap();
    }
    let history = vault.item_history(&user(), &name).await.unwrap();
    assert_eq!(history[0].version, 7);
    let kept = history.len() - 1;
    assert!((1..10).contains(&kept), "{kept} earlier values kept");
    let versions: Vec<u64> = history.iter().map(|v| v.version).collect();
    let newest_first: Vec<u64> = (7 - kept as u64..=7).rev().collect();
    assert_eq!(versions, newest_first, "the oldest were dropped");
    vault.rollback_item(&user(), &name, 6).await.unwrap();
}
