//! The serialiser: the inverse of the parser.

use zeroize::Zeroizing;

use super::parse::SecretBuf;
use super::{WriteError, is_valid_name};

/// Writes names and values as `.env` text that [`parse`](super::parse) reads
/// back to the same names and values.
///
/// Each pair becomes one `NAME=value` line ending in `\n`, in the given order.
/// A value made only of ASCII letters, digits and `_ - . / : @ + , = ? % &` is
/// written bare; any other non-empty value is double-quoted, with `\`, `"`,
/// `$`, line feed, carriage return and tab escaped (`\\`, `\"`, `\$`, `\n`,
/// `\r`, `\t`) and everything else written as is. If a name appears twice,
/// both lines are written and, when parsed, the later one wins.
///
/// The text is meant for this parser. Other parsers read it the same way
/// unless a value needs `\$` or a non-`\n` escape, which some of them do not
/// understand (see the compatibility table in the [module](super)
/// documentation).
///
/// # Errors
///
/// [`WriteError::InvalidName`] for a name outside the `.env` name grammar,
/// [`WriteError::NulInValue`] for a value containing NUL (the parser refuses
/// NUL anywhere in a file).
pub fn to_string<'a, I>(pairs: I) -> Result<Zeroizing<String>, WriteError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out = SecretBuf::with_capacity(256);
    for (name, value) in pairs {
        if !is_valid_name(name) {
            return Err(WriteError::InvalidName {
                name: name.to_owned(),
            });
        }
        if value.contains('\0') {
            return Err(WriteError::NulInValue {
                name: name.to_owned(),
            });
        }
        out.push_str(name);
        out.push_str("=");
        if value.bytes().all(is_bare) {
            out.push_str(value);
        } else {
            out.push_str("\"");
            let mut run = 0;
            for (i, b) in value.bytes().enumerate() {
                let escape = match b {
                    b'\\' => "\\\\",
                    b'"' => "\\\"",
                    b'$' => "\\$",
                    b'\n' => "\\n",
                    b'\r' => "\\r",
                    b'\t' => "\\t",
                    _ => continue,
                };
                // `i` is at an ASCII byte, so both slices are on character
                // boundaries.
                out.push_str(&value[run..i]);
                out.push_str(escape);
                run = i + 1;
            }
            out.push_str(&value[run..]);
            out.push_str("\"");
        }
        out.push_str("\n");
    }
    Ok(out.0)
}

/// Bytes that need no quoting anywhere in a value, for any mainstream parser.
fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'-' | b'.' | b'/' | b':' | b'@' | b'+' | b',' | b'=' | b'?' | b'%' | b'&'
        )
}
