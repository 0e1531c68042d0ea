//! [`Crypto`]: a keyring, the per-user keys derived from it, and the
//! envelopes sealed and opened with them. Public only through
//! `agent_vault::hazmat`: its `open` returns plaintext.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use super::aead::{Backend, Cipher};
use super::cache::CipherCache;
use super::check::{self, KEY_CHECK_LEN, key_check_value};
use super::derive::{self, UserKeys};
use super::envelope::{self, Binding};
use super::keyring::{KeyId, Keyring};
use super::tokens::{DEFAULT_TOKEN_CACHE_CAPACITY, TokenCache};
use crate::UserId;

/// Why sealing or opening failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The envelope does not open: wrong key, tampered bytes, or moved to
    /// another user, record or name. Uninformative by design.
    #[error("decryption failed")]
    DecryptionFailed,
    /// No master key is configured.
    #[error("no master key is configured")]
    NotConfigured,
    /// The envelope names a master key that is not in the keyring.
    #[error("master key {0} is not in the keyring")]
    UnknownKey(KeyId),
    /// The envelope names a user-key generation the user's key record lacks.
    #[error("user key generation {0} is missing")]
    UnknownGeneration(u32),
    /// The user's key is at the last generation (`u32::MAX`) and can't be
    /// rotated again.
    #[error("the user's key is at its last generation and can't be rotated")]
    GenerationsExhausted,
}

/// The crypto layer: a keyring plus a bounded cache of derived per-user
/// ciphers.
///
/// ```
/// use agent_vault::crypto::{Keyring, MasterKey};
/// use agent_vault::hazmat::{Binding, Crypto, Purpose, UserKeys};
/// use agent_vault::UserId;
///
/// let crypto = Crypto::new(Keyring::single(MasterKey::generate()));
/// let user = UserId::parse("alice")?;
/// let keys = UserKeys::generate();
/// let binding = Binding::new(&user, Purpose::Item, "item-1", "API_KEY");
/// let sealed = crypto.seal(&keys, &binding, b"sk-123")?;
/// assert_eq!(&crypto.open(&keys, &binding, &sealed)?[..], b"sk-123");
///
/// // Moved to another name, it does not open.
/// let moved = Binding::new(&user, Purpose::Item, "item-1", "OTHER");
/// assert!(crypto.open(&keys, &moved, &sealed).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Crypto {
    keyring: Keyring,
    backend: Backend,
    cache: CipherCache,
    tokens: TokenCache,
    /// Set once every key of the ring was found to match the vault's key
    /// check values (FORMAT.md §9), so the check costs one read per keyring,
    /// not one per call.
    checked: AtomicBool,
}

impl Crypto {
    /// A crypto layer over `keyring` with the default cache capacity.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn new(keyring: Keyring) -> Self {
        Self::with_cache_capacity(keyring, super::DEFAULT_CACHE_CAPACITY)
    }

    /// A crypto layer caching at most `capacity` derived ciphers.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn with_cache_capacity(keyring: Keyring, capacity: usize) -> Self {
        Self::with_backend(keyring, capacity, Backend::default())
    }

    /// A crypto layer caching at most `capacity` derived ciphers and
    /// sealing and opening with `backend`. Every backend reads and writes
    /// the same bytes, so this changes speed and key wiping only (see
    /// [`Backend`]).
    pub fn with_backend(keyring: Keyring, capacity: usize, backend: Backend) -> Self {
        Self {
            keyring,
            backend,
            cache: CipherCache::new(capacity),
            tokens: TokenCache::new(capacity.min(DEFAULT_TOKEN_CACHE_CAPACITY)),
            checked: AtomicBool::new(false),
        }
    }

    /// The AES-256-GCM implementation in use.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The opened gateway tokens of this snapshot (`tokens.rs` says why a
    /// rotation still takes effect at once).
    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Whether this keyring was checked against the vault's key check
    /// values (by [`Vault`](crate::Vault); FORMAT.md §9).
    pub(crate) fn is_checked(&self) -> bool {
        self.checked.load(Ordering::Acquire)
    }

    pub(crate) fn mark_checked(&self) {
        self.checked.store(true, Ordering::Release);
    }

    /// Whether `stored` is the check value of this ring's key `id`; `None`
    /// if the ring has no such key.
    pub(crate) fn check_matches(&self, id: KeyId, stored: &[u8]) -> Option<bool> {
        Some(check::matches(self.keyring.get(id)?, id, stored))
    }

    /// The check value of this ring's key `id`.
    pub(crate) fn check_value(&self, id: KeyId) -> Option<[u8; KEY_CHECK_LEN]> {
        Some(key_check_value(self.keyring.get(id)?, id))
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Seals `plaintext` under the primary master key and the user's current
    /// key generation.
    pub fn seal(
        &self,
        keys: &UserKeys,
        binding: &Binding<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key_id = self
            .keyring
            .primary_id()
            .ok_or(CryptoError::NotConfigured)?;
        let generation = keys.current_generation();
        self.with_cipher(key_id, generation, keys, binding.user(), |cipher| {
            envelope::seal(cipher, key_id, generation, binding, plaintext)
        })
    }

    /// Opens an envelope made by [`Crypto::seal`] for the same user keys and
    /// binding.
    pub fn open(
        &self,
        keys: &UserKeys,
        binding: &Binding<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // Without a key nothing can be opened: say so before judging the
        // bytes, so that a service with no key configured reports that
        // (HTTP 503) rather than blaming the data.
        if self.keyring.is_empty() {
            return Err(CryptoError::NotConfigured);
        }
        let header = envelope::Header::parse(sealed)?;
        self.with_cipher(
            header.key_id,
            header.generation,
            keys,
            binding.user(),
            |cipher| envelope::open(cipher, &header, binding, sealed),
        )?
    }

    /// The master key id an envelope was sealed under, without opening it.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn key_id_of(sealed: &[u8]) -> Result<KeyId, CryptoError> {
        Ok(envelope::Header::parse(sealed)?.key_id)
    }

    /// The master key id and user-key generation an envelope was sealed
    /// under, without opening it (FORMAT.md §3).
    pub fn header_of(sealed: &[u8]) -> Result<(KeyId, u32), CryptoError> {
        let header = envelope::Header::parse(sealed)?;
        Ok((header.key_id, header.generation))
    }

    /// Runs `f` with the user's cipher for this master key and generation:
    /// the cached one (under the cache's shared read lock, no `Arc` traffic)
    /// or, on a miss, a freshly derived one that is then cached.
    fn with_cipher<R>(
        &self,
        key_id: KeyId,
        generation: u32,
        keys: &UserKeys,
        user: &UserId,
        f: impl FnOnce(&Cipher) -> R,
    ) -> Result<R, CryptoError> {
        let salt = keys
            .salt(generation)
            .ok_or(CryptoError::UnknownGeneration(generation))?;
        let f = match self.cache.with(key_id, salt, user, f) {
            Ok(result) => return Ok(result),
            Err(f) => f,
        };
        if self.keyring.is_empty() {
            return Err(CryptoError::NotConfigured);
        }
        let master = self
            .keyring
            .get(key_id)
            .ok_or(CryptoError::UnknownKey(key_id))?;
        let cipher = derive::user_cipher(self.backend, master, salt, user);
        self.cache.insert(key_id, *salt, user, Arc::clone(&cipher));
        Ok(f(&cipher))
    }
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("keyring", &self.keyring)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}
