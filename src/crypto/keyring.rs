use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The id of a master key, written into every envelope sealed under it so
/// that opening never needs trial decryption.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 32-byte master key. Redacted in `Debug`, zeroised on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from standard base64 (with padding) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyringError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyringError::MalformedKey)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyringError::MalformedKey)?;
        Ok(Self(bytes))
    }

    /// The key as standard base64, in a buffer zeroised on drop.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// Why a keyring operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// A key with this id is already in the ring.
    #[error("master key {0} is already in the keyring")]
    DuplicateKey(KeyId),
    /// Key text is not standard base64 of exactly 32 bytes.
    #[error("master key is not standard base64 of exactly 32 bytes")]
    MalformedKey,
    /// No key with this id is in the ring.
    #[error("master key {0} is not in the keyring")]
    UnknownKey(KeyId),
}

/// The master keys: each with a [`KeyId`], exactly one primary (used for
/// every new seal) unless the ring is empty.
///
/// An empty keyring is allowed so a service can start before secrets are
/// configured; every operation that needs a key then fails with
/// [`Error::NotConfigured`](crate::Error::NotConfigured) (HTTP 503).
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<KeyId, MasterKey>,
    primary: Option<KeyId>,
}

impl Keyring {
    /// A keyring with no key: nothing can be sealed or opened.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A keyring with one key, id 1, primary.
    pub fn single(key: MasterKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(KeyId(1), key);
        Self {
            keys,
            primary: Some(KeyId(1)),
        }
    }

    /// Adds a key that is not primary (the first key added becomes primary).
    pub fn add(&mut self, id: KeyId, key: MasterKey) -> Result<(), KeyringError> {
        if self.keys.contains_key(&id) {
            return Err(KeyringError::DuplicateKey(id));
        }
        self.keys.insert(id, key);
        self.primary.get_or_insert(id);
        Ok(())
    }

    /// Makes `id` the key every new seal uses.
    pub fn promote(&mut self, id: KeyId) -> Result<(), KeyringError> {
        if !self.keys.contains_key(&id) {
            return Err(KeyringError::UnknownKey(id));
        }
        self.primary = Some(id);
        Ok(())
    }

    /// The primary key's id, or `None` for an empty ring.
    pub fn primary_id(&self) -> Option<KeyId> {
        self.primary
    }

    /// The key with this id.
    pub fn get(&self, id: KeyId) -> Option<&MasterKey> {
        self.keys.get(&id)
    }

    /// The ids of all keys, in ascending order.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("primary", &self.primary)
            .finish()
    }
}
