//! Per-user key derivation, `docs/FORMAT.md` §2.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hkdf::Hkdf;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::aead::{Backend, Cipher};
use super::{CryptoError, MasterKey};
use crate::UserId;

/// The HKDF `info` label for per-user keys (FORMAT.md §2). Versioned so a
/// future derivation can never yield the same key.
pub const USER_KEY_LABEL: &[u8] = b"agent-vault/v1/user-key";

/// Length of a per-user salt in bytes.
pub const SALT_LEN: usize = 32;

/// A user's key material as stored in the user's key record: one random salt
/// per generation and the current generation.
///
/// It holds no secret by itself (the master key is needed too) but it is what
/// makes each user's key unique. A new generation ([`UserKeys::rotate`])
/// changes the user's key while older envelopes still open under their own
/// generation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserKeys {
    current: u32,
    #[serde(with = "salts_base64")]
    salts: BTreeMap<u32, [u8; SALT_LEN]>,
}

impl UserKeys {
    /// Generation 1 with a fresh random salt from the OS random source.
    pub fn generate() -> Self {
        let mut salts = BTreeMap::new();
        salts.insert(1, random_salt());
        Self { current: 1, salts }
    }

    /// A key set with one generation and a given salt (for test vectors).
    #[cfg(any(test, feature = "hazmat"))]
    pub fn from_salt(generation: u32, salt: [u8; SALT_LEN]) -> Self {
        let mut salts = BTreeMap::new();
        salts.insert(generation, salt);
        Self {
            current: generation,
            salts,
        }
    }

    /// Adds a new generation with a fresh salt, makes it current and
    /// returns it. At the last generation (`u32::MAX`) it refuses with
    /// [`CryptoError::GenerationsExhausted`] and changes nothing: reusing a
    /// generation number would replace the salt that older envelopes name.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        let next = self
            .current
            .checked_add(1)
            .ok_or(CryptoError::GenerationsExhausted)?;
        self.salts.insert(next, random_salt());
        self.current = next;
        Ok(next)
    }

    /// The generation new seals use.
    pub fn current_generation(&self) -> u32 {
        self.current
    }

    /// The salt of a generation.
    pub fn salt(&self, generation: u32) -> Option<&[u8; SALT_LEN]> {
        self.salts.get(&generation)
    }

    /// Every generation and its salt, in ascending order.
    pub(crate) fn generations(&self) -> impl Iterator<Item = (u32, &[u8; SALT_LEN])> {
        self.salts
            .iter()
            .map(|(generation, salt)| (*generation, salt))
    }

    /// Key material read from a store; `None` if the current generation has
    /// no salt.
    pub(crate) fn from_parts(current: u32, salts: BTreeMap<u32, [u8; SALT_LEN]>) -> Option<Self> {
        salts
            .contains_key(&current)
            .then_some(Self { current, salts })
    }
}

impl fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeys")
            .field("current", &self.current)
            .field("generations", &self.salts.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn random_salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

/// The HKDF `info` for `user`: the label, then the user id's length as a
/// 4-byte big-endian integer, then the id.
pub(crate) fn user_key_info(user: &UserId) -> Vec<u8> {
    let id = user.as_str().as_bytes();
    let mut info = Vec::with_capacity(USER_KEY_LABEL.len() + 4 + id.len());
    info.extend_from_slice(USER_KEY_LABEL);
    info.extend_from_slice(&len_u32(id.len()).to_be_bytes());
    info.extend_from_slice(id);
    info
}

/// The 32-byte per-user key that [`Crypto`](super::Crypto) seals `user`'s
/// values with for the user-key generation whose salt is `salt`: HKDF-SHA256
/// with `ikm = master`, `salt = salt` and `info = USER_KEY_LABEL ‖
/// u32be(len(user)) ‖ user` (`docs/FORMAT.md` §2).
///
/// [`Crypto`](super::Crypto) never needs this (it derives and caches the
/// cipher itself); it is here so that known-answer tests and other
/// implementations can check the derivation. The key is zeroised when the
/// returned value is dropped.
///
/// ```
/// use agent_vault::crypto::MasterKey;
/// use agent_vault::hazmat::derive_user_key;
/// use agent_vault::UserId;
///
/// let master = MasterKey::from_bytes([7; 32]);
/// let alice = UserId::parse("alice")?;
/// let bob = UserId::parse("bob")?;
/// let salt = [1; 32];
/// assert_eq!(*derive_user_key(&master, &salt, &alice), *derive_user_key(&master, &salt, &alice));
/// assert_ne!(*derive_user_key(&master, &salt, &alice), *derive_user_key(&master, &salt, &bob));
/// # Ok::<(), agent_vault::UserIdError>(())
/// ```
#[cfg(any(test, feature = "hazmat"))]
pub fn derive_user_key(
    master: &MasterKey,
    salt: &[u8; SALT_LEN],
    user: &UserId,
) -> Zeroizing<[u8; 32]> {
    user_key(master, salt, user)
}

/// The 32-byte per-user key: HKDF-SHA256(ikm = master, salt, info).
pub(crate) fn user_key(
    master: &MasterKey,
    salt: &[u8; SALT_LEN],
    user: &UserId,
) -> Zeroizing<[u8; 32]> {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), master.as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand cannot fail.
    if hkdf.expand(&user_key_info(user), okm.as_mut()).is_err() {
        unreachable!("HKDF-SHA256 can always produce 32 bytes");
    }
    okm
}

#[inline(never)]
pub(crate) fn user_cipher(
    backend: Backend,
    master: &MasterKey,
    salt: &[u8; SALT_LEN],
    user: &UserId,
) -> Arc<Cipher> {
    let key = user_key(master, salt, user);
    // HKDF leaves copies of the key in the stack frames it used, earlier
    // calls leave copies of other keys, and a cipher is built on the stack
    // before it moves to the heap, uninitialised bytes (the unused part of
    // `aes`' implementation union, of a smaller `Cipher` variant) included.
    // So the cipher is built and boxed in a frame of its own, below this
    // one, on stack that was just scrubbed: the heap copy then holds a key
    // only where the cipher's own drop wipes it (`tests/wipe.rs`, check 9).
    // Returning the cipher by value instead would build it in the caller's
    // frame, which no scrub reaches.
    scrub_stack();
    boxed_cipher(backend, &key)
}

#[inline(never)]
fn boxed_cipher(backend: Backend, key: &[u8; 32]) -> Arc<Cipher> {
    Arc::new(Cipher::new(backend, key))
}

/// Overwrites the next 16 KiB of the stack below the caller with zeros.
#[inline(never)]
fn scrub_stack() {
    use zeroize::Zeroize as _;
    let mut area = [0xffu8; 16 * 1024];
    area.zeroize();
    std::hint::black_box(&area);
}

/// Lengths in this crate are bounded far below 4 GiB (ids, names, values), so
/// the conversion saturates only on a caller bug, and a saturated length still
/// cannot collide with a real one of the same bytes.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

mod salts_base64 {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::SALT_LEN;

    pub(super) fn serialize<S: Serializer>(
        salts: &BTreeMap<u32, [u8; SALT_LEN]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        salts
            .iter()
            .map(|(generation, salt)| (generation.to_string(), STANDARD.encode(salt)))
            .collect::<BTreeMap<_, _>>()
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<u32, [u8; SALT_LEN]>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(deserializer)?;
        text.into_iter()
            .map(|(generation, salt)| {
                let generation = generation.parse().map_err(serde::de::Error::custom)?;
                let salt = STANDARD
                    .decode(salt)
                    .map_err(serde::de::Error::custom)?
                    .try_into()
                    .map_err(|_| serde::de::Error::custom("salt is not 32 bytes"))?;
                Ok((generation, salt))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_at_the_last_generation_is_refused_and_keeps_the_salt() {
        let salt = [9u8; SALT_LEN];
        let mut keys = UserKeys::from_salt(u32::MAX, salt);
        let before = keys.clone();
        assert_eq!(keys.rotate(), Err(CryptoError::GenerationsExhausted));
        assert_eq!(keys, before, "nothing changed");
        assert_eq!(keys.salt(u32::MAX), Some(&salt));

        let mut keys = UserKeys::from_salt(u32::MAX - 1, salt);
        assert_eq!(keys.rotate(), Ok(u32::MAX));
        assert_eq!(keys.salt(u32::MAX - 1), Some(&salt), "old salt kept");
    }
}
