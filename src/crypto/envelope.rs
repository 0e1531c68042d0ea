//! The sealed envelope, `docs/FORMAT.md` §3–4.

use rand::RngCore as _;
use zeroize::Zeroizing;

use super::aead::Cipher;
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
    /// An earlier value of a secret, kept in its history: bound to the
    /// revision it had, so it can't be put back as the current value or as
    /// another revision.
    PastItem,
    /// A deployment receipt's seal: what [`Vault::environment`](crate::Vault::environment)
    /// handed out, so that [`Vault::record_deployment`](crate::Vault::record_deployment)
    /// can tell a genuine receipt from a forged one.
    Receipt,
}

impl Purpose {
    /// The byte that stands for the purpose in the associated data (§4).
    pub fn code(self) -> u8 {
        match self {
            Self::Item => 1,
            Self::Connection => 2,
            Self::GatewayToken => 3,
            Self::Receipt => 4,
            Self::PastItem => 5,
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

    /// Calls `f` with the associated data for an envelope with this
    /// `header` (§4): label ‖ header ‖ purpose ‖ lp(user) ‖ lp(record) ‖
    /// lp(name). Built on the stack when it fits in `INLINE_AAD_LEN` bytes,
    /// so the hot path does not allocate for it.
    fn with_associated_data<R>(&self, header: &[u8; HEADER_LEN], f: impl FnOnce(&[u8]) -> R) -> R {
        let len = AAD_FIXED_LEN + self.user.as_str().len() + self.record.len() + self.name.len();
        // Two stack sizes, because zeroing the larger buffer cost more than
        // building the associated data of a typical binding.
        if len <= SHORT_AAD_LEN {
            let mut buf = [0u8; SHORT_AAD_LEN];
            self.write_associated_data(header, &mut buf[..len]);
            f(&buf[..len])
        } else if len <= INLINE_AAD_LEN {
            let mut buf = [0u8; INLINE_AAD_LEN];
            self.write_associated_data(header, &mut buf[..len]);
            f(&buf[..len])
        } else {
            let mut buf = vec![0u8; len];
            self.write_associated_data(header, &mut buf);
            f(&buf)
        }
    }

    /// Writes the associated data into `out`, which has exactly its length.
    /// The fixed-size start (label, header, purpose, the user id's length)
    /// is assembled as one array and copied at once: a copy per piece cost
    /// more than the rest of building it.
    fn write_associated_data(&self, header: &[u8; HEADER_LEN], out: &mut [u8]) {
        let user = self.user.as_str().as_bytes();
        let mut start = [0u8; AAD_START_LEN];
        let (label, rest) = start.split_at_mut(AAD_LABEL.len());
        label.copy_from_slice(AAD_LABEL);
        let (head, rest) = rest.split_at_mut(HEADER_LEN);
        head.copy_from_slice(header);
        rest[0] = self.purpose.code();
        rest[1..].copy_from_slice(&len_u32(user.len()).to_be_bytes());

        let (record, name) = (self.record.as_bytes(), self.name.as_bytes());
        let (head, rest) = out.split_at_mut(AAD_START_LEN);
        head.copy_from_slice(&start);
        let (head, rest) = rest.split_at_mut(user.len());
        head.copy_from_slice(user);
        let (head, rest) = rest.split_at_mut(4);
        head.copy_from_slice(&len_u32(record.len()).to_be_bytes());
        let (head, rest) = rest.split_at_mut(record.len());
        head.copy_from_slice(record);
        let (head, rest) = rest.split_at_mut(4);
        head.copy_from_slice(&len_u32(name.len()).to_be_bytes());
        rest.copy_from_slice(name);
    }
}

/// The associated data without the user id, record id and name: label,
/// header, purpose byte and three 4-byte length prefixes (§4).
const AAD_FIXED_LEN: usize = AAD_LABEL.len() + HEADER_LEN + 1 + 3 * 4;

/// The associated data's fixed-size start: label, header, purpose byte and
/// the user id's length prefix.
const AAD_START_LEN: usize = AAD_LABEL.len() + HEADER_LEN + 1 + 4;

/// Associated data up to this long is built in a small stack buffer: a
/// 36-byte record UUID leaves 52 bytes for the user id and the name, which
/// most bindings fit.
const SHORT_AAD_LEN: usize = 128;

/// Associated data up to this long is built on the stack. The fixed part is
/// 40 bytes; with a 128-byte user id, a 36-byte UUID and a 255-byte name the
/// longest real AAD is 459 bytes.
const INLINE_AAD_LEN: usize = 512;

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
    pub(super) fn parse(sealed: &[u8]) -> Result<Self, CryptoError> {
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
    cipher: &Cipher,
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
    seal_with(cipher, &header, &nonce, binding, plaintext)
}

fn seal_with(
    cipher: &Cipher,
    header: &Header,
    nonce: &[u8; NONCE_LEN],
    binding: &Binding<'_>,
    plaintext: &[u8],
) -> Vec<u8> {
    let body_start = HEADER_LEN + NONCE_LEN;
    let mut out = Vec::with_capacity(body_start + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&header.bytes);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = binding.with_associated_data(&header.bytes, |aad| {
        cipher.seal_in_place(nonce, aad, &mut out[body_start..])
    });
    out.extend_from_slice(&tag);
    out
}

pub(crate) fn open(
    cipher: &Cipher,
    header: &Header,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (nonce, rest) = sealed[HEADER_LEN..].split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    // `Header::parse` checked the length, so these conversions hold.
    let (Ok(nonce), Ok(tag)) = (
        <&[u8; NONCE_LEN]>::try_from(nonce),
        <&[u8; TAG_LEN]>::try_from(tag),
    ) else {
        return Err(CryptoError::DecryptionFailed);
    };
    let mut plaintext = Zeroizing::new(body.to_vec());
    binding
        .with_associated_data(&header.bytes, |aad| {
            cipher.open_in_place(nonce, aad, &mut plaintext, tag)
        })
        .map_err(|_| CryptoError::DecryptionFailed)?;
    Ok(plaintext)
}

#[cfg(test)]
pub(crate) mod tests;
