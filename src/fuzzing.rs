//! Entry points for the fuzz targets in `fuzz/` and the bounded property
//! tests in `tests/fuzz_props.rs`. Not part of the public API.

use crate::records::{
    self, AgentBody, ConnectionBody, ItemBody, KeyCheckBody, NameBody, UserKeysBody,
};

/// Decodes `bytes` as every kind of record body the vault stores (items,
/// name index entries, connections, agents, user keys, key check values),
/// in every readable format, and as a
/// connection's opened credential payload, as the vault does
/// when it reads a record. Returns whether any decoding accepted them.
/// Must never panic, whatever the bytes.
#[doc(hidden)]
pub fn decode_any_record(bytes: &[u8]) -> bool {
    let item = records::decode_bytes::<ItemBody>(bytes).is_some();
    let name = records::decode_bytes::<NameBody>(bytes).is_some();
    let connection = records::decode_bytes::<ConnectionBody>(bytes).is_some();
    let agent = records::decode_bytes::<AgentBody>(bytes).is_some();
    let keys = records::decode_bytes::<UserKeysBody>(bytes).is_some();
    let check = records::decode_bytes::<KeyCheckBody>(bytes).is_some();
    // A connection's payload, as it comes out of its envelope.
    let payload = crate::provider::decode_payload(bytes).is_some();
    item || name || connection || agent || keys || check || payload
}
