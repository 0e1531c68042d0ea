//! A third-party `Store`: records in a `RwLock<HashMap>`, checked with the
//! public conformance suite (feature `conformance`).
//!
//! ```text
//! cargo run --example custom_store --features conformance
//! ```
//!
//! A real backend would do the same from its own tests, most simply with
//! `agent_vault::conformance_tests!(|| async { MyStore::new() });`.

use std::collections::HashMap;
use std::sync::RwLock;

use agent_vault::UserId;
use agent_vault::conformance;
use agent_vault::store::{
    Expect, Record, RecordKey, RecordKind, Store, StoreError, Version, Write, check_batch,
};
use async_trait::async_trait;

/// Records in a map behind a reader-writer lock.
#[derive(Default)]
struct HashMapStore {
    records: RwLock<HashMap<RecordKey, (Version, Vec<u8>)>>,
}

#[async_trait]
impl Store for HashMapStore {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        Ok(records.get(key).map(|(version, body)| Record {
            key: key.clone(),
            version: *version,
            body: body.clone(),
        }))
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        Ok(records
            .iter()
            .filter(|(key, _)| &key.user == user && key.kind == kind)
            .map(|(key, (version, body))| Record {
                key: key.clone(),
                version: *version,
                body: body.clone(),
            })
            .collect())
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        // One write lock for the whole batch: check everything, then apply.
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        for write in &writes {
            let current = records.get(write.key()).map(|(v, _)| *v);
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
                    records.insert(key, (version, body));
                }
                Write::Delete { key, .. } => {
                    records.remove(&key);
                }
            }
        }
        Ok(())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store = HashMapStore::default();
    let failed = runtime.block_on(async {
        // One behaviour on its own, as a test would call it:
        conformance::create_is_exclusive(&store).await;
        // Or every behaviour, each reported:
        let mut failed = 0;
        for outcome in conformance::run_all(&store).await {
            match outcome.result {
                Ok(()) => println!("ok     {}", outcome.behaviour),
                Err(message) => {
                    failed += 1;
                    println!("FAILED {}: {message}", outcome.behaviour);
                }
            }
        }
        failed
    });
    println!(
        "{} passed, {failed} failed",
        conformance::BEHAVIOURS.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
