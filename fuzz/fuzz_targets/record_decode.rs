//! Decode arbitrary bytes as every record body the vault reads (and as a
//! connection's opened payload): never a panic, only "accepted" or "refused".
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = agent_vault::fuzzing::decode_any_record(data);
});
