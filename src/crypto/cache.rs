//! A bounded cache of derived per-user ciphers, so a hot path does no HKDF.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use aes_gcm::Aes256Gcm;

use super::{KeyId, SALT_LEN};
use crate::UserId;

/// How many derived ciphers a [`Crypto`](super::Crypto) keeps by default
/// (about 1 KiB each).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

type Slot = (KeyId, [u8; SALT_LEN]);

/// Keyed by master key id and salt: the salt is random per user and
/// generation, so it identifies the derived key; the user id is kept in the
/// entry and compared too, because the key also depends on it.
///
/// Eviction is first-in first-out: simple, and the working set of a vault is
/// its active users, which a FIFO of this size holds. An evicted cipher is
/// dropped when its last user releases it, and `aes`/`ghash` (features
/// `zeroize`) wipe the key schedule on drop.
pub(crate) struct CipherCache {
    capacity: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Slot, (UserId, Arc<Aes256Gcm>)>,
    order: VecDeque<Slot>,
}

impl CipherCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: RwLock::new(Inner::default()),
        }
    }

    pub fn get(
        &self,
        key_id: KeyId,
        salt: &[u8; SALT_LEN],
        user: &UserId,
    ) -> Option<Arc<Aes256Gcm>> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // map is still a valid cache, so keep using it.
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match inner.entries.get(&(key_id, *salt)) {
            Some((owner, cipher)) if owner == user => Some(Arc::clone(cipher)),
            _ => None,
        }
    }

    pub fn insert(
        &self,
        key_id: KeyId,
        salt: [u8; SALT_LEN],
        user: &UserId,
        cipher: Arc<Aes256Gcm>,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let slot = (key_id, salt);
        if inner.entries.insert(slot, (user.clone(), cipher)).is_none() {
            inner.order.push_back(slot);
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
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use aes_gcm::KeyInit as _;

    use super::*;

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let cache = CipherCache::new(2);
        let user = UserId::parse("u").unwrap();
        let cipher = Arc::new(Aes256Gcm::new(&[7u8; 32].into()));
        for salt in 0u8..3 {
            cache.insert(KeyId(1), [salt; 32], &user, Arc::clone(&cipher));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(KeyId(1), &[0; 32], &user).is_none());
        assert!(cache.get(KeyId(1), &[2; 32], &user).is_some());
        let other = UserId::parse("v").unwrap();
        assert!(cache.get(KeyId(1), &[2; 32], &other).is_none());
    }
}
