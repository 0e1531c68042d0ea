//! The master keys a vault runs with, and how it seals.
//!
//! What a service configures:
//!
//! - [`Keyring`] holds the master keys ([`MasterKey`]), each with a
//!   [`KeyId`], one primary; [`Keyring::parse`] reads the
//!   `ID:BASE64,*ID:BASE64` specification, [`KeyProvider`] unwraps keys a KMS
//!   or HSM holds ([`WrappedKey`]).
//! - [`Backend`] picks the AES-256-GCM implementation: pure-Rust `aes-gcm`
//!   by default, `ring` with the feature of that name. The bytes are the
//!   same either way.
//!
//! How the vault uses them (`docs/FORMAT.md`): a per-user key is derived
//! with HKDF-SHA256 from a master key, a random per-user salt and the user
//! id (§2); each value is sealed with AES-256-GCM under that key, with a
//! fresh random 96-bit nonce and associated data that binds it to its format
//! version, key id, user, record and name (§3–4). Derived ciphers are cached,
//! so a hot path does no key derivation.
//!
//! The layer that does this, whose `open` returns a secret's plaintext, is
//! not part of the default API: it is `agent_vault::hazmat` (feature
//! `hazmat`), for known-answer tests and other implementations of the
//! format. A service reads values only through
//! [`Vault::environment`](crate::Vault::environment).

mod aead;
mod cache;
// These four are public only through `hazmat`; without that feature their
// `pub` items are crate-private in effect, which is what the allowance says.
#[cfg_attr(
    not(feature = "hazmat"),
    allow(unreachable_pub, reason = "public through `hazmat` with that feature")
)]
pub(crate) mod check;
#[cfg_attr(
    not(feature = "hazmat"),
    allow(unreachable_pub, reason = "public through `hazmat` with that feature")
)]
pub(crate) mod derive;
#[cfg_attr(
    not(feature = "hazmat"),
    allow(unreachable_pub, reason = "public through `hazmat` with that feature")
)]
pub(crate) mod envelope;
mod keyring;
#[cfg_attr(
    not(feature = "hazmat"),
    allow(unreachable_pub, reason = "public through `hazmat` with that feature")
)]
pub(crate) mod layer;
mod provider;
mod tokens;

pub use aead::Backend;
pub use cache::DEFAULT_CACHE_CAPACITY;
pub use keyring::{KeyId, Keyring, KeyringError, MasterKey, SpecError};
pub use provider::{KeyProvider, WrappedKey};
pub use tokens::DEFAULT_TOKEN_CACHE_CAPACITY;

#[cfg(feature = "test-util")]
pub(crate) use aead::Cipher;
pub(crate) use check::KEY_CHECK_LEN;
pub(crate) use derive::{SALT_LEN, UserKeys, len_u32};
pub(crate) use envelope::{Binding, Purpose};
pub(crate) use layer::{Crypto, CryptoError};
