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
    BatchError, Bytes, Record, RecordKey, RecordKind, Store, StoreError, Version, Write,
    check_batch,
};
use async_trait::async_trait;

/// Records in a map behind a reader-writer lock.
#[derive(Default)]
struct HashMapStore {
    records: RwLock<Records>,
}

/// The records and the counter their versions come from: one number per
/// commit, never reused, so a key deleted and created again never gets a
/// version it had before (the contract's rule against stale writers).
#[derive(Default)]
struct Records {
    /// `Bytes` bodies: a read hands out a clone of the reference (a count
    /// increment), never a copy of the body.
    map: HashMap<RecordKey, (Version, Bytes)>,
    revision: u64,
}

#[async_trait]
impl Store for HashMapStore {
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        // One read lock for all keys: one consistent state, never a torn
        // batch (the contract's rule for `get_many`).
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        Ok(keys
            .iter()
            .map(|key| {
                records
                    .map
                    .get(key)
                    .map(|(version, body)| Record::new(key.clone(), *version, body.clone()))
            })
            .collect())
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        let mut users: Vec<UserId> = records.map.keys().map(|key| key.user.clone()).collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        Ok(records
            .map
            .iter()
            .filter(|(key, _)| &key.user == user && key.kind == kind)
            .map(|(key, (version, body))| Record::new(key.clone(), *version, body.clone()))
            .collect())
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_batch(&writes)?;
        // One write lock for the whole batch: check everything, then apply.
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        for write in &writes {
            // `Write` is non-exhaustive: a kind of write added later is
            // refused here, while nothing is applied yet.
            if !matches!(write, Write::Put { .. } | Write::Delete { .. }) {
                return Err(StoreError::InvalidBatch(BatchError::UnknownWrite));
            }
            let current = records.map.get(write.key()).map(|(v, _)| *v);
            if !write.holds(current) {
                return Err(StoreError::Conflict {
                    key: write.key().clone(),
                });
            }
        }
        records.revision += 1;
        let version = Version::new(records.revision).expect("a revision after an increment is > 0");
        for write in writes {
            match write {
                Write::Put { key, body, .. } => {
                    records.map.insert(key, (version, Bytes::from(body)));
                }
                Write::Delete { key, .. } => {
                    records.map.remove(&key);
                }
                _ => unreachable!("refused before anything was applied"),
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
