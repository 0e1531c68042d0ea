use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The id of a master key, written into every envelope sealed under it so
/// that opening never needs trial decryption.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The length of a master key's standard base64 (with padding).
const BASE64_KEY_LEN: usize = MasterKey::LEN.div_ceil(3) * 4;

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

    /// A key from a file holding either its standard base64 text (surrounding
    /// whitespace ignored) or exactly 32 raw bytes. Errors never echo the
    /// file's content.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, KeyringError> {
        let bytes =
            Zeroizing::new(std::fs::read(path.as_ref()).map_err(|e| KeyringError::Io(e.kind()))?);
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(Self(raw));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyringError::MalformedKey)?;
        Self::from_base64(text)
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

/// What is wrong with a keyring specification
/// ([`KeyringError::MalformedSpec`]). Never holds key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No key at all.
    #[error("no key")]
    NoKey,
    /// A key id is not a number.
    #[error("a key id is not a number")]
    IdNotANumber,
    /// One of several entries has no `ID:` prefix.
    #[error("an entry has no `ID:`")]
    MissingId,
    /// More than one entry is marked primary with `*`.
    #[error("more than one primary `*`")]
    SeveralPrimaries,
    /// Several keys and none marked primary with `*`.
    #[error("no primary key marked with `*`")]
    NoPrimary,
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
    /// A key file could not be read.
    #[error("key file could not be read: {0}")]
    Io(std::io::ErrorKind),
    /// A keyring specification is malformed; the reason never holds key
    /// material.
    #[error("malformed keyring specification: {0}")]
    MalformedSpec(SpecError),
    /// The primary key cannot be retired; promote another first.
    #[error("master key {0} is the primary key; promote another key before retiring it")]
    RetirePrimary(KeyId),
    /// A key provider failed to unwrap a key.
    #[error("key provider failed for master key {id}: {reason}")]
    Provider {
        /// The key.
        id: KeyId,
        /// The provider's reason (never key material).
        reason: String,
    },
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

    /// Removes a key that is not primary. Records still sealed under it then
    /// fail to open with [`Error::UnknownKey`](crate::Error::UnknownKey);
    /// [`Vault::retire_key`](crate::Vault::retire_key) refuses while any
    /// record uses it.
    pub fn retire(&mut self, id: KeyId) -> Result<MasterKey, KeyringError> {
        if self.primary == Some(id) {
            return Err(KeyringError::RetirePrimary(id));
        }
        self.keys.remove(&id).ok_or(KeyringError::UnknownKey(id))
    }

    /// Parses a keyring specification: entries `ID:BASE64KEY` separated by
    /// commas or whitespace, the primary marked with a leading `*`
    /// (`1:AAAA…=,*2:BBBB…=`). A single entry may omit the id (it becomes
    /// key 1) and the `*`. This is the format of the CLI's
    /// `AGENT_VAULT_MASTER_KEYS` and of key files ([`Keyring::from_file`]).
    ///
    /// ```
    /// use agent_vault::crypto::{KeyId, Keyring, MasterKey};
    /// let (a, b) = (MasterKey::generate(), MasterKey::generate());
    /// let spec = format!("1:{}, *2:{}", a.to_base64().as_str(), b.to_base64().as_str());
    /// let ring = Keyring::parse(&spec)?;
    /// assert_eq!(ring.primary_id(), Some(KeyId(2)));
    /// assert_eq!(ring.to_spec().as_str(), spec.replace(", ", ","));
    /// # Ok::<(), agent_vault::crypto::KeyringError>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Self, KeyringError> {
        let entries: Vec<&str> = spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(KeyringError::MalformedSpec(SpecError::NoKey));
        }
        let mut ring = Self::empty();
        let mut primary = None;
        for entry in &entries {
            let (starred, entry) = match entry.strip_prefix('*') {
                Some(rest) => (true, rest),
                None => (false, *entry),
            };
            let (id, key) = match entry.split_once(':') {
                Some((id, key)) => {
                    let id = id
                        .parse::<u32>()
                        .map_err(|_| KeyringError::MalformedSpec(SpecError::IdNotANumber))?;
                    (KeyId(id), key)
                }
                None if entries.len() == 1 => (KeyId(1), entry),
                None => return Err(KeyringError::MalformedSpec(SpecError::MissingId)),
            };
            ring.add(id, MasterKey::from_base64(key)?)?;
            if starred {
                if primary.is_some() {
                    return Err(KeyringError::MalformedSpec(SpecError::SeveralPrimaries));
                }
                primary = Some(id);
            }
        }
        match primary {
            Some(id) => ring.promote(id)?,
            None if entries.len() == 1 => {}
            None => {
                return Err(KeyringError::MalformedSpec(SpecError::NoPrimary));
            }
        }
        Ok(ring)
    }

    /// Reads a keyring specification ([`Keyring::parse`]) from a file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, KeyringError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path.as_ref()).map_err(|e| KeyringError::Io(e.kind()))?,
        );
        Self::parse(&text)
    }

    /// The specification [`Keyring::parse`] reads back, in a buffer
    /// zeroised on drop. It holds every key: treat it as a secret.
    pub fn to_spec(&self) -> Zeroizing<String> {
        // Every entry is `[,][*]ID:BASE64`: reserve exactly that, so the
        // buffer never grows (a grown buffer frees its old copy unwiped).
        let digits = |id: KeyId| id.0.checked_ilog10().map_or(1, |d| d as usize + 1);
        let len: usize = self
            .keys
            .keys()
            .map(|id| digits(*id) + 1 + BASE64_KEY_LEN)
            .sum::<usize>()
            + self.keys.len().saturating_sub(1)
            + usize::from(self.primary.is_some());
        let mut out = Zeroizing::new(String::with_capacity(len));
        for (id, key) in &self.keys {
            if !out.is_empty() {
                out.push(',');
            }
            if self.primary == Some(*id) {
                out.push('*');
            }
            // The digits go straight into the buffer; writing to a
            // `String` cannot fail.
            let _ = write!(out, "{}:", id.0);
            out.push_str(&key.to_base64());
        }
        debug_assert_eq!(out.len(), len, "to_spec reserved the wrong size");
        out
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
