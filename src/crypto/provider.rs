//! Master keys from a KMS or HSM: a service stores its master keys wrapped
//! (encrypted by a key that never leaves the KMS) and unwraps them at start.

use async_trait::async_trait;

use super::{KeyId, Keyring, KeyringError, MasterKey};

/// A master key as a service stores it: wrapped by its KMS or HSM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// The id the key has in the keyring (and in every envelope).
    pub id: KeyId,
    /// The wrapped bytes, as the KMS returned them.
    pub wrapped: Vec<u8>,
}

/// Unwraps stored data keys into master keys: implement it for your KMS or
/// HSM (AWS KMS `Decrypt`, GCP KMS, Vault transit, PKCS#11, ...).
///
/// ```
/// use agent_vault::crypto::{KeyId, KeyProvider, Keyring, KeyringError, MasterKey, WrappedKey};
///
/// /// A stand-in "KMS" that XORs with a fixed pad; a real one calls its service.
/// struct XorKms([u8; 32]);
///
/// #[async_trait::async_trait]
/// impl KeyProvider for XorKms {
///     async fn unwrap_key(&self, id: KeyId, wrapped: &[u8]) -> Result<MasterKey, KeyringError> {
///         let bytes: [u8; 32] = wrapped.try_into().map_err(|_| KeyringError::Provider {
///             id,
///             reason: "wrapped key is not 32 bytes".into(),
///         })?;
///         Ok(MasterKey::from_bytes(std::array::from_fn(|i| bytes[i] ^ self.0[i])))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), KeyringError> {
/// let kms = XorKms([0x5a; 32]);
/// let stored = [WrappedKey { id: KeyId(1), wrapped: vec![0x11; 32] }];
/// let ring = Keyring::unwrap_with(&kms, &stored, KeyId(1)).await?;
/// assert_eq!(ring.primary_id(), Some(KeyId(1)));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// Unwraps the stored key `id`. Errors must not contain key material.
    async fn unwrap_key(&self, id: KeyId, wrapped: &[u8]) -> Result<MasterKey, KeyringError>;
}

impl Keyring {
    /// Unwraps every stored key with `provider` and makes `primary` the
    /// primary key.
    pub async fn unwrap_with(
        provider: &dyn KeyProvider,
        keys: &[WrappedKey],
        primary: KeyId,
    ) -> Result<Self, KeyringError> {
        let mut ring = Self::empty();
        for key in keys {
            ring.add(key.id, provider.unwrap_key(key.id, &key.wrapped).await?)?;
        }
        ring.promote(primary)?;
        Ok(ring)
    }
}
