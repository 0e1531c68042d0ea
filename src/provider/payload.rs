//! The sealed payload of a connection: the variables it sets.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Result;

/// The sealed payload of a connection: its variables, as
/// `count:u16 (len:u32 name len:u32 value)*`, big-endian. Hand-written
/// because it must live in zeroised buffers, which serde formats don't offer.
pub(super) fn encode_payload(
    vars: &[(&'static str, Zeroizing<String>)],
) -> Result<Zeroizing<Vec<u8>>> {
    // Reserved at the final size: a growing Vec would free its old storage,
    // holding the values written so far, without zeroising it.
    let size = 2 + vars
        .iter()
        .map(|(name, value)| 8 + name.len() + value.len())
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    let count = u16::try_from(vars.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in vars {
        for field in [name.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&crate::crypto::len_u32(field.len()).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    Ok(out)
}

/// Reads a payload made by [`encode_payload`]; `None` if malformed.
pub(crate) fn decode_payload(bytes: &[u8]) -> Option<Vec<(String, SecretString)>> {
    let (count, mut rest) = bytes.split_first_chunk::<2>()?;
    let count = u16::from_be_bytes(*count);
    let mut vars = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let mut field = || -> Option<&[u8]> {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
            if tail.len() < len {
                return None;
            }
            let (value, tail) = tail.split_at(len);
            rest = tail;
            Some(value)
        };
        let name = std::str::from_utf8(field()?).ok()?.to_owned();
        let value = std::str::from_utf8(field()?).ok()?;
        vars.push((name, SecretString::from(value)));
    }
    rest.is_empty().then_some(vars)
}
