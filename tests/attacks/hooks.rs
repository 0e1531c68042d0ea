//! A store wrapper that stages races: an armed hook (another caller's work)
//! runs inside the next `commit` or `users` call, between the attacked
//! call's reads and its commit, or at the start of a whole-vault scan.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use agent_vault::UserId;
use agent_vault::store::{Record, RecordKey, RecordKind, Store, StoreError, Write};

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct HookStore<S> {
    inner: S,
    on_commit: Mutex<Option<Hook>>,
    on_users: Mutex<Option<Hook>>,
}

impl<S> HookStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            on_commit: Mutex::new(None),
            on_users: Mutex::new(None),
        }
    }

    /// Runs `hook` right before the next commit is forwarded.
    pub fn arm_commit(&self, hook: impl Future<Output = ()> + Send + 'static) {
        *self.on_commit.lock().unwrap() = Some(Box::pin(hook));
    }

    /// Runs `hook` at the next `users` call (a whole-vault scan starts).
    pub fn arm_users(&self, hook: impl Future<Output = ()> + Send + 'static) {
        *self.on_users.lock().unwrap() = Some(Box::pin(hook));
    }

    /// Whether every armed hook has run (the race was staged).
    pub fn fired(&self) -> bool {
        self.on_commit.lock().unwrap().is_none() && self.on_users.lock().unwrap().is_none()
    }
}

#[agent_vault::async_trait]
impl<S: Store> Store for HookStore<S> {
    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.inner.list(user, kind).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let hook = self.on_commit.lock().unwrap().take();
        if let Some(hook) = hook {
            hook.await;
        }
        self.inner.commit(writes).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        let hook = self.on_users.lock().unwrap().take();
        if let Some(hook) = hook {
            hook.await;
        }
        self.inner.users().await
    }
}
