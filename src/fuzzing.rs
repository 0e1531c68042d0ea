//! Entry points for the fuzz targets in `fuzz/` and the bounded property
//! tests in `tests/fuzz_props.rs` (feature `test-util`). Not part of the
//! public API: it changes whenever the record formats do.

use crate::records::view::{AgentView, ConnectionView, ItemView};
use crate::records::{
    self, AgentBody, ConnectionBody, ItemBody, KeyCheckBody, NameBody, UserKeysBody,
};

/// Decodes `bytes` as every kind of record body the vault stores (items,
/// name index entries, connections, agents, user keys, key check values),
/// in every readable format, and as a
/// connection's opened credential payload, as the vault does
/// when it reads a record, and through the borrowed views of items,
/// connections and agents. Returns whether any decoding accepted them.
/// Never panics, whatever the bytes, unless a borrowed view and the owned
/// decode disagree on them (a bug: the views must accept exactly what the
/// owned decode accepts).
#[doc(hidden)]
pub fn decode_any_record(bytes: &[u8]) -> bool {
    let item = records::decode_bytes::<ItemBody>(bytes).is_some();
    let name = records::decode_bytes::<NameBody>(bytes).is_some();
    let connection = records::decode_bytes::<ConnectionBody>(bytes).is_some();
    let agent = records::decode_bytes::<AgentBody>(bytes).is_some();
    assert_eq!(ItemView::read_bytes(bytes).is_some(), item, "item view");
    let connection_view = ConnectionView::read_bytes(bytes).is_some();
    assert_eq!(connection_view, connection, "connection view");
    assert_eq!(AgentView::read_bytes(bytes).is_some(), agent, "agent view");
    let keys = records::decode_bytes::<UserKeysBody>(bytes).is_some();
    let check = records::decode_bytes::<KeyCheckBody>(bytes).is_some();
    // A connection's payload, as it comes out of its envelope.
    let payload = crate::provider::decode_payload(bytes).is_some();
    item || name || connection || agent || keys || check || payload
}

/// Seals `msg` with AES-256-GCM through the crate's `backend`, exactly as
/// envelopes do (in place, detached tag), and returns ciphertext ‖ tag: how
/// `tests/wycheproof.rs` runs external vectors against every backend.
#[doc(hidden)]
pub fn aead_seal(
    backend: crate::crypto::Backend,
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    msg: &[u8],
) -> Vec<u8> {
    let cipher = crate::crypto::Cipher::new(backend, key);
    let mut out = Vec::with_capacity(msg.len() + 16);
    out.extend_from_slice(msg);
    let tag = cipher.seal_in_place(nonce, aad, &mut out);
    out.extend_from_slice(&tag);
    out
}

/// Opens ciphertext `ct` with `tag` through the crate's `backend`, exactly
/// as envelopes do; `None` if it does not authenticate.
#[doc(hidden)]
pub fn aead_open(
    backend: crate::crypto::Backend,
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; 16],
) -> Option<Vec<u8>> {
    let cipher = crate::crypto::Cipher::new(backend, key);
    let mut buf = ct.to_vec();
    cipher.open_in_place(nonce, aad, &mut buf, tag).ok()?;
    Some(buf)
}
