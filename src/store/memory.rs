use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    Expect, Record, RecordKey, RecordKind, Store, StoreError, Version, Write, check_batch,
};
use crate::UserId;

type Key = (UserId, RecordKind, String);

/// The embedded default store: records in memory, behind one mutex.
///
/// Cheap to clone (clones share the data), so a test can keep a handle to a
/// store it gave a vault. Nothing survives the process.
#[derive(Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<BTreeMap<Key, (Version, Arc<[u8]>)>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, in key order: for tests that inspect what is at rest.
    pub fn snapshot(&self) -> Vec<Record> {
        self.lock()
            .iter()
            .map(|((user, kind, id), (version, body))| Record {
                key: RecordKey::new(user, *kind, id.clone()),
                version: *version,
                body: body.to_vec(),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, (Version, Arc<[u8]>)>> {
        // Every mutation below is applied only after all checks pass, so a
        // panic cannot leave the map half-written: a poisoned lock is safe.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.lock().len())
            .finish()
    }
}

fn map_key(key: &RecordKey) -> Key {
    (key.user.clone(), key.kind, key.id.clone())
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        Ok(self
            .lock()
            .get(&map_key(key))
            .map(|(version, body)| Record {
                key: key.clone(),
                version: *version,
                body: body.to_vec(),
            }))
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let start = (user.clone(), kind, String::new());
        Ok(self
            .lock()
            .range(start..)
            .take_while(|((u, k, _), _)| u == user && *k == kind)
            .map(|((_, _, id), (version, body))| Record {
                key: RecordKey::new(user, kind, id.clone()),
                version: *version,
                body: body.to_vec(),
            })
            .collect())
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        let mut records = self.lock();
        for write in &writes {
            let current = records.get(&map_key(write.key())).map(|(v, _)| *v);
            let holds = match write {
                Write::Put {
                    expect: Expect::Absent,
                    ..
                } => current.is_none(),
                Write::Put {
                    expect: Expect::Version(v),
                    ..
                }
                | Write::Delete { expect: v, .. } => current == Some(*v),
            };
            if !holds {
                return Err(StoreError::Conflict {
                    key: write.key().clone(),
                });
            }
        }
        for write in writes {
            match write {
                Write::Put { key, expect, body } => {
                    let version = match expect {
                        Expect::Absent => Version::FIRST,
                        Expect::Version(v) => v.next(),
                    };
                    records.insert(map_key(&key), (version, body.into()));
                }
                Write::Delete { key, .. } => {
                    records.remove(&map_key(&key));
                }
            }
        }
        Ok(())
    }
}
