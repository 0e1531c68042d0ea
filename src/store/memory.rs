use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Bytes, Record, RecordKey, RecordKind, Store, StoreError, Version, Write, check_batch};
use crate::UserId;

/// One user's records, one map per kind, so lookups borrow the id instead of
/// building an owned key.
#[derive(Default)]
struct UserRecords {
    by_kind: [BTreeMap<String, Entry>; RecordKind::ALL.len()],
}

struct Entry {
    version: Version,
    /// Handed out as clones: a read copies no body.
    body: Bytes,
}

/// Every user's records, and the revision counter that versions come from.
#[derive(Default)]
struct Records {
    users: HashMap<UserId, UserRecords>,
    /// Incremented once per applied commit; every write of that commit gets
    /// it as its version. Never decreases, so no key ever sees a version
    /// twice, across delete and re-create alike.
    revision: u64,
}

fn slot(kind: RecordKind) -> usize {
    RecordKind::ALL
        .iter()
        .position(|k| *k == kind)
        // ALL lists every variant; the unit test below checks it.
        .unwrap_or(0)
}

/// The embedded default store: records in memory, behind one mutex.
///
/// Cheap to clone (clones share the data), so a test can keep a handle to a
/// store it gave a vault. Nothing survives the process.
#[derive(Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<Records>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, in key order: for tests that inspect what is at rest.
    pub fn snapshot(&self) -> Vec<Record> {
        let records = self.lock();
        let mut out: Vec<Record> = records
            .users
            .iter()
            .flat_map(|(user, user_records)| {
                RecordKind::ALL.iter().flat_map(move |kind| {
                    user_records.by_kind[slot(*kind)]
                        .iter()
                        .map(move |(id, entry)| {
                            record(RecordKey::new(user, *kind, id.clone()), entry)
                        })
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // Every mutation below is applied only after all checks pass, so a
        // panic cannot leave the map half-written: a poisoned lock is safe.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("users", &self.lock().users.len())
            .finish()
    }
}

fn record(key: RecordKey, entry: &Entry) -> Record {
    Record {
        key,
        version: entry.version,
        body: entry.body.clone(),
    }
}

fn find<'a>(records: &'a Records, key: &RecordKey) -> Option<&'a Entry> {
    records.users.get(&key.user)?.by_kind[slot(key.kind)].get(key.id.as_str())
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        Ok(find(&self.lock(), key).map(|entry| record(key.clone(), entry)))
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        let records = self.lock();
        Ok(keys
            .iter()
            .map(|key| find(&records, key).map(|entry| record(key.clone(), entry)))
            .collect())
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let records = self.lock();
        let Some(user_records) = records.users.get(user) else {
            return Ok(Vec::new());
        };
        Ok(user_records.by_kind[slot(kind)]
            .iter()
            .map(|(id, entry)| record(RecordKey::new(user, kind, id.clone()), entry))
            .collect())
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .lock()
            .users
            .iter()
            .filter(|(_, records)| records.by_kind.iter().any(|kind| !kind.is_empty()))
            .map(|(user, _)| user.clone())
            .collect())
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        let mut records = self.lock();
        for write in &writes {
            let current = find(&records, write.key()).map(|entry| entry.version);
            if !write.holds(current) {
                return Err(StoreError::Conflict {
                    key: write.key().clone(),
                });
            }
        }
        records.revision += 1;
        let Some(version) = Version::new(records.revision) else {
            unreachable!("the revision was just incremented from a u64 >= 0");
        };
        for write in writes {
            match write {
                Write::Put { key, body, .. } => {
                    let user_records = records.users.entry(key.user).or_default();
                    user_records.by_kind[slot(key.kind)].insert(
                        key.id,
                        Entry {
                            version,
                            body: Bytes::from(body),
                        },
                    );
                }
                Write::Delete { key, .. } => {
                    if let Some(user_records) = records.users.get_mut(&key.user) {
                        user_records.by_kind[slot(key.kind)].remove(key.id.as_str());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_slot() {
        let slots: std::collections::HashSet<_> =
            RecordKind::ALL.iter().map(|k| slot(*k)).collect();
        assert_eq!(slots.len(), RecordKind::ALL.len());
    }

    /// Reads hand out the stored buffer itself (a reference count), never a
    /// copy: two reads of a record, by `get`, `get_many` and `list`, point at
    /// the same bytes.
    #[test]
    fn reads_share_the_stored_body_without_copying_it() {
        let store = MemoryStore::new();
        let user = UserId::parse("u").expect("a valid user id");
        let key = RecordKey::new(&user, RecordKind::Item, "a");
        block_on(store.commit(vec![Write::Put {
            key: key.clone(),
            expect: super::super::Expect::Absent,
            body: b"sealed".to_vec(),
        }]))
        .expect("commit");
        let first = block_on(store.get(&key)).expect("get").expect("present");
        let many = block_on(store.get_many(std::slice::from_ref(&key))).expect("get_many");
        let listed = block_on(store.list(&user, RecordKind::Item)).expect("list");
        let many = many[0].as_ref().expect("present");
        assert_eq!(first.body, &b"sealed"[..]);
        assert_eq!(first.body.as_ptr(), many.body.as_ptr());
        assert_eq!(first.body.as_ptr(), listed[0].body.as_ptr());
    }

    /// Polls a future of the in-memory store, which never waits, to its end.
    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("the in-memory store never waits"),
        }
    }
}
