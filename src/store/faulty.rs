//! [`FaultyStore`]: a wrapper that makes any store fail on purpose.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::{Record, RecordKey, RecordKind, Store, StoreError, Write};
use crate::UserId;

/// How often a [`FaultyStore`] fails, and the seed that makes it repeatable.
///
/// Each share is a probability between 0 and 1 (values outside are clamped)
/// drawn independently per call.
///
/// ```
/// use agent_vault::store::FaultPlan;
/// // 5% of all calls fail; commits fail half before, half after applying.
/// let plan = FaultPlan::uniform(0.05, 42);
/// assert_eq!(plan.read_rate, 0.05);
/// assert_eq!(plan.commit_before_rate + plan.commit_after_rate, 0.05);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct FaultPlan {
    /// Share of `get`, `get_many` and `list` calls that fail.
    pub read_rate: f64,
    /// Share of `commit` calls that fail *before* reaching the inner store:
    /// nothing was applied, the caller sees [`StoreError::Backend`].
    pub commit_before_rate: f64,
    /// Share of `commit` calls that are applied by the inner store and then
    /// reported as [`StoreError::Backend`]: the ambiguous case (the caller
    /// cannot tell it from a failure before applying). Only commits that
    /// succeeded are turned into such faults; a conflict stays a conflict.
    pub commit_after_rate: f64,
    /// The seed of the fault sequence.
    pub seed: u64,
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> Self {
        Self {
            read_rate: 0.0,
            commit_before_rate: 0.0,
            commit_after_rate: 0.0,
            seed: 0,
        }
    }

    /// `rate` of reads fail, and `rate` of commits fail, split evenly
    /// between before and after applying.
    pub fn uniform(rate: f64, seed: u64) -> Self {
        Self {
            read_rate: rate,
            commit_before_rate: rate / 2.0,
            commit_after_rate: rate / 2.0,
            seed,
        }
    }

    /// Sets [`FaultPlan::read_rate`].
    pub fn with_read_rate(mut self, rate: f64) -> Self {
        self.read_rate = rate;
        self
    }

    /// Sets [`FaultPlan::commit_before_rate`].
    pub fn with_commit_before_rate(mut self, rate: f64) -> Self {
        self.commit_before_rate = rate;
        self
    }

    /// Sets [`FaultPlan::commit_after_rate`].
    pub fn with_commit_after_rate(mut self, rate: f64) -> Self {
        self.commit_after_rate = rate;
        self
    }

    /// Sets [`FaultPlan::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self::none()
    }
}

/// How many faults a [`FaultyStore`] has injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Failed reads (`get`, `get_many`, `list`).
    pub reads: u64,
    /// Commits failed before applying (nothing changed).
    pub before_commit: u64,
    /// Commits applied, then reported as failed (the ambiguous case).
    pub after_commit: u64,
}

impl FaultCounts {
    /// All injected faults.
    pub fn total(&self) -> u64 {
        self.reads + self.before_commit + self.after_commit
    }
}

/// The error a [`FaultyStore`] injects, inside [`StoreError::Backend`].
#[derive(Debug)]
struct InjectedFault(&'static str);

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected fault ({})", self.0)
    }
}

impl std::error::Error for InjectedFault {}

/// A [`Store`] wrapper that fails a share of calls with
/// [`StoreError::Backend`], for chaos tests of the vault and of services
/// built on it.
///
/// Faults follow a [`FaultPlan`]: reads fail before reaching the inner
/// store; commits fail either **before** reaching it (nothing applied) or
/// **after** it applied the batch (the caller still sees an error: the
/// ambiguous case every networked database has, when a connection drops
/// between `COMMIT` and its acknowledgement). The sequence of faults is
/// drawn from a [`StdRng`] seeded by [`FaultPlan::seed`], so a
/// single-threaded run with the same calls fails the same way every time.
/// Faults can be paused ([`FaultyStore::set_enabled`]) to inspect the inner
/// state, and are counted ([`FaultyStore::counts`]).
///
/// # How the vault behaves on a fault
///
/// Every vault call that meets an injected fault returns
/// [`Error::Store`](crate::Error::Store), for which
/// [`Error::is_retryable`](crate::Error::is_retryable) is `true`. The
/// vault does not retry store faults itself (only version conflicts), so
/// the service decides. Because every change is one atomic conditional
/// commit, the records are then either exactly as before the call or
/// exactly as after it, never in between:
///
/// - a fault on a read or before the commit changed nothing;
/// - a fault after the commit (ambiguous) means the change happened.
///   Retrying the same call is safe and answers from the new state: a
///   retried `create_item` or `create_connection` answers
///   [`Error::AlreadyExists`](crate::Error::AlreadyExists), a retried
///   `delete_item` answers [`Error::NotFound`](crate::Error::NotFound), a
///   retried `import_dotenv` with [`OnConflict::Fail`](crate::OnConflict)
///   answers [`Error::ImportConflict`](crate::Error::ImportConflict) (use
///   `Overwrite` to retry: variables then report `Unchanged`, secrets are
///   updated again, since the vault never compares a stored secret), a
///   retried `attach` or `update_item` applies again harmlessly (an update bumps
///   the version once more), and a retried `create_agent` or
///   `rotate_gateway_token` makes a second agent or token (list the agents,
///   or read [`Vault::gateway_token`](crate::Vault::gateway_token), to find
///   out what the first attempt did).
///
/// ```
/// use agent_vault::crypto::{Keyring, MasterKey};
/// use agent_vault::store::{FaultPlan, FaultyStore, MemoryStore};
/// use agent_vault::{Kind, Name, SecretValue, UserId, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Every commit is applied and then reported as failed.
/// let plan = FaultPlan::none().with_commit_after_rate(1.0);
/// let vault = Vault::new(
///     FaultyStore::new(MemoryStore::new(), plan),
///     Keyring::single(MasterKey::generate()),
/// );
/// let user = UserId::parse("alice").unwrap();
/// let value = || SecretValue::parse("sk-1".into()).unwrap();
/// // A vault's first write stores its master key's check value: let that
/// // one through.
/// vault.store().set_enabled(false);
/// let warm_up = Name::parse("WARM_UP").unwrap();
/// vault.create_item(&user, &warm_up, Kind::Secret, value()).await.unwrap();
/// vault.store().set_enabled(true);
///
/// let name = Name::parse("API_KEY").unwrap();
/// let error = vault.create_item(&user, &name, Kind::Secret, value()).await.unwrap_err();
/// assert!(error.is_retryable());
/// assert_eq!(vault.store().counts().after_commit, 1);
///
/// // It did happen: the retry finds the name taken.
/// vault.store().set_enabled(false);
/// let again = vault.create_item(&user, &name, Kind::Secret, value()).await.unwrap_err();
/// assert!(matches!(again, agent_vault::Error::AlreadyExists { .. }));
/// # }
/// ```
pub struct FaultyStore<S> {
    inner: S,
    plan: FaultPlan,
    rng: Mutex<StdRng>,
    enabled: AtomicBool,
    reads: AtomicU64,
    before_commit: AtomicU64,
    after_commit: AtomicU64,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`, failing as `plan` says (enabled from the start).
    pub fn new(inner: S, plan: FaultPlan) -> Self {
        Self {
            inner,
            plan,
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            enabled: AtomicBool::new(true),
            reads: AtomicU64::new(0),
            before_commit: AtomicU64::new(0),
            after_commit: AtomicU64::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The plan.
    pub fn plan(&self) -> FaultPlan {
        self.plan
    }

    /// Pauses (`false`) or resumes (`true`) fault injection. While paused,
    /// every call goes straight to the inner store and no random number is
    /// drawn.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Whether faults are being injected.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// How many faults were injected so far.
    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            reads: self.reads.load(Ordering::SeqCst),
            before_commit: self.before_commit.load(Ordering::SeqCst),
            after_commit: self.after_commit.load(Ordering::SeqCst),
        }
    }

    /// Draws whether this call fails, with probability `rate`.
    fn strikes(&self, rate: f64) -> bool {
        if !self.is_enabled() || rate <= 0.0 {
            return false;
        }
        // A poisoned lock only means a panic elsewhere while drawing; the
        // generator is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.gen_bool(rate.min(1.0))
    }

    fn read_fault(&self) -> Result<(), StoreError> {
        if self.strikes(self.plan.read_rate) {
            self.reads.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::backend(InjectedFault("read")));
        }
        Ok(())
    }
}

impl<S> fmt::Debug for FaultyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("plan", &self.plan)
            .field("enabled", &self.enabled.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

// A forwarding impl must forward every method: a default method left out
// would run the default instead of the wrapped store's.
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> Store for FaultyStore<S> {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        self.read_fault()?;
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.read_fault()?;
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.read_fault()?;
        self.inner.list(user, kind).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.read_fault()?;
        self.inner.users().await
    }

    fn limits(&self) -> super::Limits {
        self.inner.limits()
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.strikes(self.plan.commit_before_rate) {
            self.before_commit.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::backend(InjectedFault("before commit")));
        }
        self.inner.commit(writes).await?;
        if self.strikes(self.plan.commit_after_rate) {
            self.after_commit.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::backend(InjectedFault("after commit")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Expect, MemoryStore};

    fn run(seed: u64) -> (FaultCounts, Vec<bool>) {
        let store = FaultyStore::new(MemoryStore::new(), FaultPlan::uniform(0.3, seed));
        let user = UserId::parse("u").unwrap();
        let mut outcomes = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 0..200 {
                let key = RecordKey::new(&user, RecordKind::Item, format!("{i}"));
                outcomes.push(store.get(&key).await.is_ok());
                let put = Write::Put {
                    key,
                    expect: Expect::Absent,
                    body: vec![1],
                };
                outcomes.push(store.commit(vec![put]).await.is_ok());
            }
        });
        (store.counts(), outcomes)
    }

    #[test]
    fn faults_are_repeatable_from_the_seed_and_counted() {
        let (counts, outcomes) = run(7);
        assert_eq!(run(7), (counts, outcomes.clone()));
        assert_ne!(run(8).1, outcomes);
        let failures = outcomes.iter().filter(|ok| !**ok).count() as u64;
        assert_eq!(counts.total(), failures);
        assert!(counts.reads > 0 && counts.before_commit > 0 && counts.after_commit > 0);
    }

    #[test]
    fn after_commit_faults_applied_the_batch_and_paused_faults_do_nothing() {
        let store = FaultyStore::new(
            MemoryStore::new(),
            FaultPlan::none().with_commit_after_rate(1.0),
        );
        let user = UserId::parse("u").unwrap();
        let key = RecordKey::new(&user, RecordKind::Item, "x");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let put = Write::Put {
                key: key.clone(),
                expect: Expect::Absent,
                body: vec![1],
            };
            assert!(matches!(
                store.commit(vec![put]).await,
                Err(StoreError::Backend(_))
            ));
            assert!(store.inner().get(&key).await.unwrap().is_some());
            store.set_enabled(false);
            assert!(store.get(&key).await.unwrap().is_some());
            assert_eq!(store.counts().after_commit, 1);
        });
    }
}
