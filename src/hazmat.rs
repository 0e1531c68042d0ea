//! Hazardous materials: the crypto layer under [`Vault`](crate::Vault)
//! (feature `hazmat`).
//!
//! [`Crypto::open`] returns a secret's plaintext, [`derive_user_key`] a
//! user's key. These are the building blocks of `docs/FORMAT.md` (per-user
//! key derivation, the envelope, its associated data, the key check value)
//! for known-answer tests, fuzzing and other implementations of the format.
//! A service never needs them: it seals through [`Vault`](crate::Vault) and
//! reads values only through [`Vault::environment`](crate::Vault::environment).
//! Without this feature no public API opens a sealed value, which is what
//! the crate docs promise.
//!
//! Nothing here is covered by the promises of the crate's default API:
//! these items can change in any release, like rustls's `internal` and
//! age's `primitives`.
//!
//! ```
//! use agent_vault::UserId;
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::hazmat::{Binding, Crypto, Purpose, UserKeys};
//!
//! let crypto = Crypto::new(Keyring::single(MasterKey::from_bytes([7; 32])));
//! let user = UserId::parse("alice")?;
//! let keys = UserKeys::from_salt(1, [9; 32]);
//! let binding = Binding::new(&user, Purpose::Item, "item-1", "API_KEY");
//! let sealed = crypto.seal(&keys, &binding, b"sk-123")?;
//! assert_eq!(&crypto.open(&keys, &binding, &sealed)?[..], b"sk-123");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::crypto::check::{KEY_CHECK_LABEL, KEY_CHECK_LEN, key_check_value};
pub use crate::crypto::derive::{SALT_LEN, USER_KEY_LABEL, UserKeys, derive_user_key};
pub use crate::crypto::envelope::{
    AAD_LABEL, Binding, FORMAT_VERSION, HEADER_LEN, NONCE_LEN, Purpose, TAG_LEN,
};
pub use crate::crypto::layer::{Crypto, CryptoError};
