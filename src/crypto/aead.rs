//! AES-256-GCM from the backend a [`Crypto`](super::Crypto) was built with.
//!
//! Every backend computes the same function (NIST SP 800-38D with a 96-bit
//! nonce and a 128-bit tag), so an envelope sealed by one opens with any
//! other, byte for byte: the backend is a speed choice, never a format one.
//! The known-answer vectors and the Wycheproof suite run against each.

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce, Tag};

use super::envelope::{NONCE_LEN, TAG_LEN};

/// Which AES-256-GCM implementation seals and opens.
///
/// [`Backend::default`] is `RustCrypto`; a service that wants `ring`'s
/// speed enables the feature and chooses it with
/// [`VaultConfig::with_backend`](crate::VaultConfig::with_backend). They
/// differ in speed and in what they wipe, never in the bytes they produce:
///
/// | backend | feature | 64 B seal, raw (x86-64, AES-NI) | key schedule wiped on drop |
/// |---|---|---|---|
/// | [`Backend::RustCrypto`] | always | ~285 ns | yes (`aes`/`ghash` feature `zeroize`) |
/// | `Backend::Ring` | `ring` | ~180 ns | **no**: `ring` does not zeroise its expanded keys |
///
/// (`docs/PERFORMANCE.md` has the runs and the commands.)
///
/// The per-user key itself (the HKDF output) is wiped on every backend as
/// soon as the cipher is built from it; with `ring`, the AES round keys and
/// the GHASH key table it derives stay in freed memory until reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's pure-Rust `aes-gcm` (with AES-NI and CLMUL when the CPU
    /// has them): the default.
    RustCrypto,
    /// `ring`'s assembly AES-GCM (feature `ring`).
    #[cfg(feature = "ring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ring")))]
    Ring,
}

impl Backend {
    /// Every backend compiled in, `RustCrypto` first: tests run each vector
    /// through each, so a backend that disagrees fails them.
    pub const ALL: &'static [Backend] = &[
        Backend::RustCrypto,
        #[cfg(feature = "ring")]
        Backend::Ring,
    ];

    /// The backend's name as it appears in features, benches and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RustCrypto => "aes-gcm",
            #[cfg(feature = "ring")]
            Self::Ring => "ring",
        }
    }
}

impl Default for Backend {
    /// `RustCrypto`, whatever features are on: features add backends, they
    /// never change what a vault does by default (and `ring` does not wipe
    /// its key schedules). Choose another with
    /// [`VaultConfig::with_backend`](crate::VaultConfig::with_backend).
    fn default() -> Self {
        Self::RustCrypto
    }
}

/// A keyed AES-256-GCM instance of one backend.
#[allow(
    clippy::large_enum_variant,
    reason = "each lives in its own `Arc` in the cipher cache; boxing would add a pointer chase to every seal and open"
)]
pub(crate) enum Cipher {
    RustCrypto(Aes256Gcm),
    #[cfg(feature = "ring")]
    Ring(ring::aead::LessSafeKey),
}

/// Authentication failed: wrong key, nonce, associated data or tag.
pub(crate) struct OpenFailed;

impl Cipher {
    pub(crate) fn new(backend: Backend, key: &[u8; 32]) -> Self {
        match backend {
            Backend::RustCrypto => Self::RustCrypto(Aes256Gcm::new(key.into())),
            #[cfg(feature = "ring")]
            Backend::Ring => {
                let key = match ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key) {
                    Ok(key) => key,
                    // `ring` refuses only a key of the wrong length, and this
                    // one is 32 bytes by its type.
                    Err(_) => unreachable!("ring accepts any 32-byte AES-256 key"),
                };
                Self::Ring(ring::aead::LessSafeKey::new(key))
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match self {
            Self::RustCrypto(cipher) => {
                match cipher.encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf) {
                    Ok(tag) => tag.into(),
                    // AES-GCM refuses only messages over 64 GiB; values are
                    // capped far below.
                    Err(_) => unreachable!("AES-GCM message length limit exceeded"),
                }
            }
            #[cfg(feature = "ring")]
            Self::Ring(key) => {
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                match key.seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf) {
                    Ok(tag) => {
                        let mut out = [0u8; TAG_LEN];
                        out.copy_from_slice(tag.as_ref());
                        out
                    }
                    Err(_) => unreachable!("AES-GCM message length limit exceeded"),
                }
            }
        }
    }

    /// Decrypts `buf` in place if `tag` authenticates it. On failure `buf`
    /// holds no plaintext the caller may use (it is wiped by its owner).
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenFailed> {
        match self {
            Self::RustCrypto(cipher) => cipher
                .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
                .map_err(|_| OpenFailed),
            #[cfg(feature = "ring")]
            Self::Ring(key) => {
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                key.open_in_place_separate_tag(
                    nonce,
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| OpenFailed)
            }
        }
    }
}
