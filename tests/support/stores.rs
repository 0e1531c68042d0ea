//! Store wrappers for the stress tests: one that makes tasks interleave at
//! every store call, and one that is deliberately broken.

use agent_vault::UserId;
use agent_vault::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use async_trait::async_trait;

/// Yields to the runtime before every call, so that concurrent vault calls
/// on an in-process store interleave between their reads and their commit
/// (as they would on a networked database).
#[derive(Clone, Debug)]
pub struct Interleaved<S>(pub S);

#[async_trait]
impl<S: Store> Store for Interleaved<S> {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.0.list(user, kind).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.commit(writes).await
    }
}

/// A broken store: it ignores the version a write expects, rewriting every
/// `Expect::Version(_)` (and every delete's version) to whatever version is
/// current just before committing. Creates stay exclusive. The checker must
/// catch the lost updates and dangling attachments this lets through.
#[derive(Clone, Debug)]
pub struct BrokenStore<S>(pub S);

#[async_trait]
impl<S: Store> Store for BrokenStore<S> {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        tokio::task::yield_now().await;
        self.0.list(user, kind).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        let mut rewritten = Vec::with_capacity(writes.len());
        for write in writes {
            let current = self.0.get(write.key()).await?.map(|r| r.version);
            rewritten.push(match (write, current) {
                (
                    Write::Put {
                        key,
                        expect: Expect::Version(_),
                        body,
                    },
                    Some(version),
                ) => Write::Put {
                    key,
                    expect: Expect::Version(version),
                    body,
                },
                (Write::Delete { key, .. }, Some(version)) => Write::Delete {
                    key,
                    expect: version,
                },
                (write, _) => write,
            });
        }
        self.0.commit(rewritten).await
    }
}
