//! A public test suite for [`Store`] implementations (feature
//! `conformance`).
//!
//! Every backend, built in or third party, runs the same behaviours: one
//! `pub async fn` per behaviour, each taking the store under test as a
//! `&dyn Store` and panicking (like `assert!`) when the store breaks the
//! [contract](Store#contract). Errors are checked by variant, never by
//! message text.
//!
//! The functions are runtime-agnostic: they use no executor of their own, and
//! the concurrency behaviour drives its commits with
//! [`futures::future::join_all`] on the caller's task, so a backend with real
//! connections sees many commits in flight at once.
//!
//! Every behaviour works on fresh, randomly named users, so all of them can
//! share one database, run in parallel, and leave other data alone.
//!
//! # Running the suite
//!
//! With tokio as a dev-dependency, [`conformance_tests!`](crate::conformance_tests)
//! turns the whole list into one `#[tokio::test]` per behaviour:
//!
//! ```ignore
//! // tests/conformance.rs of a crate with a `Store` of its own, with
//! // `agent-vault = { version = "...", features = ["conformance"] }` and
//! // `tokio = { version = "1", features = ["macros", "rt-multi-thread"] }`.
//! agent_vault::conformance_tests!(|| async { my_crate::MyStore::new() });
//! ```
//!
//! Without a test harness, [`run_all`] runs every behaviour and reports each
//! outcome (see `examples/custom_store.rs`).

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use futures::future::join_all;

use crate::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Version, Write};
use crate::{MAX_USER_ID_LEN, UserId};

/// The name of every behaviour, in the order [`run_all`] runs them. Each is
/// also a function of this module.
pub const BEHAVIOURS: &[&str] = &[
    "create_is_exclusive",
    "every_write_changes_the_version",
    "versions_are_never_reused",
    "stale_version_is_refused",
    "absent_record_with_version_is_refused",
    "delete_of_absent_conflicts",
    "batch_applies_every_write",
    "failed_batch_changes_nothing",
    "malformed_batches_are_refused",
    "get_of_absent_is_none",
    "get_many_preserves_order",
    "list_sees_only_its_user_and_kind",
    "concurrent_updates_have_one_winner",
    "concurrent_creates_have_one_winner",
    "reads_never_see_a_torn_batch",
    "large_values_round_trip",
    "unusual_ids_round_trip",
    "users_are_those_with_records",
];

/// One behaviour's outcome in a [`run_all`] report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The behaviour (one of [`BEHAVIOURS`]).
    pub behaviour: &'static str,
    /// `Ok` if the store behaved, otherwise the failed assertion's message.
    pub result: Result<(), String>,
}

/// Runs every behaviour against `store`, one after the other, and reports
/// each outcome instead of stopping at the first failure.
pub async fn run_all(store: &dyn Store) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(BEHAVIOURS.len());
    for &behaviour in BEHAVIOURS {
        let future = run(behaviour, store);
        let result = AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .map_err(|payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned())
            });
        out.push(Outcome { behaviour, result });
    }
    out
}

/// Runs the behaviour named `behaviour` (one of [`BEHAVIOURS`]).
///
/// # Panics
///
/// If the store fails the behaviour, or the name is not in [`BEHAVIOURS`].
pub async fn run(behaviour: &str, store: &dyn Store) {
    match behaviour {
        "create_is_exclusive" => create_is_exclusive(store).await,
        "every_write_changes_the_version" => every_write_changes_the_version(store).await,
        "versions_are_never_reused" => versions_are_never_reused(store).await,
        "stale_version_is_refused" => stale_version_is_refused(store).await,
        "absent_record_with_version_is_refused" => {
            absent_record_with_version_is_refused(store).await
        }
        "delete_of_absent_conflicts" => delete_of_absent_conflicts(store).await,
        "batch_applies_every_write" => batch_applies_every_write(store).await,
        "failed_batch_changes_nothing" => failed_batch_changes_nothing(store).await,
        "malformed_batches_are_refused" => malformed_batches_are_refused(store).await,
        "get_of_absent_is_none" => get_of_absent_is_none(store).await,
        "get_many_preserves_order" => get_many_preserves_order(store).await,
        "list_sees_only_its_user_and_kind" => list_sees_only_its_user_and_kind(store).await,
        "concurrent_updates_have_one_winner" => concurrent_updates_have_one_winner(store).await,
        "concurrent_creates_have_one_winner" => concurrent_creates_have_one_winner(store).await,
        "reads_never_see_a_torn_batch" => reads_never_see_a_torn_batch(store).await,
        "large_values_round_trip" => large_values_round_trip(store).await,
        "unusual_ids_round_trip" => unusual_ids_round_trip(store).await,
        "users_are_those_with_records" => users_are_those_with_records(store).await,
        other => panic!("no conformance behaviour named {other:?}"),
    }
}

/// Instantiates the whole suite as one `#[tokio::test]` per behaviour.
///
/// `$factory` is an expression callable with no arguments that returns a
/// future of a store (anything that implements [`Store`](crate::store::Store),
/// including `Arc<dyn Store>`); it is called once per test. The caller needs
/// `tokio` as a dev-dependency with the `macros` and `rt-multi-thread`
/// features (the tests run on a multi-thread runtime, so a backend's
/// connections really run in parallel).
///
/// ```no_run
/// agent_vault::conformance_tests!(|| async { agent_vault::store::MemoryStore::new() });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            create_is_exclusive,
            every_write_changes_the_version,
            versions_are_never_reused,
            stale_version_is_refused,
            absent_record_with_version_is_refused,
            delete_of_absent_conflicts,
            batch_applies_every_write,
            failed_batch_changes_nothing,
            malformed_batches_are_refused,
            get_of_absent_is_none,
            get_many_preserves_order,
            list_sees_only_its_user_and_kind,
            concurrent_updates_have_one_winner,
            concurrent_creates_have_one_winner,
            reads_never_see_a_torn_batch,
            large_values_round_trip,
            unusual_ids_round_trip,
            users_are_those_with_records,
        );
    };
    (@each $factory:expr; $($behaviour:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                let store = ($factory)().await;
                $crate::conformance::$behaviour(&store).await;
            }
        )*
    };
}

/// A fresh user id no other run uses.
pub fn unique_user(label: &str) -> UserId {
    let text = format!("conf-{label}-{}", uuid::Uuid::new_v4().simple());
    let text = &text[..text.len().min(MAX_USER_ID_LEN)];
    match UserId::parse(text) {
        Ok(user) => user,
        Err(error) => panic!("test user id {text:?} is invalid: {error}"),
    }
}

fn key(user: &UserId, kind: RecordKind, id: &str) -> RecordKey {
    RecordKey::new(user, kind, id)
}

/// A version no store hands out for a record the suite has not written
/// (the largest one), for "expect a version that is not there" cases.
fn unlikely_version() -> Version {
    Version::new(u64::MAX).unwrap_or_else(|| unreachable!("u64::MAX is not zero"))
}

fn create(key: &RecordKey, body: &[u8]) -> Write {
    Write::Put {
        key: key.clone(),
        expect: Expect::Absent,
        body: body.to_vec(),
    }
}

fn update(key: &RecordKey, expect: Version, body: &[u8]) -> Write {
    Write::Put {
        key: key.clone(),
        expect: Expect::Version(expect),
        body: body.to_vec(),
    }
}

fn delete(key: &RecordKey, expect: Version) -> Write {
    Write::Delete {
        key: key.clone(),
        expect,
    }
}

async fn commit_ok(store: &dyn Store, writes: Vec<Write>) {
    if let Err(error) = store.commit(writes).await {
        panic!("a commit whose expectations hold failed: {error:?}");
    }
}

async fn expect_conflict(store: &dyn Store, writes: Vec<Write>, on: &RecordKey, what: &str) {
    match store.commit(writes).await {
        Err(StoreError::Conflict { key }) => {
            assert_eq!(&key, on, "{what}: the conflict names the wrong key");
        }
        other => panic!("{what}: expected a conflict on {on}, got {other:?}"),
    }
}

async fn read(store: &dyn Store, key: &RecordKey) -> Option<Record> {
    match store.get(key).await {
        Ok(record) => record,
        Err(error) => panic!("get {key} failed: {error:?}"),
    }
}

async fn read_present(store: &dyn Store, key: &RecordKey) -> Record {
    match read(store, key).await {
        Some(record) => {
            assert_eq!(&record.key, key, "get returned a record under another key");
            record
        }
        None => panic!("record {key} should exist"),
    }
}

/// Checks the body at `key` and returns its version.
async fn assert_record(store: &dyn Store, key: &RecordKey, body: &[u8]) -> Version {
    let record = read_present(store, key).await;
    assert!(
        record.body == body,
        "body of {key} differs ({} bytes stored, {} expected)",
        record.body.len(),
        body.len()
    );
    record.version
}

/// The current version of `key`, which must exist.
async fn version_of(store: &dyn Store, key: &RecordKey) -> Version {
    read_present(store, key).await.version
}

/// Creating a record that exists is a conflict, and leaves the first body.
pub async fn create_is_exclusive(store: &dyn Store) {
    let user = unique_user("create");
    let k = key(&user, RecordKind::Item, "one");
    commit_ok(store, vec![create(&k, b"first")]).await;
    let version = assert_record(store, &k, b"first").await;
    expect_conflict(store, vec![create(&k, b"second")], &k, "second create").await;
    assert_eq!(assert_record(store, &k, b"first").await, version);
}

/// Every put gives the record a version it never had, and reads return the
/// version of the last write.
pub async fn every_write_changes_the_version(store: &dyn Store) {
    let user = unique_user("versions");
    let k = key(&user, RecordKind::Agent, "a");
    commit_ok(store, vec![create(&k, b"v1")]).await;
    let mut seen = vec![assert_record(store, &k, b"v1").await];
    for n in 2..=6u64 {
        let body = format!("v{n}");
        let last = *seen
            .last()
            .unwrap_or_else(|| unreachable!("seen is never empty"));
        commit_ok(store, vec![update(&k, last, body.as_bytes())]).await;
        let version = assert_record(store, &k, body.as_bytes()).await;
        assert!(
            !seen.contains(&version),
            "write {n} reused version {version:?} (earlier: {seen:?})"
        );
        seen.push(version);
    }
}

/// A record deleted and created again never gets back a version it had, so
/// a writer still holding an old version is refused: the stale-writer (ABA)
/// case in which a revoked credential would come back.
pub async fn versions_are_never_reused(store: &dyn Store) {
    let user = unique_user("recreate");
    let k = key(&user, RecordKind::Connection, "openai:api-key");
    let mut seen = Vec::new();
    for round in 0..3 {
        commit_ok(store, vec![create(&k, format!("a{round}").as_bytes())]).await;
        let created = version_of(store, &k).await;
        commit_ok(
            store,
            vec![update(&k, created, format!("b{round}").as_bytes())],
        )
        .await;
        let updated = version_of(store, &k).await;
        for version in [created, updated] {
            assert!(
                !seen.contains(&version),
                "round {round}: version {version:?} was used before for this key ({seen:?})"
            );
            seen.push(version);
        }
        commit_ok(store, vec![delete(&k, updated)]).await;
        assert!(read(store, &k).await.is_none(), "a deleted record is gone");
    }
    // A stale writer that read the record in an earlier life must fail
    // against the new one, whatever version it remembers.
    commit_ok(store, vec![create(&k, b"new credential")]).await;
    for (n, old) in seen.iter().enumerate() {
        expect_conflict(
            store,
            vec![update(&k, *old, b"old credential")],
            &k,
            &format!("stale put with old version #{n}"),
        )
        .await;
        expect_conflict(
            store,
            vec![delete(&k, *old)],
            &k,
            &format!("stale delete with old version #{n}"),
        )
        .await;
    }
    assert_record(store, &k, b"new credential").await;
}

/// A put or delete that expects an older (or another) version than the
/// current one is a conflict and changes nothing.
pub async fn stale_version_is_refused(store: &dyn Store) {
    let user = unique_user("stale");
    let k = key(&user, RecordKind::Connection, "openai:api-key");
    commit_ok(store, vec![create(&k, b"one")]).await;
    let first = version_of(store, &k).await;
    commit_ok(store, vec![update(&k, first, b"two")]).await;
    let second = version_of(store, &k).await;
    let other = unlikely_version();
    expect_conflict(store, vec![update(&k, first, b"stale")], &k, "stale put").await;
    expect_conflict(store, vec![update(&k, other, b"future")], &k, "other put").await;
    expect_conflict(store, vec![delete(&k, first)], &k, "stale delete").await;
    expect_conflict(store, vec![delete(&k, other)], &k, "other delete").await;
    assert_eq!(assert_record(store, &k, b"two").await, second);
    commit_ok(store, vec![delete(&k, second)]).await;
    assert!(read(store, &k).await.is_none());
}

/// A put expecting a version of a record that does not exist is a conflict
/// and creates nothing.
pub async fn absent_record_with_version_is_refused(store: &dyn Store) {
    let user = unique_user("absent-put");
    let k = key(&user, RecordKind::Item, "missing");
    let v = unlikely_version();
    expect_conflict(store, vec![update(&k, v, b"x")], &k, "put on absent").await;
    assert!(read(store, &k).await.is_none(), "nothing was created");
}

/// Deleting a record that does not exist is a conflict.
pub async fn delete_of_absent_conflicts(store: &dyn Store) {
    let user = unique_user("absent-del");
    let k = key(&user, RecordKind::Item, "missing");
    let v = unlikely_version();
    expect_conflict(store, vec![delete(&k, v)], &k, "delete of absent").await;
    assert!(read(store, &k).await.is_none());
}

/// A batch of creates, puts and deletes whose expectations all hold applies
/// every write.
pub async fn batch_applies_every_write(store: &dyn Store) {
    let user = unique_user("batch");
    let a = key(&user, RecordKind::Item, "a");
    let b = key(&user, RecordKind::Item, "b");
    let c = key(&user, RecordKind::Name, "c");
    commit_ok(store, vec![create(&a, b"a1"), create(&b, b"b1")]).await;
    let (va, vb) = (version_of(store, &a).await, version_of(store, &b).await);
    commit_ok(
        store,
        vec![update(&a, va, b"a2"), delete(&b, vb), create(&c, b"c1")],
    )
    .await;
    assert_ne!(assert_record(store, &a, b"a2").await, va);
    assert!(read(store, &b).await.is_none(), "deleted in the batch");
    assert_record(store, &c, b"c1").await;
}

/// A batch whose last write's expectation fails applies none of its writes,
/// and the conflict names that write's key.
pub async fn failed_batch_changes_nothing(store: &dyn Store) {
    let user = unique_user("atomic");
    let a = key(&user, RecordKind::Item, "a");
    let b = key(&user, RecordKind::Item, "b");
    let c = key(&user, RecordKind::Agent, "c");
    let fresh = key(&user, RecordKind::Name, "fresh");
    let d = key(&user, RecordKind::Item, "d");
    commit_ok(
        store,
        vec![create(&a, b"a1"), create(&b, b"b1"), create(&c, b"c1")],
    )
    .await;
    let (va, vb, vc1) = (
        version_of(store, &a).await,
        version_of(store, &b).await,
        version_of(store, &c).await,
    );
    commit_ok(store, vec![update(&c, vc1, b"c2")]).await;
    let vc2 = version_of(store, &c).await;

    // Last write expects a stale version.
    let batch = vec![
        update(&a, va, b"a-new"),
        delete(&b, vb),
        create(&fresh, b"fresh"),
        update(&c, vc1, b"c-stale"),
    ];
    expect_conflict(store, batch, &c, "batch with a stale last write").await;
    // Last write creates what exists.
    let batch = vec![
        update(&a, va, b"a-new"),
        delete(&b, vb),
        create(&fresh, b"fresh"),
        create(&c, b"c-again"),
    ];
    expect_conflict(store, batch, &c, "batch with an exclusive last create").await;
    // Last write deletes what does not exist.
    let batch = vec![
        update(&a, va, b"a-new"),
        delete(&b, vb),
        create(&fresh, b"fresh"),
        delete(&d, unlikely_version()),
    ];
    expect_conflict(store, batch, &d, "batch with a last delete of absent").await;

    assert_eq!(assert_record(store, &a, b"a1").await, va);
    assert_eq!(assert_record(store, &b, b"b1").await, vb);
    assert_eq!(assert_record(store, &c, b"c2").await, vc2);
    assert!(read(store, &fresh).await.is_none(), "no create survived");
    assert!(read(store, &d).await.is_none());
    let items = list(store, &user, RecordKind::Item).await;
    assert_eq!(
        items.len(),
        2,
        "list shows the state before the failed batches"
    );
}

/// Empty batches, batches writing one key twice and batches spanning users
/// are [`StoreError::InvalidBatch`] and change nothing.
pub async fn malformed_batches_are_refused(store: &dyn Store) {
    let user = unique_user("malformed");
    let other = unique_user("malformed-other");
    let a = key(&user, RecordKind::Item, "a");
    let b = key(&other, RecordKind::Item, "b");

    assert!(
        matches!(
            store.commit(Vec::new()).await,
            Err(StoreError::InvalidBatch(_))
        ),
        "an empty batch is invalid"
    );
    let twice = store
        .commit(vec![create(&a, b"1"), update(&a, unlikely_version(), b"2")])
        .await;
    assert!(
        matches!(twice, Err(StoreError::InvalidBatch(_))),
        "a key written twice is invalid, got {twice:?}"
    );
    let twice = store
        .commit(vec![create(&a, b"1"), delete(&a, unlikely_version())])
        .await;
    assert!(
        matches!(twice, Err(StoreError::InvalidBatch(_))),
        "a key written twice is invalid, got {twice:?}"
    );
    let users = store.commit(vec![create(&a, b"1"), create(&b, b"2")]).await;
    assert!(
        matches!(users, Err(StoreError::InvalidBatch(_))),
        "a batch of two users is invalid, got {users:?}"
    );
    assert!(read(store, &a).await.is_none(), "nothing was written");
    assert!(read(store, &b).await.is_none(), "nothing was written");
}

/// Reading a record that does not exist is `None`, not an error.
pub async fn get_of_absent_is_none(store: &dyn Store) {
    let user = unique_user("get-absent");
    for kind in RecordKind::ALL {
        assert!(read(store, &key(&user, kind, "nothing")).await.is_none());
    }
    let many = store
        .get_many(&[key(&user, RecordKind::Item, "x")])
        .await
        .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
    assert_eq!(many, vec![None]);
    let none = store
        .get_many(&[])
        .await
        .unwrap_or_else(|e| panic!("get_many of nothing failed: {e:?}"));
    assert!(none.is_empty());
}

/// `get_many` answers in the order asked, with `None` for absent records and
/// the same record for a key asked twice.
pub async fn get_many_preserves_order(store: &dyn Store) {
    let user = unique_user("get-many");
    let keys: Vec<RecordKey> = (0..12)
        .map(|i| key(&user, RecordKind::Item, &format!("k{i:02}")))
        .collect();
    // Create every other key, in reverse order, and bump some versions.
    let writes = keys
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, k)| create(k, format!("body-{i}").as_bytes()))
        .collect();
    commit_ok(store, writes).await;
    let created = version_of(store, &keys[2]).await;
    let before = version_of(store, &keys[4]).await;
    commit_ok(store, vec![update(&keys[4], before, b"body-4b")]).await;
    let after = version_of(store, &keys[4]).await;

    let mut asked: Vec<RecordKey> = keys.iter().rev().cloned().collect();
    asked.push(keys[4].clone());
    asked.push(key(&user, RecordKind::Name, "k00"));
    let got = store
        .get_many(&asked)
        .await
        .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
    assert_eq!(got.len(), asked.len(), "one answer per key");
    for (k, record) in asked.iter().zip(&got) {
        let index: usize = k.id[1..].parse().unwrap_or(usize::MAX);
        let exists = k.kind == RecordKind::Item && index % 2 == 0;
        match record {
            Some(record) => {
                assert!(exists, "{k} should be absent");
                assert_eq!(&record.key, k, "answers are in the order asked");
                if index == 4 {
                    assert_eq!(record.version, after);
                    assert_eq!(record.body, b"body-4b");
                } else {
                    // Created in one commit, so at one version (a store may
                    // also give each write its own: then only "not the
                    // updated one" holds).
                    assert_ne!(record.version, after);
                    if record.version != created {
                        assert_ne!(record.version, before);
                    }
                    assert_eq!(record.body, format!("body-{index}").as_bytes());
                }
            }
            None => assert!(!exists, "{k} should be present"),
        }
    }
}

async fn list(store: &dyn Store, user: &UserId, kind: RecordKind) -> Vec<Record> {
    let mut records = store
        .list(user, kind)
        .await
        .unwrap_or_else(|e| panic!("list failed: {e:?}"));
    records.sort_by(|a, b| a.key.cmp(&b.key));
    records
}

/// `list` returns every record of one user and kind with its version and
/// body, and nothing of another user or kind, even when ids overlap or one
/// user id is a prefix of another.
pub async fn list_sees_only_its_user_and_kind(store: &dyn Store) {
    let user = unique_user("list");
    let prefixed = UserId::parse(&format!("{user}x")).unwrap_or_else(|e| panic!("{e}"));
    let other = unique_user("list-other");
    let mut writes = Vec::new();
    for kind in RecordKind::ALL {
        for id in ["a", "b", "c"] {
            writes.push(create(
                &key(&user, kind, id),
                format!("{}-{id}", kind.as_str()).as_bytes(),
            ));
        }
    }
    commit_ok(store, writes).await;
    for u in [&prefixed, &other] {
        commit_ok(
            store,
            vec![
                create(&key(u, RecordKind::Item, "a"), b"other"),
                create(&key(u, RecordKind::Item, "z"), b"other"),
            ],
        )
        .await;
    }
    let (ka, kb, kc) = (
        key(&user, RecordKind::Item, "a"),
        key(&user, RecordKind::Item, "b"),
        key(&user, RecordKind::Item, "c"),
    );
    let vb = version_of(store, &kb).await;
    commit_ok(store, vec![update(&kb, vb, b"b2")]).await;
    let vc = version_of(store, &kc).await;
    commit_ok(store, vec![delete(&kc, vc)]).await;
    let (va, vb) = (version_of(store, &ka).await, version_of(store, &kb).await);

    let items = list(store, &user, RecordKind::Item).await;
    let seen: Vec<(&str, Version, &[u8])> = items
        .iter()
        .map(|r| (r.key.id.as_str(), r.version, r.body.as_slice()))
        .collect();
    assert_eq!(
        seen,
        vec![("a", va, &b"item-a"[..]), ("b", vb, &b"b2"[..])],
        "the user's items"
    );
    assert!(
        items
            .iter()
            .all(|r| r.key.user == user && r.key.kind == RecordKind::Item)
    );
    for kind in RecordKind::ALL {
        if kind == RecordKind::Item {
            continue;
        }
        let records = list(store, &user, kind).await;
        assert_eq!(records.len(), 3, "three records of kind {}", kind.as_str());
        assert!(
            records
                .iter()
                .all(|r| r.key.user == user && r.key.kind == kind)
        );
    }
    assert_eq!(list(store, &other, RecordKind::Item).await.len(), 2);
    assert_eq!(list(store, &prefixed, RecordKind::Item).await.len(), 2);
    assert!(list(store, &other, RecordKind::Agent).await.is_empty());
    assert!(
        list(store, &unique_user("list-none"), RecordKind::Item)
            .await
            .is_empty()
    );
}

/// How many commits race in the concurrency behaviours.
pub const RACERS: usize = 16;

/// Of [`RACERS`] commits in flight at once that all expect the same version
/// of a record, exactly one succeeds and the rest are conflicts; repeated
/// for several versions, with batches that also touch a record of their own.
pub async fn concurrent_updates_have_one_winner(store: &dyn Store) {
    let user = unique_user("race");
    let k = key(&user, RecordKind::Item, "contended");
    commit_ok(store, vec![create(&k, b"start")]).await;
    let mut current = version_of(store, &k).await;
    for round in 1..=5u64 {
        let commits = (0..RACERS).map(|racer| {
            let own = key(&user, RecordKind::Name, &format!("r{round}-{racer}"));
            let body = format!("round {round} racer {racer}");
            let batch = vec![
                create(&own, body.as_bytes()),
                update(&k, current, body.as_bytes()),
            ];
            async move { (racer, store.commit(batch).await) }
        });
        let results = join_all(commits).await;
        let mut winners = Vec::new();
        for (racer, result) in results {
            match result {
                Ok(()) => winners.push(racer),
                Err(StoreError::Conflict { key }) => {
                    assert_eq!(key, k, "a loser conflicts on the contended key")
                }
                Err(other) => panic!("round {round}: racer {racer} failed: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let winner = winners[0];
        let body = format!("round {round} racer {winner}");
        let next = assert_record(store, &k, body.as_bytes()).await;
        assert_ne!(next, current, "round {round}: the version did not change");
        current = next;
        let names = list(store, &user, RecordKind::Name).await;
        let this_round: Vec<_> = names
            .iter()
            .filter(|r| r.key.id.starts_with(&format!("r{round}-")))
            .collect();
        assert_eq!(this_round.len(), 1, "only the winner's batch applied");
        assert_eq!(this_round[0].key.id, format!("r{round}-{winner}"));
    }
    // Racing deletes: one wins.
    let results = join_all((0..RACERS).map(|_| store.commit(vec![delete(&k, current)]))).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one delete wins");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict { .. }))),
        "losers conflict: {results:?}"
    );
    assert!(read(store, &k).await.is_none());
}

/// Of [`RACERS`] creates of one record in flight at once, exactly one
/// succeeds.
pub async fn concurrent_creates_have_one_winner(store: &dyn Store) {
    let user = unique_user("race-create");
    for round in 0..5 {
        let k = key(&user, RecordKind::Agent, &format!("new-{round}"));
        let commits = (0..RACERS).map(|racer| {
            let batch = vec![create(&k, format!("{racer}").as_bytes())];
            async move { (racer, store.commit(batch).await) }
        });
        let mut winners = Vec::new();
        for (racer, result) in join_all(commits).await {
            match result {
                Ok(()) => winners.push(racer),
                Err(StoreError::Conflict { key }) => assert_eq!(key, k),
                Err(other) => panic!("racer {racer} failed: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_record(store, &k, format!("{}", winners[0]).as_bytes()).await;
    }
}

/// While batches that rewrite three records together commit, `list` and
/// `get_many` calls in flight at the same time always see the three at one
/// batch's state, never some before and some after it.
///
/// A store that keeps the default [`Store::get_many`] (one `get` per key)
/// can fail this when its reads interleave with commits: override it with
/// one consistent read.
pub async fn reads_never_see_a_torn_batch(store: &dyn Store) {
    let user = unique_user("torn");
    let keys: Vec<RecordKey> = ["a", "b", "c"]
        .iter()
        .map(|id| key(&user, RecordKind::Item, id))
        .collect();
    commit_ok(store, keys.iter().map(|k| create(k, b"0")).collect()).await;
    const ROUNDS: u64 = 30;
    let writer = async {
        for round in 1..=ROUNDS {
            let body = round.to_string();
            let current = store
                .get_many(&keys)
                .await
                .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
            let batch = keys
                .iter()
                .zip(current)
                .map(|(k, record)| {
                    let record = record.unwrap_or_else(|| panic!("{k} vanished"));
                    update(k, record.version, body.as_bytes())
                })
                .collect();
            commit_ok(store, batch).await;
        }
    };
    let lister = async {
        for _ in 0..ROUNDS {
            let records = list(store, &user, RecordKind::Item).await;
            assert_eq!(records.len(), 3, "list sees every record");
            let first = &records[0];
            for record in &records {
                assert_eq!(record.body, first.body, "list saw a torn batch");
            }
        }
    };
    let getter = async {
        for _ in 0..ROUNDS {
            let records = store
                .get_many(&keys)
                .await
                .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
            let records: Vec<Record> = records.into_iter().flatten().collect();
            assert_eq!(records.len(), 3, "get_many sees every record");
            for record in &records {
                assert_eq!(record.body, records[0].body, "get_many saw a torn batch");
            }
        }
    };
    futures::join!(writer, lister, getter);
    for k in &keys {
        assert_record(store, k, ROUNDS.to_string().as_bytes()).await;
    }
}

/// Bodies of every byte value, empty bodies and bodies over 1 MiB come back
/// byte for byte, through `get`, `get_many` and `list`.
pub async fn large_values_round_trip(store: &dyn Store) {
    let user = unique_user("large");
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let big: Vec<u8> = (0..(1usize << 20) + 4099)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let cases: [(&str, &[u8]); 4] = [
        ("every-byte", &every_byte),
        ("empty", b""),
        ("nul", b"\0"),
        ("big", &big),
    ];
    for (id, body) in cases {
        let k = key(&user, RecordKind::Item, id);
        commit_ok(store, vec![create(&k, body)]).await;
        assert_record(store, &k, body).await;
    }
    let big_key = key(&user, RecordKind::Item, "big");
    let mut bigger = big.clone();
    bigger.extend_from_slice(&every_byte);
    let before = version_of(store, &big_key).await;
    commit_ok(store, vec![update(&big_key, before, &bigger)]).await;
    assert_ne!(assert_record(store, &big_key, &bigger).await, before);

    let keys: Vec<_> = cases
        .iter()
        .map(|(id, _)| key(&user, RecordKind::Item, id))
        .collect();
    let many = store
        .get_many(&keys)
        .await
        .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
    let listed = list(store, &user, RecordKind::Item).await;
    assert_eq!(listed.len(), cases.len());
    for ((id, body), record) in cases.iter().zip(many) {
        let record = record.unwrap_or_else(|| panic!("{id} is missing from get_many"));
        let expected: &[u8] = if *id == "big" { &bigger } else { body };
        assert!(record.body == expected, "get_many body of {id}");
        let listed = listed
            .iter()
            .find(|r| r.key.id == *id)
            .unwrap_or_else(|| panic!("{id} is missing from list"));
        assert!(listed.body == expected, "listed body of {id}");
    }
}

/// Ids with `:`, `-`, `/`, `%`, `_`, `'`, quotes and spaces, ids of 255
/// bytes, and user ids of the maximum length (128 bytes) round-trip and
/// stay distinct.
pub async fn unusual_ids_round_trip(store: &dyn Store) {
    let base = unique_user("ids");
    let long_user_text = format!("{base}:{}", "u".repeat(MAX_USER_ID_LEN));
    let long_user = UserId::parse(&long_user_text[..MAX_USER_ID_LEN])
        .unwrap_or_else(|e| panic!("max-length user id: {e}"));
    assert_eq!(long_user.as_str().len(), MAX_USER_ID_LEN);
    let ids = [
        "openai:api-key".to_owned(),
        "openai:codex-subscription".to_owned(),
        "a-b-c".to_owned(),
        "with/slash".to_owned(),
        "percent%_underscore".to_owned(),
        "quote'double\"back\\".to_owned(),
        "space in id".to_owned(),
        "MiXeD".to_owned(),
        "mixed".to_owned(),
        "x".repeat(255),
        format!("{}y", "x".repeat(254)),
        "~!@#$^&*()+={}[]|;<>,.?`".to_owned(),
    ];
    for user in [&base, &long_user] {
        let writes = ids
            .iter()
            .map(|id| create(&key(user, RecordKind::Connection, id), id.as_bytes()))
            .collect();
        commit_ok(store, writes).await;
        for id in &ids {
            assert_record(store, &key(user, RecordKind::Connection, id), id.as_bytes()).await;
        }
        let listed = list(store, user, RecordKind::Connection).await;
        let mut listed_ids: Vec<&str> = listed.iter().map(|r| r.key.id.as_str()).collect();
        listed_ids.sort_unstable();
        let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(listed_ids, expected, "listed ids of {user}");
        for record in &listed {
            assert_eq!(&record.key.user, user);
            assert_eq!(record.body, record.key.id.as_bytes());
        }
        let k = key(user, RecordKind::Connection, &ids[9]);
        let v = version_of(store, &k).await;
        commit_ok(store, vec![update(&k, v, b"long id updated")]).await;
        let v = assert_record(store, &k, b"long id updated").await;
        commit_ok(store, vec![delete(&k, v)]).await;
        assert!(read(store, &k).await.is_none());
    }
}

/// `users` lists every user with at least one record, and forgets a user
/// whose last record was deleted.
pub async fn users_are_those_with_records(store: &dyn Store) {
    let (kept, emptied) = (unique_user("users-kept"), unique_user("users-emptied"));
    commit_ok(
        store,
        vec![create(&key(&kept, RecordKind::Item, "a"), b"1")],
    )
    .await;
    commit_ok(
        store,
        vec![
            create(&key(&emptied, RecordKind::Agent, "a"), b"1"),
            create(&key(&emptied, RecordKind::UserKeys, "keys"), b"2"),
        ],
    )
    .await;
    let users = store
        .users()
        .await
        .unwrap_or_else(|e| panic!("users failed: {e:?}"));
    assert!(
        users.contains(&kept) && users.contains(&emptied),
        "users: {users:?}"
    );
    assert_eq!(
        users.iter().filter(|u| **u == kept).count(),
        1,
        "a user listed twice"
    );
    let (agent, keys) = (
        key(&emptied, RecordKind::Agent, "a"),
        key(&emptied, RecordKind::UserKeys, "keys"),
    );
    let (va, vk) = (
        version_of(store, &agent).await,
        version_of(store, &keys).await,
    );
    commit_ok(store, vec![delete(&agent, va), delete(&keys, vk)]).await;
    let users = store
        .users()
        .await
        .unwrap_or_else(|e| panic!("users failed: {e:?}"));
    assert!(users.contains(&kept), "users: {users:?}");
    assert!(
        !users.contains(&emptied),
        "a user without records is still listed"
    );
}
