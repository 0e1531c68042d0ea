//! Reading and writing secrets without leaving copies behind.
//!
//! - Input (standard input, `-`, key files) lands in buffers that never grow
//!   by `Vec` reallocation, which would free the old block unwiped: a full
//!   buffer is copied into one twice its size and the old one is wiped
//!   before it is freed.
//! - Key files that group or others can access are refused, as ssh refuses
//!   private keys.
//! - JSON holding a secret is written straight to its destination, never
//!   built as a `serde_json::Value` (whose strings are freed unwiped).
//!
//! Self-contained (std, zeroize, serde, serde_json): `tests/wipe.rs` compiles
//! this file too and proves with a capturing allocator that nothing here is
//! freed unwiped.

use std::io::{self, Read, Write};
use std::path::Path;

use serde::ser::{Serialize, SerializeMap as _, Serializer};
use zeroize::Zeroizing;

/// The first buffer for input of unknown size.
const FIRST_CAPACITY: usize = 8 * 1024;

/// Reads `reader` to its end. The buffer is wiped on drop, and so is every
/// smaller buffer it outgrew. `size_hint` (a file's size) sizes the first
/// buffer, one byte larger so that seeing the end needs no growth.
pub fn read_to_end(
    reader: &mut impl Read,
    size_hint: Option<u64>,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let first = size_hint
        .and_then(|n| usize::try_from(n).ok())
        .map_or(FIRST_CAPACITY, |n| n.saturating_add(1))
        .max(64);
    read_until(reader, first, false)
}

/// Reads one line (up to and including `\n`, or to the end), one byte at a
/// time so that nothing past the line is consumed. For a terminal.
pub fn read_line(reader: &mut impl Read) -> io::Result<Zeroizing<Vec<u8>>> {
    read_until(reader, 256, true)
}

/// Reads until the end or, for a `line`, until a newline (one byte at a
/// time).
fn read_until(reader: &mut impl Read, first: usize, line: bool) -> io::Result<Zeroizing<Vec<u8>>> {
    // Initialised (zeroed) so `read` can write into it.
    let mut buffer = Zeroizing::new(vec![0u8; first]);
    let mut len = 0;
    loop {
        if len == buffer.len() {
            let larger = buffer
                .len()
                .checked_mul(2)
                .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "input too large"))?;
            let mut grown = Zeroizing::new(vec![0u8; larger]);
            grown[..len].copy_from_slice(&buffer[..len]);
            // The old buffer is wiped as it is dropped here.
            buffer = grown;
        }
        let end = if line { len + 1 } else { buffer.len() };
        match reader.read(&mut buffer[len..end]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
        if line && buffer[len - 1] == b'\n' {
            break;
        }
    }
    // Shrinks the length only: the bytes past it stay in the same block,
    // which `Zeroizing` wipes whole (capacity included) on drop.
    buffer.truncate(len);
    Ok(buffer)
}

/// Why a key file was not read.
#[derive(Debug)]
pub enum KeyFileError {
    /// It could not be opened or read.
    Io(io::Error),
    /// Group or others may access it; `mode` is its permission bits.
    TooOpen {
        /// The permission bits (`0o644`).
        mode: u32,
    },
}

/// Reads a key file through one handle: its permissions are checked on the
/// file that is then read, not on a path that could be swapped between the
/// two. On Unix a file that grants group or others any access is refused.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let mut file = std::fs::File::open(path).map_err(KeyFileError::Io)?;
    let metadata = file.metadata().map_err(KeyFileError::Io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { mode });
        }
    }
    read_to_end(&mut file, Some(metadata.len())).map_err(KeyFileError::Io)
}

/// Writes one pretty JSON object and a newline to `out`: the entries of
/// `fields`, then `name` with the value `secret`. The secret goes from its
/// buffer to `out` with no copy on the way.
pub fn write_json_with_secret(
    out: &mut impl Write,
    fields: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    secret: &str,
) -> io::Result<()> {
    struct Object<'a> {
        fields: &'a serde_json::Map<String, serde_json::Value>,
        name: &'a str,
        secret: &'a str,
    }

    impl Serialize for Object<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.fields.len() + 1))?;
            for (key, value) in self.fields {
                map.serialize_entry(key, value)?;
            }
            map.serialize_entry(self.name, self.secret)?;
            map.end()
        }
    }

    serde_json::to_writer_pretty(
        &mut *out,
        &Object {
            fields,
            name,
            secret,
        },
    )
    .map_err(io::Error::from)?;
    writeln!(out)
}
