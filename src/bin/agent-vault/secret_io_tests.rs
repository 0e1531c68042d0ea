//! Unit tests of `secret_io`, kept apart so that `tests/wipe.rs`, which
//! compiles `secret_io.rs` too, runs no test but its own.

use std::io::{self, Read};

use crate::secret_io::*;

/// Hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn reads_everything_across_growth() {
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    for (hint, step) in [
        (None, 7),
        (None, 4096),
        (Some(10), 1000),
        (Some(50_000), 50_000),
    ] {
        let read = read_to_end(&mut Trickle { data: &data, step }, hint).unwrap();
        assert_eq!(read.as_slice(), data.as_slice(), "{hint:?} {step}");
    }
    assert!(read_to_end(&mut io::empty(), None).unwrap().is_empty());
}

#[test]
fn a_line_stops_at_its_newline() {
    let mut input: &[u8] = b"first line\nsecond";
    assert_eq!(read_line(&mut input).unwrap().as_slice(), b"first line\n");
    assert_eq!(input, b"second");
    assert_eq!(read_line(&mut input).unwrap().as_slice(), b"second");
    let long = vec![b'x'; 1000];
    assert_eq!(read_line(&mut long.as_slice()).unwrap().len(), 1000);
}

#[test]
fn json_with_a_secret_is_one_object() {
    let mut fields = serde_json::Map::new();
    fields.insert("added".into(), 2.into());
    let mut out = Vec::new();
    write_json_with_secret(&mut out, &fields, "master_keys", "*1:a\"b").unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({ "added": 2, "master_keys": "*1:a\"b" })
    );
    assert!(out.ends_with(b"}\n"));
}

#[cfg(unix)]
#[test]
fn key_files_open_to_group_or_others_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "key text\n").unwrap();
    for mode in [0o644, 0o640, 0o604, 0o620, 0o601, 0o700 | 0o004] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match read_key_file(&path) {
            Err(KeyFileError::TooOpen { mode: seen }) => assert_eq!(seen, mode),
            other => panic!("{mode:o}: {other:?}"),
        }
    }
    for mode in [0o600, 0o400, 0o700] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let read = read_key_file(&path).unwrap();
        assert_eq!(read.as_slice(), b"key text\n", "{mode:o}");
    }
    assert!(matches!(
        read_key_file(&dir.path().join("missing")),
        Err(KeyFileError::Io(e)) if e.kind() == io::ErrorKind::NotFound
    ));
}
