//! A bounded cache of opened gateway tokens, so that checking a presented
//! token on every request to an agent's host costs a constant-time compare,
//! not an AES-GCM open and a second store read.
//!
//! # Why a rotated token fails at once, on every replica
//!
//! An entry is keyed by the agent and holds the exact sealed envelope it was
//! opened from, plus the opened token. A check
//! still reads the agent's record from the store on every call and hits only
//! if the record holds that very envelope, for the same user. Rotating a
//! token seals the new one under a fresh random nonce, so the record holds
//! other bytes: the next check on any vault that shares the store misses,
//! opens the new envelope and compares with the new token. Nothing needs to
//! be told about the rotation; there is no time to live.
//!
//! The cache belongs to one [`Crypto`](super::Crypto) snapshot, so a new
//! keyring starts with an empty one, and only envelopes that opened under
//! this snapshot's keys are ever entered.
//!
//! # What it holds
//!
//! The opened tokens, in buffers wiped when an entry is replaced, evicted
//! or dropped with its snapshot. That is no more than the snapshot already
//! holds: its cipher cache keeps the derived keys that open every one of
//! these envelopes. A keyed hash of each token instead was measured: two
//! SHA-256 compressions per check cost more than the rest of a check.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::cache::SlotHasherBuilder;
use crate::{AgentId, UserId};

/// The most agents' opened gateway tokens a vault remembers: its cipher
/// cache capacity
/// ([`VaultConfig::cipher_cache_capacity`](crate::VaultConfig::cipher_cache_capacity)),
/// up to this (so a capacity of 0 turns both caches off). Evicted tokens are
/// opened again on their next check.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;

pub(crate) struct TokenCache {
    capacity: usize,
    inner: RwLock<Inner>,
}

struct Inner {
    entries: HashMap<AgentId, Entry, SlotHasherBuilder>,
    order: VecDeque<AgentId>,
}

struct Entry {
    user: UserId,
    /// The sealed envelope the token was opened from (public bytes, as
    /// stored).
    sealed: Vec<u8>,
    token: Zeroizing<Vec<u8>>,
}

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: RwLock::new(Inner {
                entries: HashMap::with_hasher(SlotHasherBuilder::random()),
                order: VecDeque::new(),
            }),
        }
    }

    /// Whether `presented` is the token sealed in `sealed` for `user`'s
    /// `agent`, compared in constant time; `None` if this envelope was not
    /// opened here (or was evicted): the caller opens it and calls
    /// [`TokenCache::insert`].
    pub(crate) fn check(
        &self,
        user: &UserId,
        agent: AgentId,
        sealed: &[u8],
        presented: &str,
    ) -> Option<bool> {
        // A poisoned lock only means another thread panicked mid-insert;
        // the map is still a valid cache.
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entries.get(&agent)?;
        // The envelope is public (it is what the store holds), so comparing
        // it in variable time reveals nothing; the token is compared in
        // constant time (for equal lengths; every token has the same).
        if entry.user != *user || entry.sealed != sealed {
            return None;
        }
        Some(constant_time_eq(&entry.token, presented.as_bytes()))
    }

    /// Remembers that `sealed`, `user`'s `agent`'s envelope, opened to
    /// `token`; replaces what was remembered for the agent.
    pub(crate) fn insert(&self, user: &UserId, agent: AgentId, sealed: &[u8], token: &str) {
        if self.capacity == 0 {
            return;
        }
        let entry = Entry {
            user: user.clone(),
            sealed: sealed.to_vec(),
            token: Zeroizing::new(token.as_bytes().to_vec()),
        };
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.entries.insert(agent, entry).is_none() {
            inner.order.push_back(agent);
        }
        while inner.entries.len() > self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

/// Whether `a == b`, in time that depends on the lengths only: the XOR of
/// every 8-byte word is OR-ed into one accumulator without a branch, and
/// only that is compared (with `subtle`). `subtle`'s own slice comparison
/// does the same a byte at a time behind an optimisation barrier per byte,
/// which cost more than the rest of a cached token check.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u64;
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in a_words.remainder().iter().zip(b_words.remainder()) {
        diff |= u64::from(x ^ y);
    }
    for (x, y) in a_words.zip(b_words) {
        let mut xw = [0u8; 8];
        let mut yw = [0u8; 8];
        xw.copy_from_slice(x);
        yw.copy_from_slice(y);
        diff |= u64::from_ne_bytes(xw) ^ u64::from_ne_bytes(yw);
    }
    std::hint::black_box(diff).ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: u128) -> AgentId {
        AgentId::from(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn hits_only_the_same_user_agent_and_envelope() {
        let cache = TokenCache::new(10);
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        cache.insert(&alice, agent(1), b"sealed-1", "avgt_one");
        assert_eq!(
            cache.check(&alice, agent(1), b"sealed-1", "avgt_one"),
            Some(true)
        );
        assert_eq!(
            cache.check(&alice, agent(1), b"sealed-1", "avgt_two"),
            Some(false)
        );
        assert_eq!(cache.check(&alice, agent(1), b"sealed-1", ""), Some(false));
        // Another envelope (a rotated token), user or agent: not known here.
        assert_eq!(cache.check(&alice, agent(1), b"sealed-2", "avgt_one"), None);
        assert_eq!(cache.check(&bob, agent(1), b"sealed-1", "avgt_one"), None);
        assert_eq!(cache.check(&alice, agent(2), b"sealed-1", "avgt_one"), None);
        // A new envelope for the agent replaces the old one.
        cache.insert(&alice, agent(1), b"sealed-2", "avgt_two");
        assert_eq!(cache.check(&alice, agent(1), b"sealed-1", "avgt_one"), None);
        assert_eq!(
            cache.check(&alice, agent(1), b"sealed-2", "avgt_two"),
            Some(true)
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn stays_within_its_capacity_evicting_the_oldest() {
        let cache = TokenCache::new(3);
        let user = UserId::parse("u").unwrap();
        for n in 0..10 {
            cache.insert(&user, agent(n), b"sealed", "avgt_x");
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.check(&user, agent(6), b"sealed", "avgt_x"), None);
        assert_eq!(
            cache.check(&user, agent(9), b"sealed", "avgt_x"),
            Some(true)
        );

        let off = TokenCache::new(0);
        off.insert(&user, agent(1), b"sealed", "avgt_x");
        assert_eq!(off.len(), 0);
        assert_eq!(off.check(&user, agent(1), b"sealed", "avgt_x"), None);
    }

    #[test]
    fn constant_time_eq_finds_every_difference() {
        let base: Vec<u8> = (0u8..55).collect();
        assert!(constant_time_eq(&base, &base.clone()));
        assert!(constant_time_eq(b"", b""));
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut other = base.clone();
                other[i] ^= 1 << bit;
                assert!(!constant_time_eq(&base, &other), "byte {i} bit {bit}");
            }
        }
        assert!(!constant_time_eq(&base, &base[..54]));
        assert!(!constant_time_eq(&base[..54], &base));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn a_replaced_entry_no_longer_accepts_its_token() {
        let cache = TokenCache::new(4);
        let user = UserId::parse("u").unwrap();
        cache.insert(&user, agent(1), b"old", "avgt_old");
        cache.insert(&user, agent(1), b"new", "avgt_new");
        assert_eq!(
            cache.check(&user, agent(1), b"new", "avgt_old"),
            Some(false)
        );
        assert_eq!(cache.check(&user, agent(1), b"old", "avgt_old"), None);
        assert_eq!(cache.len(), 1);
    }
}
