//! Key commitment: a check value per master key id, `docs/FORMAT.md` §9.
//!
//! A vault stores, once per key id, a value derived from that key. A
//! keyring whose key for a known id derives another value is the wrong key
//! (mistyped, from another deployment) and is refused before it seals or
//! opens anything, so it can never write records the real key can't open.

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::{KeyId, MasterKey};

/// The HKDF `info` label of key check values (FORMAT.md §9).
pub const KEY_CHECK_LABEL: &[u8] = b"agent-vault/v1/key-check";

/// Length of a key check value in bytes.
pub const KEY_CHECK_LEN: usize = 32;

/// The check value of master key `id`: HKDF-SHA256 with `ikm = master`, no
/// salt and `info = KEY_CHECK_LABEL ‖ u32be(id)` (FORMAT.md §9). It reveals
/// nothing usable about the key (HKDF is a PRF) and commits to it: no other
/// key gives the same value.
///
/// ```
/// use agent_vault::crypto::{KeyId, MasterKey};
/// use agent_vault::hazmat::key_check_value;
/// let key = MasterKey::from_bytes([7; 32]);
/// assert_eq!(key_check_value(&key, KeyId(1)), key_check_value(&key, KeyId(1)));
/// assert_ne!(key_check_value(&key, KeyId(1)), key_check_value(&key, KeyId(2)));
/// assert_ne!(key_check_value(&key, KeyId(1)), key_check_value(&MasterKey::from_bytes([8; 32]), KeyId(1)));
/// ```
pub fn key_check_value(master: &MasterKey, id: KeyId) -> [u8; KEY_CHECK_LEN] {
    let hkdf = Hkdf::<Sha256>::new(None, master.as_bytes());
    let mut info = [0u8; KEY_CHECK_LABEL.len() + 4];
    info[..KEY_CHECK_LABEL.len()].copy_from_slice(KEY_CHECK_LABEL);
    info[KEY_CHECK_LABEL.len()..].copy_from_slice(&id.0.to_be_bytes());
    let mut out = [0u8; KEY_CHECK_LEN];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit.
    if hkdf.expand(&info, &mut out).is_err() {
        unreachable!("HKDF-SHA256 can always produce 32 bytes");
    }
    out
}

/// Whether `stored` is the check value of `master` under `id`, compared in
/// constant time.
pub(crate) fn matches(master: &MasterKey, id: KeyId, stored: &[u8]) -> bool {
    key_check_value(master, id).ct_eq(stored).into()
}
