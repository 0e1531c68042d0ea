//! Master-key rotation, per-user key rotation and rewrap.
//!
//! See [`Vault::rewrap`] for the rotation procedure and the nonce limits.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent, AuditSubject};
use crate::crypto::{Binding, Crypto, CryptoError, KeyId, UserKeys};
use crate::records::{self, Body, StoredValue, user_keys_key};
use crate::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use crate::{Error, Result, UserId};

use super::{Attempt, Plan, Vault, binding, retrying, transact};

/// How [`Vault::rewrap`] works through the records.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RewrapOptions {
    /// Records re-sealed per commit (default 100).
    pub batch_size: usize,
}

impl Default for RewrapOptions {
    fn default() -> Self {
        Self { batch_size: 100 }
    }
}

impl RewrapOptions {
    /// Sets the batch size (at least 1).
    pub fn with_batch_size(mut self, records: usize) -> Self {
        self.batch_size = records.max(1);
        self
    }
}

/// Where a rewrap is: records looked at so far out of the total, for a
/// progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RewrapProgress {
    /// Records looked at.
    pub done: u64,
    /// Records to look at.
    pub total: u64,
}

/// What a rewrap did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Users looked at.
    pub users: u64,
    /// Records looked at.
    pub records: u64,
    /// Records rewritten: re-sealed under the primary key and the user's
    /// current generation, or upgraded to the current record format
    /// (`docs/FORMAT.md` §6.7). The others were already both.
    pub rewrapped: u64,
    /// Agents given the owner index entry that agents created before 0.2.0
    /// lack ([`Vault::agent_owner`], `docs/FORMAT.md` §6.13).
    pub agents_indexed: u64,
}

/// A rewrap's event, with its totals.
fn rewrap_event(user: &UserId, report: &RewrapReport) -> AuditEvent {
    AuditEvent::done(user, AuditAction::Rewrapped, Vec::new())
        .detail("users", report.users)
        .detail("records", report.records)
        .detail("rewrapped", report.rewrapped)
        .detail("agents_indexed", report.agents_indexed)
}

const SEALED_KINDS: [RecordKind; 3] = [RecordKind::Item, RecordKind::Connection, RecordKind::Agent];

/// Every kind of record a user has, for rewrap: the sealed ones, and those
/// it only upgrades to the current format. The user's key record comes
/// first, so a rewrap that stops half-way has upgraded it already.
const USER_KINDS: [RecordKind; 5] = [
    RecordKind::UserKeys,
    RecordKind::Name,
    RecordKind::Item,
    RecordKind::Connection,
    RecordKind::Agent,
];

impl<S: Store> Vault<S> {
    /// How many sealed records each master key holds, across all users.
    pub async fn key_usage(&self) -> Result<BTreeMap<KeyId, u64>> {
        let mut usage = BTreeMap::new();
        for user in self.users().await? {
            for kind in SEALED_KINDS {
                for record in self.store.list(&user, kind).await? {
                    let Some(body) = Body::read(&record)? else {
                        continue;
                    };
                    // A record counts once per key it holds a value under
                    // (an item's history may span keys).
                    let mut keys = std::collections::BTreeSet::new();
                    // A value whose header does not even parse is under no
                    // key: it can't hold a key in use.
                    for sealed in body.sealed_all() {
                        if let Ok((key, _)) = Crypto::header_of(sealed) {
                            keys.insert(key);
                        }
                    }
                    for key in keys {
                        *usage.entry(key).or_insert(0) += 1;
                    }
                }
            }
        }
        Ok(usage)
    }

    /// Removes a master key from this vault's keyring. Refused with
    /// [`Error::KeyInUse`] (409) while any record is sealed under it, and
    /// for the primary key ([`Error::Keyring`]). Other replicas must drop
    /// the key from their configuration too.
    pub async fn retire_key(&self, id: KeyId) -> Result<()> {
        self.check_keyring().await?;
        retrying!(self, async {
            // Retire from a copy first, so the primary or an unknown id is
            // refused before the (whole-vault) usage scan.
            let snapshot = self.crypto();
            let mut keyring = snapshot.keyring().clone();
            keyring.retire(id)?;
            let records = self.key_usage().await?.get(&id).copied().unwrap_or(0);
            if records > 0 {
                let refused = Err(Error::KeyInUse { key: id, records });
                return self
                    .audit_refusal(refused, || {
                        let subject = AuditSubject::Key { id };
                        AuditEvent::done(&UserId::vault(), AuditAction::KeyRetired, vec![subject])
                    })
                    .await;
            }
            // Installed only over the keyring the scan started from: a key
            // added or promoted meanwhile must not be undone by a stale
            // copy. Otherwise start over from the new keyring.
            if !self.replace_keyring_if(&snapshot, keyring) {
                return Ok(Attempt::Again);
            }
            let subject = AuditSubject::Key { id };
            let event = AuditEvent::done(&UserId::vault(), AuditAction::KeyRetired, vec![subject]);
            self.record_event(event).await.map(Attempt::Done)
        })
    }

    /// Makes master key `id`, already in the keyring, the primary one on
    /// this vault: new seals use it (see [`Vault::rewrap`] for the whole
    /// rotation). Like [`Vault::set_keyring`], it changes this vault only;
    /// every replica must be given the same keyring. Audited as
    /// [`AuditAction::KeyPromoted`].
    pub async fn promote_key(&self, id: KeyId) -> Result<()> {
        retrying!(self, async {
            let snapshot = self.crypto();
            let mut keyring = snapshot.keyring().clone();
            keyring.promote(id)?;
            if !self.replace_keyring_if(&snapshot, keyring) {
                return Ok(Attempt::Again);
            }
            self.check_keyring().await?;
            let subject = AuditSubject::Key { id };
            let event = AuditEvent::done(&UserId::vault(), AuditAction::KeyPromoted, vec![subject]);
            self.record_event(event).await.map(Attempt::Done)
        })
    }

    /// Starts a new key generation for `user` (a fresh random salt): new
    /// seals use it at once, older records keep opening under their own
    /// generation until [`Vault::rewrap_user`] moves them. Returns the new
    /// generation.
    pub async fn rotate_user_key(&self, user: &UserId) -> Result<u32> {
        user.check_acting()?;
        self.require_keyring()?;
        let key = user_keys_key(user);
        let result = transact!(self, async {
            let (keys, expect) = match self.store.get(&key).await? {
                Some(record) => {
                    let mut keys = records::read_user_keys(&record)?;
                    keys.rotate()?;
                    (keys, Expect::Version(record.version))
                }
                None => (UserKeys::generate(), Expect::Absent),
            };
            let write = records::write_user_keys(key.clone(), expect, &keys);
            let event = AuditEvent::done(user, AuditAction::UserKeyRotated, Vec::new())
                .detail("generation", u64::from(keys.current_generation()));
            Ok(Plan::new(vec![write], keys.current_generation()).audited(event))
        });
        self.audit_refusal(result, || {
            AuditEvent::done(user, AuditAction::UserKeyRotated, Vec::new())
        })
        .await
    }

    /// Re-seals every record of every user under the primary master key and
    /// each user's current generation, and rewrites every record stored in
    /// an older format in the current one (`docs/FORMAT.md` §6.7). Online (ordinary calls go on; a
    /// record changed meanwhile is re-read and retried), resumable
    /// (idempotent: a rerun skips what is done) and reporting progress after
    /// each batch.
    ///
    /// # Rotating a master key, with several replicas
    ///
    /// 1. **Add.** Generate a key (`MasterKey::generate`, or `agent-vault keys
    ///    add`) and give it to every replica with a new id, *not* primary; roll
    ///    the replicas. Every replica can now open records sealed under it.
    /// 2. **Promote.** Make the new key primary on every replica and roll them.
    ///    New seals use it; records sealed under the old key still open. During
    ///    the roll some replicas still seal under the old key: that is fine.
    /// 3. **Rewrap.** Once every replica runs with the new primary, run
    ///    [`Vault::rewrap`] from one place (a replica, a job, `agent-vault keys
    ///    rewrap`). It re-seals every record under the primary in batches while
    ///    traffic goes on; it is resumable: stop it anywhere and every record
    ///    still opens under the old or the new key, and a rerun finishes the job.
    /// 4. **Retire.** [`Vault::key_usage`] shows no record under the old key;
    ///    remove it from every replica ([`Vault::retire_key`] refuses while a
    ///    record still uses it). A record sealed under a key that is no longer in
    ///    the ring fails with [`Error::UnknownKey`](crate::Error::UnknownKey)
    ///    naming the key id, never with garbage.
    ///
    /// # Nonce limits
    ///
    /// Random 96-bit nonces keep AES-GCM safe for 2^32 seals per key. Here every
    /// key is per user and per generation (`docs/FORMAT.md` §2, §5), so the bound
    /// applies to one user's writes: a user would need four billion writes
    /// before one key nears it, and [`Vault::rotate_user_key`] starts a fresh
    /// key for that user whenever wanted. No master key is ever used to seal
    /// directly.
    pub async fn rewrap(
        &self,
        options: &RewrapOptions,
        progress: &mut (dyn FnMut(RewrapProgress) + Send),
    ) -> Result<RewrapReport> {
        self.require_keyring()?;
        let users = self.users().await?;
        let mut total = 0u64;
        for user in &users {
            total += self.count_sealable(user).await?;
        }
        let mut state = RewrapProgress { done: 0, total };
        progress(state);
        let mut report = RewrapReport::default();
        self.upgrade_vault_records(&mut report).await?;
        for user in &users {
            self.rewrap_one(user, options, &mut state, &mut report, progress)
                .await?;
            report.agents_indexed += self.index_missing_owners(user).await?;
        }
        self.record_event(rewrap_event(&UserId::vault(), &report))
            .await?;
        Ok(report)
    }

    /// Rewrites the vault's own records (key check values) stored in an
    /// older format. Nothing in them is sealed.
    async fn upgrade_vault_records(&self, report: &mut RewrapReport) -> Result<()> {
        retrying!(self, async {
            let mut writes = Vec::new();
            for record in self
                .store
                .list(&UserId::vault(), RecordKind::KeyCheck)
                .await?
            {
                if !records::is_current(&record.body) {
                    writes.push(Write::Put {
                        body: records::reencode(&record)?,
                        key: record.key,
                        expect: Expect::Version(record.version),
                    });
                }
            }
            match self.commit_in_parts(&UserId::vault(), writes, report).await {
                Ok(()) => Ok(Attempt::Done(())),
                // Another rewrap got there first: look again.
                Err(StoreError::Conflict { .. }) => Ok(Attempt::Again),
                Err(other) => Err(other.into()),
            }
        })
    }

    /// [`Vault::rewrap`] for one user, for example after
    /// [`Vault::rotate_user_key`].
    pub async fn rewrap_user(
        &self,
        user: &UserId,
        options: &RewrapOptions,
        progress: &mut (dyn FnMut(RewrapProgress) + Send),
    ) -> Result<RewrapReport> {
        user.check_acting()?;
        self.require_keyring()?;
        let total = self.count_sealable(user).await?;
        let mut state = RewrapProgress { done: 0, total };
        progress(state);
        let mut report = RewrapReport::default();
        self.rewrap_one(user, options, &mut state, &mut report, progress)
            .await?;
        report.agents_indexed += self.index_missing_owners(user).await?;
        self.record_event(rewrap_event(user, &report)).await?;
        Ok(report)
    }

    async fn count_sealable(&self, user: &UserId) -> Result<u64> {
        let mut count = 0;
        for kind in USER_KINDS {
            count += self.store.list(user, kind).await?.len() as u64;
        }
        Ok(count)
    }

    async fn rewrap_one(
        &self,
        user: &UserId,
        options: &RewrapOptions,
        state: &mut RewrapProgress,
        report: &mut RewrapReport,
        progress: &mut (dyn FnMut(RewrapProgress) + Send),
    ) -> Result<()> {
        report.users += 1;
        // A user without key material has nothing sealed, but may still
        // have records to upgrade (0.1.0 wrote no key record for a user with
        // variables only).
        let mut keys = self.user_keys(user).await?;
        let crypto = self.checked_crypto().await?;
        let primary = crypto.keyring().primary_id().ok_or(Error::NotConfigured)?;
        // Never more writes per commit than the store takes (one kept for
        // the audit event, when there is one).
        let reserve = usize::from(self.config.audit_log);
        let max_writes = self
            .store
            .limits()
            .max_writes
            .saturating_sub(reserve)
            .max(1);
        let batch_size = options.batch_size.min(max_writes);
        for kind in USER_KINDS {
            let listed = self.store.list(user, kind).await?;
            for chunk in listed.chunks(batch_size) {
                let keys_in_chunk: Vec<RecordKey> = chunk.iter().map(|r| r.key.clone()).collect();
                let mut current: Vec<Record> = chunk.to_vec();
                retrying!(self, async {
                    let history_len = self.config.history_len;
                    let found = rewrap_writes(
                        &crypto,
                        user,
                        keys.as_ref(),
                        primary,
                        history_len,
                        &current,
                    )?;
                    let writes = match found {
                        Ok(writes) => writes,
                        // A record names a generation newer than the keys
                        // read: the user's key was rotated meanwhile. Read
                        // the keys again and redo the chunk.
                        Err(CryptoError::UnknownGeneration(_)) => {
                            keys = self.user_keys(user).await?;
                            return Ok(Attempt::Again);
                        }
                        Err(other) => return Err(other.into()),
                    };
                    if writes.is_empty() {
                        return Ok(Attempt::Done(()));
                    }
                    match self.commit_in_parts(user, writes, report).await {
                        Ok(()) => Ok(Attempt::Done(())),
                        Err(StoreError::Conflict { .. }) => {
                            // Something changed under us: re-read the chunk
                            // (deleted records drop out) and the user's keys
                            // (a rotation moves the target generation), and
                            // redo it.
                            current = self
                                .store
                                .get_many(&keys_in_chunk)
                                .await?
                                .into_iter()
                                .flatten()
                                .collect();
                            keys = self.user_keys(user).await?;
                            Ok(Attempt::Again)
                        }
                        Err(other) => Err(other.into()),
                    }
                })?;
                report.records += chunk.len() as u64;
                state.done += chunk.len() as u64;
                progress(*state);
            }
        }
        Ok(())
    }

    /// Commits rewrap writes (each stands alone: its record's version is its
    /// only condition), split into as few commits as the store's limits
    /// allow; counts what was re-sealed. With the store-backed audit log,
    /// each commit carries its own `Rewrapped` event for `user`, so no
    /// record is rewritten without one.
    async fn commit_in_parts(
        &self,
        user: &UserId,
        writes: Vec<Write>,
        report: &mut RewrapReport,
    ) -> std::result::Result<(), StoreError> {
        let limits = self.store.limits();
        // Room for the event, when there is one.
        let reserve = if self.config.audit_log { 1024 } else { 0 };
        let budget = limits.max_batch_len.saturating_sub(reserve);
        let mut parts: Vec<Vec<Write>> = vec![Vec::new()];
        let mut bytes = 0usize;
        for write in writes {
            let len = match &write {
                Write::Put { body, .. } => body.len(),
                Write::Delete { .. } => 0,
            };
            if parts.last().is_some_and(|p| !p.is_empty()) && bytes.saturating_add(len) > budget {
                parts.push(Vec::new());
                bytes = 0;
            }
            bytes = bytes.saturating_add(len);
            if let Some(part) = parts.last_mut() {
                part.push(write);
            }
        }
        for mut part in parts.into_iter().filter(|p| !p.is_empty()) {
            let count = part.len() as u64;
            let event = AuditEvent::done(user, AuditAction::Rewrapped, Vec::new())
                .detail("rewritten", count);
            if self.config.audit_log {
                part.push(super::audit_write(&event));
            }
            self.store.commit(part).await?;
            self.emit(Some(&event));
            report.rewrapped += count;
        }
        Ok(())
    }

    /// Every user with records, without the vault's reserved ids (whose
    /// records hold nothing sealed).
    async fn users(&self) -> Result<Vec<UserId>> {
        let mut users = self.store.users().await?;
        users.retain(|user| !user.is_reserved());
        Ok(users)
    }

    /// The user's key material, if any.
    async fn user_keys(&self, user: &UserId) -> Result<Option<UserKeys>> {
        match self.store.get(&user_keys_key(user)).await? {
            Some(record) => Ok(Some(records::read_user_keys(&record)?)),
            None => Ok(None),
        }
    }
}

/// The writes that re-seal every record of `records` not yet under
/// `primary` and the user's current generation, trim histories to
/// `history_len`, and rewrite every record not yet in the current format.
/// The inner error is the crypto layer's, so a caller can tell an unknown
/// generation (re-read the keys) from the rest; the outer one is a corrupt
/// record.
fn rewrap_writes(
    crypto: &Crypto,
    user: &UserId,
    keys: Option<&UserKeys>,
    primary: KeyId,
    history_len: usize,
    records: &[Record],
) -> Result<std::result::Result<Vec<Write>, CryptoError>> {
    let mut writes = Vec::new();
    for record in records {
        let outdated = !records::is_current(&record.body);
        let rewritten = match Body::read(record)? {
            // Nothing sealed (a name index entry, the user's keys): only
            // upgraded.
            None if outdated => Some(records::reencode(record)?),
            None => None,
            Some(mut body) => {
                let trimmed = trim_history(&mut body, history_len);
                let resealed = match keys {
                    Some(keys) => {
                        let target = (primary, keys.current_generation());
                        reseal(crypto, user, keys, target, &mut body, &record.key)
                    }
                    // Sealed values without the user's salts can't open.
                    None if !body.sealed_all().is_empty() => Err(CryptoError::DecryptionFailed),
                    None => Ok(false),
                };
                match resealed {
                    Ok(resealed) => (resealed || trimmed || outdated).then(|| body.encode()),
                    Err(error) => return Ok(Err(error)),
                }
            }
        };
        if let Some(body) = rewritten {
            writes.push(Write::Put {
                key: record.key.clone(),
                expect: Expect::Version(record.version),
                body,
            });
        }
    }
    Ok(Ok(writes))
}

/// Drops an item's earlier values beyond `history_len` (the configuration
/// may have been lowered since they were kept); whether it dropped any.
fn trim_history(body: &mut Body, history_len: usize) -> bool {
    match body {
        Body::Item(item) if item.history.len() > history_len => {
            item.history.truncate(history_len);
            true
        }
        _ => false,
    }
}

/// Re-seals every sealed value of `body` (an item's earlier values too)
/// that is not under `target` (key id, generation) already; whether it
/// changed anything. A variable has nothing sealed. An earlier value that
/// does not open (damaged) is dropped rather than failing the whole rewrap:
/// nothing could restore it, and it must not keep an old key in use.
fn reseal(
    crypto: &Crypto,
    user: &UserId,
    keys: &UserKeys,
    target: (KeyId, u32),
    body: &mut Body,
    key: &RecordKey,
) -> std::result::Result<bool, CryptoError> {
    let one = |binding: &Binding<'_>, sealed: &mut Vec<u8>| {
        if Crypto::header_of(sealed)? == target {
            return Ok(false);
        }
        let plain = crypto.open(keys, binding, sealed)?;
        *sealed = crypto.seal(keys, binding, &plain)?;
        Ok::<_, CryptoError>(true)
    };
    Ok(match body {
        Body::Agent(agent) => one(&binding::token(user, &key.id), &mut agent.token)?,
        Body::Connection(connection) => {
            one(&binding::connection(user, &key.id), &mut connection.sealed)?
        }
        Body::Item(item) => {
            let StoredValue::Sealed(sealed) = &mut item.value else {
                return Ok(false);
            };
            let name = item.name.as_str();
            let mut changed = one(&binding::item(user, &key.id, name), sealed)?;
            let mut kept = Vec::with_capacity(item.history.len());
            for mut past in std::mem::take(&mut item.history) {
                let record = binding::past_item_record(&key.id, past.revision);
                match one(&binding::past_item(user, &record, name), &mut past.value) {
                    Ok(resealed) => {
                        changed |= resealed;
                        kept.push(past);
                    }
                    Err(CryptoError::DecryptionFailed) => changed = true,
                    // An unknown generation means stale keys: the caller
                    // re-reads them and redoes the chunk.
                    Err(other) => return Err(other),
                }
            }
            item.history = kept;
            changed
        }
    })
}
