//! A public test suite for [`Store`] implementations (feature
//! `conformance`).
//!
//! Every backend, built in or third party, runs the same behaviours: one
//! `pub async fn` per behaviour, each taking the store under test as a
//! `&dyn Store` (or two, see below) and panicking (like `assert!`) when the
//! store breaks the [contract](Store#contract). Errors are checked by
//! variant, never by message text.
//!
//! The functions are runtime-agnostic: they use no executor of their own, and
//! the concurrency behaviours drive their commits with
//! [`futures::future::join_all`] on the caller's task, so a backend with real
//! connections sees many commits in flight at once.
//!
//! Every behaviour works on fresh, randomly named users, so all of them can
//! share one database, run in parallel, and leave other data alone.
//!
//! # Several handles onto one database
//!
//! The contract holds "across processes when several share a database". To
//! test that, give the suite a second, independent handle onto the same
//! database (another pool, another client) in a [`Handles`] value. The
//! behaviours that take two stores (`(first: &dyn Store, second: &dyn
//! Store)`: the concurrency behaviours, the stale-writer part of
//! [`versions_are_never_reused`] and [`handles_see_each_others_commits`])
//! then spread their racers over both handles and read through the other
//! one. With one handle they get it twice.
//!
//! # Declared limits
//!
//! The suite adapts to [`Store::limits`]: bodies round-trip up to
//! `min(max_body_len, 1 MiB + 4099)` bytes (exactly `max_body_len` when that
//! is smaller), and [`declared_limits_are_honoured`] commits a batch of
//! `min(max_writes, 300)` writes whose bodies fill `max_batch_len` (up to
//! 4 MiB). A store with DynamoDB-like limits passes; the other behaviours
//! use batches of at most [`LARGEST_OTHER_BATCH`] writes of small bodies.
//!
//! # Running the suite
//!
//! With tokio as a dev-dependency, [`conformance_tests!`](crate::conformance_tests)
//! turns the whole list into one `#[tokio::test]` per behaviour:
//!
//! ```no_run
//! // tests/conformance.rs of a crate with a `Store` of its own, with
//! // `agent-vault = { version = "...", features = ["conformance"] }` and
//! // `tokio = { version = "1", features = ["macros", "rt-multi-thread"] }`.
//! // (`MemoryStore` stands in for your store here.)
//! mod one_handle {
//!     agent_vault::conformance_tests!(|| async { agent_vault::store::MemoryStore::new() });
//! }
//!
//! // Or with a second handle onto the same database, and a guard (say the
//! // temporary directory of the database) kept alive for the test:
//! mod two_handles {
//!     use agent_vault::conformance::Handles;
//!     use agent_vault::store::MemoryStore;
//!
//!     agent_vault::conformance_tests!(|| async {
//!         // Clones of a `MemoryStore` share its records: two handles onto
//!         // one database. A file-backed store would open the file twice.
//!         let store = MemoryStore::new();
//!         Handles::new(store.clone())
//!             .with_second(store)
//!             .with_guard(String::from("the TempDir of the database"))
//!     });
//! }
//! # fn main() {}
//! ```
//!
//! Without a test harness, [`run_all`] runs every behaviour and reports each
//! outcome (see `examples/custom_store.rs`); it takes `&store`, `&Handles`
//! or [`Stores::two`].

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use futures::future::join_all;

use crate::store::{
    Expect, Limits, Record, RecordKey, RecordKind, Store, StoreError, Version, Write,
};
use crate::{MAX_USER_ID_LEN, UserId};

/// The stores under test, as a [`conformance_tests!`](crate::conformance_tests)
/// factory returns them: one handle, optionally a second, independent handle
/// onto the same database, and optionally a guard that must outlive both
/// (a temporary directory, a server process).
///
/// Fields drop in order: the handles first, then the guard.
pub struct Handles {
    first: Box<dyn Store>,
    second: Option<Box<dyn Store>>,
    guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Handles {
    /// One handle.
    pub fn new(store: impl Store + 'static) -> Self {
        Self {
            first: Box::new(store),
            second: None,
            guard: None,
        }
    }

    /// With `store` as a second handle onto the same database (its own
    /// connections, as another process would have).
    pub fn with_second(mut self, store: impl Store + 'static) -> Self {
        self.second = Some(Box::new(store));
        self
    }

    /// With `guard` kept alive until both handles are dropped.
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// The first handle.
    pub fn first(&self) -> &dyn Store {
        &*self.first
    }

    /// The second handle, or the first one again if there is none.
    pub fn second(&self) -> &dyn Store {
        self.second.as_deref().unwrap_or(&*self.first)
    }

    /// Whether a second handle was given.
    pub fn has_second(&self) -> bool {
        self.second.is_some()
    }

    /// Both handles, borrowed.
    pub fn stores(&self) -> Stores<'_> {
        Stores::two(self.first(), self.second())
    }
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("second", &self.second.is_some())
            .field("guard", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`conformance_tests!`](crate::conformance_tests) factory may
/// return: any [`Store`], or [`Handles`].
pub trait IntoHandles {
    /// The handles.
    fn into_handles(self) -> Handles;
}

impl<S: Store + 'static> IntoHandles for S {
    fn into_handles(self) -> Handles {
        Handles::new(self)
    }
}

impl IntoHandles for Handles {
    fn into_handles(self) -> Handles {
        self
    }
}

/// Two borrowed handles onto one database (possibly the same handle twice),
/// as [`run`] and [`run_all`] take them. Made from `&store` (one handle),
/// from `&Handles`, or with [`Stores::two`].
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    first: &'a dyn Store,
    second: &'a dyn Store,
}

impl<'a> Stores<'a> {
    /// One handle, used for both.
    pub fn one(store: &'a dyn Store) -> Self {
        Self {
            first: store,
            second: store,
        }
    }

    /// Two handles onto one database.
    pub fn two(first: &'a dyn Store, second: &'a dyn Store) -> Self {
        Self { first, second }
    }
}

impl std::fmt::Debug for Stores<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl<'a, S: Store + 'a> From<&'a S> for Stores<'a> {
    fn from(store: &'a S) -> Self {
        Self::one(store)
    }
}

impl<'a> From<&'a dyn Store> for Stores<'a> {
    fn from(store: &'a dyn Store) -> Self {
        Self::one(store)
    }
}

impl<'a> From<&'a Handles> for Stores<'a> {
    fn from(handles: &'a Handles) -> Self {
        handles.stores()
    }
}

/// Defines the behaviour list once and generates [`BEHAVIOURS`], [`run`]'s
/// dispatch and the hidden macro [`conformance_tests!`](crate::conformance_tests)
/// expands to. `one` behaviours take one store, `two` behaviours two handles.
/// `$d` is a literal `$`, for the generated macro's own metavariables.
macro_rules! behaviours {
    ($d:tt; $($arity:ident $name:ident,)*) => {
        /// The name of every behaviour, in the order [`run_all`] runs them.
        /// Each is also a function of this module.
        pub const BEHAVIOURS: &[&str] = &[$(stringify!($name)),*];

        /// Runs the behaviour named `behaviour` (one of [`BEHAVIOURS`])
        /// against `stores`: `&store` for one handle, `&handles` (a
        /// [`Handles`]) or [`Stores::two`] for two onto one database.
        ///
        /// # Panics
        ///
        /// If the store fails the behaviour, or the name is not in
        /// [`BEHAVIOURS`].
        pub async fn run<'a>(behaviour: &str, stores: impl Into<Stores<'a>>) {
            let stores = stores.into();
            $(
                if behaviour == stringify!($name) {
                    return behaviours!(@call $arity $name stores);
                }
            )*
            panic!("no conformance behaviour named {behaviour:?}")
        }

        #[doc(hidden)]
        #[macro_export]
        macro_rules! __conformance_each {
            ($d factory:expr) => {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let handles =
                            $d crate::conformance::IntoHandles::into_handles(($d factory)().await);
                        $d crate::conformance::run(stringify!($name), &handles).await;
                    }
                )*
            };
        }
    };
    (@call one $name:ident $stores:ident) => {
        $name($stores.first).await
    };
    (@call two $name:ident $stores:ident) => {
        $name($stores.first, $stores.second).await
    };
}

behaviours!($;
    one create_is_exclusive,
    one every_write_changes_the_version,
    two versions_are_never_reused,
    one stale_version_is_refused,
    one absent_record_with_version_is_refused,
    one delete_of_absent_conflicts,
    one batch_applies_every_write,
    one failed_batch_changes_nothing,
    one malformed_batches_are_refused,
    one get_of_absent_is_none,
    one get_many_preserves_order,
    one list_sees_only_its_user_and_kind,
    one keys_never_mix_users,
    one users_come_back_intact,
    two handles_see_each_others_commits,
    two concurrent_updates_have_one_winner,
    two concurrent_creates_have_one_winner,
    two reads_never_see_a_torn_batch,
    one large_values_round_trip,
    one declared_limits_are_honoured,
    one unusual_ids_round_trip,
    one users_are_those_with_records,
);

/// One behaviour's outcome in a [`run_all`] report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The behaviour (one of [`BEHAVIOURS`]).
    pub behaviour: &'static str,
    /// `Ok` if the store behaved, otherwise the failed assertion's message.
    pub result: Result<(), String>,
}

/// Runs every behaviour against `stores` (`&store`, `&handles` or
/// [`Stores::two`]), one after the other, and reports each outcome instead
/// of stopping at the first failure.
pub async fn run_all<'a>(stores: impl Into<Stores<'a>>) -> Vec<Outcome> {
    let stores = stores.into();
    let mut out = Vec::with_capacity(BEHAVIOURS.len());
    for &behaviour in BEHAVIOURS {
        let future = run(behaviour, stores);
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

/// Instantiates the whole suite as one `#[tokio::test]` per behaviour.
///
/// `$factory` is an expression callable with no arguments that returns a
/// future of either a store (anything that implements
/// [`Store`](crate::store::Store), including `Arc<dyn Store>`) or a
/// [`Handles`](crate::conformance::Handles) value with a second handle onto
/// the same database and a guard; it is called once per test. The caller
/// needs `tokio` as a dev-dependency with the `macros` and `rt-multi-thread`
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
        $crate::__conformance_each!($factory);
    };
}

/// The most writes any behaviour other than [`declared_limits_are_honoured`]
/// puts in one batch (a store declaring fewer [`Limits::max_writes`] can't
/// pass them).
pub const LARGEST_OTHER_BATCH: usize = 3 * RecordKind::ALL.len();

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
/// case in which a revoked credential would come back. The stale writers
/// come through `other`, a second handle onto the same database (or the
/// same one again).
pub async fn versions_are_never_reused(store: &dyn Store, other: &dyn Store) {
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
            other,
            vec![update(&k, *old, b"old credential")],
            &k,
            &format!("stale put with old version #{n}"),
        )
        .await;
        expect_conflict(
            other,
            vec![delete(&k, *old)],
            &k,
            &format!("stale delete with old version #{n}"),
        )
        .await;
    }
    assert_record(other, &k, b"new credential").await;
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
                    assert_eq!(record.body, &b"body-4b"[..]);
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
        .map(|r| (r.key.id.as_str(), r.version, &r.body[..]))
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
/// The racers alternate between `first` and `second` (two handles onto one
/// database, or the same one twice), and the outcome is read through both.
pub async fn concurrent_updates_have_one_winner(first: &dyn Store, second: &dyn Store) {
    let store = first;
    let handle = |racer: usize| if racer % 2 == 0 { first } else { second };
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
            async move { (racer, handle(racer).commit(batch).await) }
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
        let next = assert_record(second, &k, body.as_bytes()).await;
        assert_eq!(assert_record(first, &k, body.as_bytes()).await, next);
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
    let results =
        join_all((0..RACERS).map(|racer| handle(racer).commit(vec![delete(&k, current)]))).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one delete wins");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict { .. }))),
        "losers conflict: {results:?}"
    );
    assert!(read(second, &k).await.is_none());
    assert!(read(first, &k).await.is_none());
}

/// Of [`RACERS`] creates of one record in flight at once, exactly one
/// succeeds; the racers alternate between `first` and `second`.
pub async fn concurrent_creates_have_one_winner(first: &dyn Store, second: &dyn Store) {
    let handle = |racer: usize| if racer % 2 == 0 { first } else { second };
    let user = unique_user("race-create");
    for round in 0..5 {
        let k = key(&user, RecordKind::Agent, &format!("new-{round}"));
        let commits = (0..RACERS).map(|racer| {
            let batch = vec![create(&k, format!("{racer}").as_bytes())];
            async move { (racer, handle(racer).commit(batch).await) }
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
        let body = format!("{}", winners[0]);
        let version = assert_record(first, &k, body.as_bytes()).await;
        assert_eq!(assert_record(second, &k, body.as_bytes()).await, version);
    }
}

/// While batches that rewrite three records together commit, `list` and
/// `get_many` calls in flight at the same time always see the three at one
/// batch's state, never some before and some after it.
///
/// A store that keeps the default [`Store::get_many`] (one `get` per key)
/// can fail this when its reads interleave with commits: override it with
/// one consistent read.
///
/// The batches commit through `first`; `list` reads through `second` and
/// `get_many` through both (two handles onto one database, or the same one
/// twice).
pub async fn reads_never_see_a_torn_batch(first: &dyn Store, second: &dyn Store) {
    let store = first;
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
            let records = list(second, &user, RecordKind::Item).await;
            assert_eq!(records.len(), 3, "list sees every record");
            let first = &records[0];
            for record in &records {
                assert_eq!(record.body, first.body, "list saw a torn batch");
            }
        }
    };
    let getter = async {
        for n in 0..ROUNDS {
            let reader = if n % 2 == 0 { second } else { first };
            let records = reader
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
        assert_record(second, k, ROUNDS.to_string().as_bytes()).await;
    }
}

/// The largest body the suite writes: [`LARGE_BODY_LEN`], or less if the
/// store declares a smaller [`Limits::max_body_len`] (or batch).
fn largest_body(limits: &Limits) -> usize {
    LARGE_BODY_LEN
        .min(limits.max_body_len)
        .min(limits.max_batch_len)
}

/// The size of the large bodies of [`large_values_round_trip`] for a store
/// that declares no smaller limit: over 1 MiB, and not a round number.
pub const LARGE_BODY_LEN: usize = (1 << 20) + 4099;

/// `len` bytes of a pattern that repeats rarely, shifted by `seed`.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i + seed).wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect()
}

/// Bodies of every byte value, empty bodies and large bodies (over 1 MiB,
/// or exactly the store's declared [`Limits::max_body_len`] if that is
/// smaller) come back byte for byte, through `get`, `get_many` and `list`.
pub async fn large_values_round_trip(store: &dyn Store) {
    let user = unique_user("large");
    let limit = largest_body(&store.limits());
    let mut every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    every_byte.truncate(limit);
    let big = pattern(limit, 0);
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
    // As long as the limit allows, with other bytes.
    let mut bigger = pattern(limit - every_byte.len(), 1);
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

fn parse_user(text: &str) -> UserId {
    UserId::parse(text).unwrap_or_else(|e| panic!("test user id {text:?} is invalid: {e}"))
}

fn sorted_ids(records: &[Record]) -> Vec<&str> {
    let mut ids: Vec<&str> = records.iter().map(|r| r.key.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

/// Keys never mix users or kinds, whatever separators the ids hold: user
/// `U` and user `U:item` (and `U:name`) each keep their own records of
/// several kinds, though `U`'s item `item:a` and `U:item`'s item `a` would
/// both be `U:item:item:a` in a store that joins the parts with `:`. `get`
/// never answers with the other user's record, and `list` returns exactly
/// the user's own records of the kind, ids with `:` and `/` included.
///
/// A store that builds its keys by joining user, kind and id with a
/// separator (Redis-style `user:kind:id`, or a path `user/kind/id`) fails
/// this: user ids may contain `:`, `.` and `@`, and record ids `:` and `/`.
/// Keep the three parts apart (columns, a tuple, a length-prefixed
/// encoding).
pub async fn keys_never_mix_users(store: &dyn Store) {
    let user = unique_user("mix");
    let with_item = parse_user(&format!("{user}:item"));
    let with_name = parse_user(&format!("{user}:name"));
    let theirs: Vec<(RecordKey, String)> = [
        (&with_item, RecordKind::Item, "a"),
        (&with_item, RecordKind::Item, "b"),
        (&with_item, RecordKind::Name, "n"),
        (&with_item, RecordKind::Agent, "x:item"),
        (&with_name, RecordKind::Item, "z"),
        (&with_name, RecordKind::Name, "n"),
    ]
    .into_iter()
    .map(|(u, kind, id)| (key(u, kind, id), format!("{u}/{}/{id}", kind.as_str())))
    .collect();
    for u in [&with_item, &with_name] {
        let writes = theirs
            .iter()
            .filter(|(k, _)| &k.user == u)
            .map(|(k, body)| create(k, body.as_bytes()))
            .collect();
        commit_ok(store, writes).await;
    }
    // Before `user` has a record, none of its keys may answer.
    for id in ["item:a", "item:b", "a", "name:z", "item:name:n"] {
        let k = key(&user, RecordKind::Item, id);
        assert!(
            read(store, &k).await.is_none(),
            "get {k} answered with another user's record"
        );
    }
    assert!(
        list(store, &user, RecordKind::Item).await.is_empty(),
        "list of a user without records returned other users' records"
    );

    let own_ids = [
        (RecordKind::Item, "item:a"),
        (RecordKind::Item, "a"),
        (RecordKind::Item, "x:item"),
        (RecordKind::Item, "with/slash"),
        (RecordKind::Item, "name:n"),
        (RecordKind::Name, "n"),
        (RecordKind::Connection, "openai:api-key"),
    ];
    let own: Vec<(RecordKey, String)> = own_ids
        .iter()
        .map(|(kind, id)| {
            (
                key(&user, *kind, id),
                format!("{user}/{}/{id}", kind.as_str()),
            )
        })
        .collect();
    commit_ok(
        store,
        own.iter().map(|(k, b)| create(k, b.as_bytes())).collect(),
    )
    .await;
    for (k, body) in own.iter().chain(&theirs) {
        assert_record(store, k, body.as_bytes()).await;
    }
    let all_keys: Vec<RecordKey> = own.iter().chain(&theirs).map(|(k, _)| k.clone()).collect();
    let many = store
        .get_many(&all_keys)
        .await
        .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
    for ((k, body), record) in own.iter().chain(&theirs).zip(many) {
        let record = record.unwrap_or_else(|| panic!("get_many lost {k}"));
        assert_eq!(&record.key, k, "get_many answered for another key");
        assert!(record.body == body.as_bytes(), "get_many body of {k}");
    }

    for (u, kind, expected) in [
        (
            &user,
            RecordKind::Item,
            vec!["a", "item:a", "name:n", "with/slash", "x:item"],
        ),
        (&user, RecordKind::Name, vec!["n"]),
        (&user, RecordKind::Connection, vec!["openai:api-key"]),
        (&user, RecordKind::Agent, vec![]),
        (&with_item, RecordKind::Item, vec!["a", "b"]),
        (&with_item, RecordKind::Name, vec!["n"]),
        (&with_item, RecordKind::Agent, vec!["x:item"]),
        (&with_name, RecordKind::Item, vec!["z"]),
        (&with_name, RecordKind::Name, vec!["n"]),
    ] {
        let records = list(store, u, kind).await;
        assert_eq!(
            sorted_ids(&records),
            expected,
            "list({u}, {}) returned other users' or kinds' records",
            kind.as_str()
        );
        for record in &records {
            assert!(
                &record.key.user == u && record.key.kind == kind,
                "list({u}, {}) returned {}",
                kind.as_str(),
                record.key
            );
        }
    }

    // Deleting one user's record leaves the look-alike of the other.
    let k = &theirs[0].0;
    let v = version_of(store, k).await;
    commit_ok(store, vec![delete(k, v)]).await;
    assert!(read(store, k).await.is_none());
    assert_record(store, &own[0].0, own[0].1.as_bytes()).await;
}

/// `users` returns exactly the user ids that have records, parsed back
/// intact: ids such as `tenant:U`, `U:item`, `U:item:a`, `U.b@c` and
/// `x:U:item` (for a fresh `U`), each once, none cut at a separator, and
/// forgets one whose records were deleted while keeping the others.
pub async fn users_come_back_intact(store: &dyn Store) {
    let base = unique_user("users-sep");
    let written: Vec<UserId> = [
        base.to_string(),
        format!("{base}:item"),
        format!("{base}:item:a"),
        format!("tenant:{base}"),
        format!("{base}.b@c"),
        format!("x:{base}:item"),
    ]
    .iter()
    .map(|text| parse_user(text))
    .collect();
    for u in &written {
        commit_ok(
            store,
            vec![
                create(&key(u, RecordKind::Item, "a"), u.as_str().as_bytes()),
                create(&key(u, RecordKind::Agent, "x:y"), b"agent"),
            ],
        )
        .await;
    }
    let ours = |users: Vec<UserId>| {
        let mut users: Vec<UserId> = users
            .into_iter()
            .filter(|u| u.as_str().contains(base.as_str()))
            .collect();
        users.sort();
        users
    };
    let users = store
        .users()
        .await
        .unwrap_or_else(|e| panic!("users failed: {e:?}"));
    for u in &written {
        assert!(users.contains(u), "users() lost {u}");
    }
    let mut expected = written.clone();
    expected.sort();
    assert_eq!(
        ours(users),
        expected,
        "users() returns exactly the ids written"
    );
    for u in &written {
        let items = list(store, u, RecordKind::Item).await;
        assert_eq!(sorted_ids(&items), vec!["a"], "the items of {u}");
        assert!(items[0].body == u.as_str().as_bytes(), "the item of {u}");
    }

    let gone = &written[1];
    let (item, agent) = (
        key(gone, RecordKind::Item, "a"),
        key(gone, RecordKind::Agent, "x:y"),
    );
    let (vi, va) = (
        version_of(store, &item).await,
        version_of(store, &agent).await,
    );
    commit_ok(store, vec![delete(&item, vi), delete(&agent, va)]).await;
    let users = store
        .users()
        .await
        .unwrap_or_else(|e| panic!("users failed: {e:?}"));
    let expected: Vec<UserId> = expected.into_iter().filter(|u| u != gone).collect();
    assert_eq!(
        ours(users),
        expected,
        "users() after {gone} lost its records"
    );
}

/// A commit through one handle is read through the other (`get`,
/// `get_many`, `list`, `users`), and a stale writer on one handle is
/// refused after a write through the other, also across a delete and
/// re-create. `first` and `second` are two handles onto one database (or the
/// same one twice).
pub async fn handles_see_each_others_commits(first: &dyn Store, second: &dyn Store) {
    let user = unique_user("handles");
    let k = key(&user, RecordKind::Connection, "openai:api-key");
    let b = key(&user, RecordKind::Item, "b");
    commit_ok(first, vec![create(&k, b"one"), create(&b, b"b")]).await;
    let v1 = assert_record(second, &k, b"one").await;
    assert_eq!(version_of(first, &k).await, v1, "both handles agree");
    let many = second
        .get_many(&[k.clone(), b.clone()])
        .await
        .unwrap_or_else(|e| panic!("get_many failed: {e:?}"));
    assert!(
        many.iter().all(Option::is_some),
        "get_many through the second handle sees the first's commit"
    );
    assert_eq!(list(second, &user, RecordKind::Connection).await.len(), 1);
    let users = second
        .users()
        .await
        .unwrap_or_else(|e| panic!("users failed: {e:?}"));
    assert!(users.contains(&user), "users through the second handle");

    // A write through the second handle; the first handle's reader is stale.
    commit_ok(second, vec![update(&k, v1, b"two")]).await;
    let v2 = assert_record(first, &k, b"two").await;
    assert_ne!(v2, v1, "the version changed");
    expect_conflict(
        first,
        vec![update(&k, v1, b"stale")],
        &k,
        "stale put through one handle after a write through the other",
    )
    .await;
    expect_conflict(
        first,
        vec![delete(&k, v1)],
        &k,
        "stale delete through one handle after a write through the other",
    )
    .await;
    let n = key(&user, RecordKind::Name, "n");
    commit_ok(second, vec![create(&n, b"n")]).await;
    expect_conflict(
        first,
        vec![create(&n, b"again")],
        &n,
        "create of a record the other handle created",
    )
    .await;

    // Deleted through one handle, created again through the other: the
    // first handle's old versions are refused.
    commit_ok(first, vec![delete(&k, v2)]).await;
    assert!(read(second, &k).await.is_none(), "the delete is seen");
    commit_ok(second, vec![create(&k, b"three")]).await;
    assert_record(first, &k, b"three").await;
    for old in [v1, v2] {
        expect_conflict(
            first,
            vec![update(&k, old, b"revoked")],
            &k,
            "stale put after delete and re-create through the other handle",
        )
        .await;
    }
    assert_record(second, &k, b"three").await;
}

/// The most writes [`declared_limits_are_honoured`] puts in one batch.
pub const LIMIT_BATCH_WRITES: usize = 300;

/// The most body bytes [`declared_limits_are_honoured`] puts in one batch.
pub const LIMIT_BATCH_BYTES: usize = 4 << 20;

/// What the store declares in [`Store::limits`] it takes: one body of
/// `min(max_body_len, max_batch_len, `[`LARGE_BODY_LEN`]`)` bytes (exactly
/// at the declared limit when that is smaller), and a batch of
/// `min(max_writes, `[`LIMIT_BATCH_WRITES`]`)` writes whose bodies together
/// fill `max_batch_len` (up to [`LIMIT_BATCH_BYTES`]), which applies
/// atomically: all of it, or with a stale last write none of it.
pub async fn declared_limits_are_honoured(store: &dyn Store) {
    let limits = store.limits();
    let user = unique_user("limits");

    let largest = largest_body(&limits);
    let k = key(&user, RecordKind::Item, "largest");
    let body = pattern(largest, 7);
    let batch = vec![create(&k, &body)];
    assert!(limits.admits(&batch), "one largest body fits the limits");
    commit_ok(store, batch).await;
    assert_record(store, &k, &body).await;

    let writes = limits.max_writes.clamp(1, LIMIT_BATCH_WRITES);
    let body_cap = limits.max_body_len.min(LARGE_BODY_LEN);
    let total = limits
        .max_batch_len
        .min(writes.saturating_mul(body_cap))
        .min(LIMIT_BATCH_BYTES);
    let len = |i: usize| total / writes + usize::from(i < total % writes);
    let keys: Vec<RecordKey> = (0..writes)
        .map(|i| key(&user, RecordKind::Name, &format!("w{i:03}")))
        .collect();
    let bodies: Vec<Vec<u8>> = (0..writes).map(|i| pattern(len(i), i)).collect();
    let batch: Vec<Write> = keys
        .iter()
        .zip(&bodies)
        .map(|(k, b)| create(k, b))
        .collect();
    assert!(limits.admits(&batch), "the suite's batch fits the limits");
    commit_ok(store, batch).await;
    let read_all = || async {
        store
            .get_many(&keys)
            .await
            .unwrap_or_else(|e| panic!("get_many failed: {e:?}"))
            .into_iter()
            .zip(&keys)
            .map(|(record, k)| record.unwrap_or_else(|| panic!("{k} is missing")))
            .collect::<Vec<Record>>()
    };
    let created = read_all().await;
    for (record, body) in created.iter().zip(&bodies) {
        assert!(record.body == *body, "body of {}", record.key);
    }
    assert_eq!(list(store, &user, RecordKind::Name).await.len(), writes);

    // The same full batch of updates with a stale last write: nothing.
    let new_bodies: Vec<Vec<u8>> = (0..writes).map(|i| pattern(len(i), i + 1)).collect();
    let updates = |stale_last: bool| -> Vec<Write> {
        created
            .iter()
            .zip(&new_bodies)
            .enumerate()
            .map(|(i, (record, body))| {
                let expect = if stale_last && i + 1 == writes {
                    unlikely_version()
                } else {
                    record.version
                };
                update(&record.key, expect, body)
            })
            .collect()
    };
    let last = &keys[writes - 1];
    expect_conflict(
        store,
        updates(true),
        last,
        "full batch with a stale last write",
    )
    .await;
    for (now, before) in read_all().await.iter().zip(&created) {
        assert_eq!(now, before, "a failed full batch changed {}", before.key);
    }
    let batch = updates(false);
    assert!(limits.admits(&batch), "the suite's batch fits the limits");
    commit_ok(store, batch).await;
    for ((now, before), body) in read_all().await.iter().zip(&created).zip(&new_bodies) {
        assert!(
            now.body == *body,
            "body of {} after the full batch",
            now.key
        );
        assert_ne!(now.version, before.version, "version of {}", now.key);
    }
}
