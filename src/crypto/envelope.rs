//! The sealed envelope, `docs/FORMAT.md` §3–4.

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::derive::len_u32;
use super::{CryptoError, KeyId};
use crate::UserId;

/// The envelope format version, the first byte of every envelope (§3).
pub const FORMAT_VERSION: u8 = 1;
/// Version byte, key id (4) and user-key generation (4) (§3).
pub const HEADER_LEN: usize = 9;
/// AES-GCM nonce length: 96 bits (§3).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length: 128 bits (§3).
pub const TAG_LEN: usize = 16;
/// The label the associated data starts with (§4).
pub const AAD_LABEL: &[u8] = b"agent-vault/v1/aad";

/// What kind of record a ciphertext belongs to; part of the associated data
/// so that, for example, a gateway token can never be opened as a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// A provider connection's credential.
    Connection,
    /// An agent's gateway token.
    GatewayToken,
    /// A secret's value.
    Item,
}

impl Purpose {
    /// The byte that stands for the purpose in the associated data (§4).
    pub fn code(self) -> u8 {
        match self {
            Self::Item => 1,
            Self::Connection => 2,
            Self::GatewayToken => 3,
        }
    }
}

/// What a ciphertext is bound to: the user, the kind of record, the record's
/// id and its name. Opening with any other binding fails.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    user: &'a UserId,
    purpose: Purpose,
    record: &'a str,
    name: &'a str,
}

impl<'a> Binding<'a> {
    /// A binding to `user`'s record `record` (its id) named `name`.
    pub fn new(user: &'a UserId, purpose: Purpose, record: &'a str, name: &'a str) -> Self {
        Self {
            user,
            purpose,
            record,
            name,
        }
    }

    /// The user.
    pub fn user(&self) -> &'a UserId {
        self.user
    }

    /// The associated data for an envelope with this `header` (§4).
    fn associated_data(&self, header: &[u8; HEADER_LEN]) -> Vec<u8> {
        let user = self.user.as_str().as_bytes();
        let mut aad = Vec::with_capacity(
            AAD_LABEL.len()
                + HEADER_LEN
                + 1
                + 12
                + user.len()
                + self.record.len()
                + self.name.len(),
        );
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(header);
        aad.push(self.purpose.code());
        for field in [user, self.record.as_bytes(), self.name.as_bytes()] {
            aad.extend_from_slice(&len_u32(field.len()).to_be_bytes());
            aad.extend_from_slice(field);
        }
        aad
    }
}

/// The parsed fixed-size start of an envelope.
pub(crate) struct Header {
    pub key_id: KeyId,
    pub generation: u32,
    bytes: [u8; HEADER_LEN],
}

impl Header {
    fn new(key_id: KeyId, generation: u32) -> Self {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = FORMAT_VERSION;
        bytes[1..5].copy_from_slice(&key_id.0.to_be_bytes());
        bytes[5..9].copy_from_slice(&generation.to_be_bytes());
        Self {
            key_id,
            generation,
            bytes,
        }
    }

    /// Reads the header; anything but a version-1 envelope long enough to
    /// hold a nonce and a tag is a decryption failure.
    pub fn parse(sealed: &[u8]) -> Result<Self, CryptoError> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_VERSION {
            return Err(CryptoError::DecryptionFailed);
        }
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(&sealed[..HEADER_LEN]);
        let key_id = KeyId(u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]));
        let generation = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        Ok(Self {
            key_id,
            generation,
            bytes,
        })
    }
}

/// header ‖ nonce ‖ AES-256-GCM(plaintext) ‖ tag.
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    key_id: KeyId,
    generation: u32,
    binding: &Binding<'_>,
    plaintext: &[u8],
) -> Vec<u8> {
    let header = Header::new(key_id, generation);
    let mut nonce = [0u8; NONCE_LEN];
    // ThreadRng is a CSPRNG (ChaCha12) seeded and periodically reseeded from
    // the OS; asking the OS on every seal would cost more than the cipher.
    rand::thread_rng().fill_bytes(&mut nonce);

    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&header.bytes);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let aad = binding.associated_data(&header.bytes);
    let body_start = HEADER_LEN + NONCE_LEN;
    let tag = match cipher.encrypt_in_place_detached(
        Nonce::from_slice(&nonce),
        &aad,
        &mut out[body_start..],
    ) {
        Ok(tag) => tag,
        // AES-GCM refuses only messages over 64 GiB; values are capped far below.
        Err(_) => unreachable!("AES-GCM message length limit exceeded"),
    };
    out.extend_from_slice(&tag);
    out
}

pub(crate) fn open(
    cipher: &Aes256Gcm,
    header: &Header,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let nonce = Nonce::from_slice(&sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
    let tag_start = sealed.len() - TAG_LEN;
    let tag = Tag::from_slice(&sealed[tag_start..]);
    let mut plaintext = Zeroizing::new(sealed[HEADER_LEN + NONCE_LEN..tag_start].to_vec());
    let aad = binding.associated_data(&header.bytes);
    cipher
        .decrypt_in_place_detached(nonce, &aad, &mut plaintext, tag)
        .map_err(|_| CryptoError::DecryptionFailed)?;
    Ok(plaintext)
}

/// Seals with a given nonce. Only the known-answer tests may do this: a
/// repeated nonce under one key breaks AES-GCM.
#[cfg(test)]
#[allow(dead_code)] // until the known-answer unit tests land
pub(crate) fn seal_with_nonce_for_vectors(
    key: &[u8; 32],
    key_id: KeyId,
    generation: u32,
    binding: &Binding<'_>,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    use aes_gcm::KeyInit as _;
    let cipher = Aes256Gcm::new(key.into());
    let header = Header::new(key_id, generation);
    let mut out = Vec::new();
    out.extend_from_slice(&header.bytes);
    out.extend_from_slice(nonce);
    let mut body = plaintext.to_vec();
    let aad = binding.associated_data(&header.bytes);
    match cipher.encrypt_in_place_detached(Nonce::from_slice(nonce), &aad, &mut body) {
        Ok(tag) => {
            out.extend_from_slice(&body);
            out.extend_from_slice(&tag);
        }
        Err(_) => unreachable!("AES-GCM message length limit exceeded"),
    }
    out
}
