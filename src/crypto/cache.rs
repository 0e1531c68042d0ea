//! A bounded cache of derived per-user ciphers, so a hot path does no HKDF.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};

use super::aead::Cipher;
use super::{KeyId, SALT_LEN};
use crate::UserId;

/// How many derived per-user ciphers a vault keeps by default (about 1 KiB
/// each): the default of
/// [`VaultConfig::cipher_cache_capacity`](crate::VaultConfig::cipher_cache_capacity).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

type Slot = (KeyId, [u8; SALT_LEN]);

/// Keyed by master key id and salt: the salt is random per user and
/// generation, so it identifies the derived key; the user id is kept in the
/// entry and compared too, because the key also depends on it.
///
/// Eviction is first-in first-out: simple, and the working set of a vault is
/// its active users, which a FIFO of this size holds. An evicted cipher is
/// dropped when its last user releases it; with the `aes-gcm` backend,
/// `aes`/`ghash` (features `zeroize`) wipe the key schedule on drop (see
/// [`Backend`](super::Backend) for the others).
pub(crate) struct CipherCache {
    capacity: usize,
    inner: RwLock<Inner>,
}

struct Inner {
    entries: HashMap<Slot, (UserId, Arc<Cipher>), SlotHasherBuilder>,
    order: VecDeque<Slot>,
}

/// Hashes cache slots. A slot is a key id and a 32-byte salt drawn from the
/// OS random source, so a cheap mix spreads slots well; SipHash, the
/// `HashMap` default, cost about as much as the rest of a cache hit. The mix
/// starts from a random key per cache, so someone who can write salts into
/// the store still cannot pick colliding ones offline (and a collision costs
/// only a longer probe, never a wrong cipher: slots are compared in full).
///
/// The token cache keys its entries by agent id (random UUIDs) with it too.
#[derive(Clone)]
pub(super) struct SlotHasherBuilder(u64);

impl SlotHasherBuilder {
    pub(super) fn random() -> Self {
        Self(rand::random())
    }
}

impl BuildHasher for SlotHasherBuilder {
    type Hasher = SlotHasher;

    fn build_hasher(&self) -> SlotHasher {
        SlotHasher(self.0)
    }
}

pub(super) struct SlotHasher(u64);

impl SlotHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

impl Hasher for SlotHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    /// The SplitMix64 finaliser, so every output bit depends on every input
    /// bit (the map uses both the low and the top bits).
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl CipherCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: RwLock::new(Inner {
                entries: HashMap::with_hasher(SlotHasherBuilder::random()),
                order: VecDeque::new(),
            }),
        }
    }

    /// Calls `f` with the cached cipher for this slot and user, holding the
    /// read lock (shared with every other reader) instead of cloning the
    /// `Arc`; on a miss, hands `f` back. `f` is one seal or open of a value
    /// (microseconds), so an insert after a miss waits at most that long.
    pub(super) fn with<R, F: FnOnce(&Cipher) -> R>(
        &self,
        key_id: KeyId,
        salt: &[u8; SALT_LEN],
        user: &UserId,
        f: F,
    ) -> Result<R, F> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // map is still a valid cache, so keep using it.
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match inner.entries.get(&(key_id, *salt)) {
            Some((owner, cipher)) if owner == user => Ok(f(cipher)),
            _ => Err(f),
        }
    }

    #[cfg(test)]
    pub(super) fn get(
        &self,
        key_id: KeyId,
        salt: &[u8; SALT_LEN],
        user: &UserId,
    ) -> Option<Arc<Cipher>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match inner.entries.get(&(key_id, *salt)) {
            Some((owner, cipher)) if owner == user => Some(Arc::clone(cipher)),
            _ => None,
        }
    }

    pub(super) fn insert(
        &self,
        key_id: KeyId,
        salt: [u8; SALT_LEN],
        user: &UserId,
        cipher: Arc<Cipher>,
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
    pub(super) fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Backend;

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let cache = CipherCache::new(2);
        let user = UserId::parse("u").unwrap();
        let cipher = Arc::new(Cipher::new(Backend::RustCrypto, &[7u8; 32]));
        for salt in 0u8..3 {
            cache.insert(KeyId(1), [salt; 32], &user, Arc::clone(&cipher));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(KeyId(1), &[0; 32], &user).is_none());
        assert!(cache.get(KeyId(1), &[2; 32], &user).is_some());
        let other = UserId::parse("v").unwrap();
        assert!(cache.get(KeyId(1), &[2; 32], &other).is_none());
    }

    #[test]
    fn many_slots_all_found_and_misses_hand_the_closure_back() {
        let cache = CipherCache::new(1000);
        let user = UserId::parse("u").unwrap();
        let cipher = Arc::new(Cipher::new(Backend::RustCrypto, &[7u8; 32]));
        // Salts that differ in one byte only, and key ids that differ.
        for i in 0..1000u32 {
            let mut salt = [0u8; 32];
            salt[(i % 32) as usize] = (i / 32) as u8 + 1;
            cache.insert(KeyId(i % 3), salt, &user, Arc::clone(&cipher));
        }
        assert_eq!(cache.len(), 1000);
        for i in 0..1000u32 {
            let mut salt = [0u8; 32];
            salt[(i % 32) as usize] = (i / 32) as u8 + 1;
            assert_eq!(cache.with(KeyId(i % 3), &salt, &user, |_| i).ok(), Some(i));
            assert!(cache.with(KeyId(i % 3 + 3), &salt, &user, |_| i).is_err());
        }
    }
}
