//! The conformance suite proves what it promises: a store that builds its
//! keys by joining user, kind and id with `:` (Redis style) is otherwise
//! correct, and fails exactly the behaviours about separators; its twin with
//! tuple keys passes everything, also with two handles and with DynamoDB-like
//! declared limits; and two handles onto different databases are caught.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use agent_vault::UserId;
use agent_vault::conformance::{self, BEHAVIOURS, Handles, Outcome, Stores};
use agent_vault::store::{
    BatchError, Expect, Limits, Record, RecordKey, RecordKind, Store, StoreError, Version, Write,
    check_batch,
};
use async_trait::async_trait;

/// How a store turns a [`RecordKey`] into its map key and back.
trait Codec: Send + Sync + 'static {
    type Key: Ord + Clone + Send + Sync;
    fn encode(key: &RecordKey) -> Self::Key;
    /// The records of `user` and `kind`, as the store would scan them.
    fn list(map: &BTreeMap<Self::Key, Entry>, user: &UserId, kind: RecordKind) -> Vec<Record>;
    /// The user of a stored key.
    fn user(key: &Self::Key) -> UserId;
}

type Entry = (Version, Vec<u8>);

/// The broken encoding: `format!("{user}:{kind}:{id}")`, a prefix scan for
/// `list`, and the user cut at the first `:`.
struct Joined;

impl Codec for Joined {
    type Key = String;

    fn encode(key: &RecordKey) -> String {
        format!("{}:{}:{}", key.user, key.kind.as_str(), key.id)
    }

    fn list(map: &BTreeMap<String, Entry>, user: &UserId, kind: RecordKind) -> Vec<Record> {
        let prefix = format!("{user}:{}:", kind.as_str());
        map.range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, (version, body))| {
                Record::new(
                    RecordKey::new(user, kind, &k[prefix.len()..]),
                    *version,
                    body.clone(),
                )
            })
            .collect()
    }

    fn user(key: &String) -> UserId {
        let user = key.split_once(':').map_or(key.as_str(), |(user, _)| user);
        UserId::parse_stored(user).expect("a stored user id")
    }
}

/// The correct twin: the three parts kept apart in a tuple.
struct Tuple;

impl Codec for Tuple {
    type Key = (UserId, RecordKind, String);

    fn encode(key: &RecordKey) -> Self::Key {
        (key.user.clone(), key.kind, key.id.clone())
    }

    fn list(map: &BTreeMap<Self::Key, Entry>, user: &UserId, kind: RecordKind) -> Vec<Record> {
        map.range((user.clone(), kind, String::new())..)
            .take_while(|((u, k, _), _)| u == user && *k == kind)
            .map(|((_, _, id), (version, body))| {
                Record::new(
                    RecordKey::new(user, kind, id.clone()),
                    *version,
                    body.clone(),
                )
            })
            .collect()
    }

    fn user(key: &Self::Key) -> UserId {
        key.0.clone()
    }
}

/// Records in a `BTreeMap` behind one mutex: versions from one counter per
/// commit, atomic commits, `get_many` under one lock. Clones share the data
/// (a second handle onto the same database).
struct MapStore<C: Codec> {
    state: Arc<Mutex<State<C::Key>>>,
    limits: Limits,
}

struct State<K> {
    map: BTreeMap<K, Entry>,
    revision: u64,
}

impl<C: Codec> Clone for MapStore<C> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            limits: self.limits,
        }
    }
}

impl<C: Codec> MapStore<C> {
    fn new() -> Self {
        Self::with_limits(Limits::UNLIMITED)
    }

    /// A store that declares `limits` and refuses batches over them.
    fn with_limits(limits: Limits) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                map: BTreeMap::new(),
                revision: 0,
            })),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<C::Key>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl<C: Codec> Store for MapStore<C> {
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        let state = self.lock();
        Ok(keys
            .iter()
            .map(|key| {
                state
                    .map
                    .get(&C::encode(key))
                    .map(|(version, body)| Record::new(key.clone(), *version, body.clone()))
            })
            .collect())
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        Ok(C::list(&self.lock().map, user, kind))
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        if !self.limits.admits(&writes) {
            return Err(StoreError::backend(std::io::Error::other(
                "batch over the declared limits",
            )));
        }
        let mut state = self.lock();
        for write in &writes {
            if !matches!(write, Write::Put { .. } | Write::Delete { .. }) {
                return Err(StoreError::InvalidBatch(BatchError::UnknownWrite));
            }
            let current = state.map.get(&C::encode(write.key())).map(|(v, _)| *v);
            if !write.holds(current) {
                return Err(StoreError::Conflict {
                    key: write.key().clone(),
                });
            }
        }
        state.revision += 1;
        let version = Version::new(state.revision).expect("a revision after an increment is > 0");
        for write in writes {
            match write {
                Write::Put { key, body, .. } => {
                    state.map.insert(C::encode(&key), (version, body));
                }
                Write::Delete { key, .. } => {
                    state.map.remove(&C::encode(&key));
                }
                _ => unreachable!("refused before anything was applied"),
            }
        }
        Ok(())
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        let mut users: Vec<UserId> = self.lock().map.keys().map(C::user).collect();
        users.sort();
        users.dedup();
        Ok(users)
    }
}

type JoinedStore = MapStore<Joined>;
type TupleStore = MapStore<Tuple>;

/// The behaviours that failed, in suite order.
fn failed(outcomes: &[Outcome]) -> Vec<&'static str> {
    assert_eq!(
        outcomes.len(),
        BEHAVIOURS.len(),
        "one outcome per behaviour"
    );
    outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.behaviour)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_keys_fail_exactly_the_separator_behaviours() {
    let store = JoinedStore::new();
    let outcomes = conformance::run_all(&store).await;
    assert_eq!(
        failed(&outcomes),
        ["keys_never_mix_users", "users_come_back_intact"],
        "{outcomes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_keys_fail_with_two_handles_too() {
    let store = JoinedStore::new();
    let handles = Handles::new(store.clone()).with_second(store);
    let outcomes = conformance::run_all(&handles).await;
    assert_eq!(
        failed(&outcomes),
        ["keys_never_mix_users", "users_come_back_intact"],
        "{outcomes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuple_keys_pass_everything() {
    let store = TupleStore::new();
    let outcomes = conformance::run_all(&store).await;
    assert!(failed(&outcomes).is_empty(), "{outcomes:#?}");
}

/// With DynamoDB's limits (100 writes, 400 KiB items, 4 MB per batch) and
/// batches over them refused, the suite still passes: it tests what the
/// store declares, not 1 MiB bodies it never promised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_limits_are_what_the_suite_tests() {
    let limits = Limits::new(100, 400 * 1024, 4_000_000);
    let store = TupleStore::with_limits(limits);
    let outcomes = conformance::run_all(&store).await;
    assert!(failed(&outcomes).is_empty(), "{outcomes:#?}");
    // The store does refuse what is over its limits, so the suite adapted.
    let user = conformance::unique_user("over-limit");
    let over = store
        .commit(vec![Write::Put {
            key: RecordKey::new(&user, RecordKind::Item, "big"),
            expect: Expect::Absent,
            body: vec![0; 400 * 1024 + 1],
        }])
        .await;
    assert!(matches!(over, Err(StoreError::Backend(_))), "{over:?}");
    // Tighter still: as few writes as the other behaviours need.
    let tight =
        TupleStore::with_limits(Limits::new(conformance::LARGEST_OTHER_BATCH, 1000, 20_000));
    let outcomes = conformance::run_all(&tight).await;
    assert!(failed(&outcomes).is_empty(), "{outcomes:#?}");
}

/// Two "handles" onto two different databases are caught by the
/// behaviours that take two handles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_onto_different_databases_are_caught() {
    let (first, second) = (TupleStore::new(), TupleStore::new());
    let outcomes = conformance::run_all(Stores::two(&first, &second)).await;
    assert_eq!(
        failed(&outcomes),
        [
            "versions_are_never_reused",
            "handles_see_each_others_commits",
            "concurrent_updates_have_one_winner",
            "concurrent_creates_have_one_winner",
            "reads_never_see_a_torn_batch",
        ],
        "{outcomes:#?}"
    );
}

/// The macro takes a factory of `Handles`: the twin with two handles onto
/// one map passes every behaviour as its own test.
mod twin_with_two_handles {
    use super::*;

    agent_vault::conformance_tests!(|| async {
        let store = TupleStore::new();
        Handles::new(store.clone()).with_second(store)
    });
}
