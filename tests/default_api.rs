//! The crate docs' claim, checked: on the default features no public API
//! opens a sealed value or returns a per-user key, and the test helpers are
//! out of reach too.
//!
//! The package's own tests and doctests can't show this: its
//! dev-dependency on itself turns `hazmat` and `test-util` on for every test
//! build. So this test builds `tests/fixtures/default_api/` as a crate of
//! its own that depends on agent-vault as a service does, with cargo, in a
//! target directory under `CARGO_TARGET_TMPDIR` (the first run builds
//! agent-vault's dependencies once more; later runs reuse them):
//!
//! - the fixture's service code (`lib.rs`) compiles on the default features;
//! - `reach.rs`, which opens an envelope with `hazmat::Crypto::open`,
//!   derives a user key and names `FaultyStore` and `fuzzing`, fails there,
//!   and only because `hazmat`, `fuzzing`, `FaultyStore` and `FaultPlan`
//!   can't be found;
//! - the same `reach.rs` compiles once the fixture turns on agent-vault's
//!   `hazmat` and `test-util`, so nothing else was wrong with it;
//! - the old `crypto::` paths (`moved.rs`) can't be named even with both
//!   features: `hazmat` is the only way in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the fixture is built: its manifest (written here, so the source
/// tree is left alone), its lock file and its target directory.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("default_api");
    std::fs::create_dir_all(&dir).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/default_api/lib.rs");
    let manifest = format!(
        r#"[package]
name = "agent-vault-default-api"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
path = {fixture:?}

[dependencies]
agent-vault = {{ path = {root:?} }}

[features]
reach = []
moved = []
hazmat = ["agent-vault/hazmat"]
test-util = ["agent-vault/test-util"]

[workspace]
"#,
        fixture = fixture.display().to_string(),
        root = root.display().to_string(),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The package's own lock: the same dependency versions, and no
    // registry access (`--offline`).
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// `cargo check` of the fixture with `features`: whether it compiled, and
/// every error line.
fn check(dir: &Path, features: &str) -> (bool, Vec<String>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(["check", "--offline", "--quiet", "--message-format", "short"])
        .args(["--features", features])
        .arg("--target-dir")
        .arg(dir.join("target"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors = stderr
        .lines()
        .filter(|line| line.contains(": error"))
        .map(str::to_owned)
        .collect();
    (output.status.success(), errors)
}

/// Asserts that the check failed only because names could not be found
/// (`E0432`) or are private to agent-vault (`E0603`), and that those are
/// exactly `expected` (the last segment of each path).
fn assert_unreachable(features: &str, (ok, errors): (bool, Vec<String>), expected: &[&str]) {
    assert!(!ok, "`{features}` compiled");
    let mut named: Vec<String> = Vec::new();
    for line in &errors {
        // "error[E0432]: unresolved import(s) `a::b`, `a::c`: why" or
        // "error[E0603]: struct `B` is private: why".
        let (_, message) = line.split_once(": error[").unwrap_or_default();
        let names = match message.split_once("]: ") {
            Some(("E0432" | "E0603", text)) => text.split("`: ").next().unwrap_or_default(),
            _ => panic!("`{features}`: not an unresolved or private name: {line}"),
        };
        named.extend(
            names
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|path| path.rsplit("::").next().unwrap_or_default().to_owned()),
        );
    }
    named.sort();
    let mut expected: Vec<String> = expected.iter().map(|p| (*p).to_owned()).collect();
    expected.sort();
    assert_eq!(named, expected, "`{features}`: {errors:#?}");
}

#[test]
fn the_default_api_cannot_open_a_secret_or_reach_test_helpers() {
    let dir = work_dir();

    let (ok, errors) = check(&dir, "");
    assert!(ok, "a service's code fails on the default API: {errors:#?}");

    assert_unreachable(
        "reach",
        check(&dir, "reach"),
        &["fuzzing", "hazmat", "FaultPlan", "FaultyStore"],
    );

    let (ok, errors) = check(&dir, "reach,hazmat,test-util");
    assert!(ok, "`reach` fails even with the features: {errors:#?}");

    assert_unreachable(
        "moved,hazmat,test-util",
        check(&dir, "moved,hazmat,test-util"),
        &[
            "Binding",
            "Crypto",
            "CryptoError",
            "Purpose",
            "UserKeys",
            "derive_user_key",
            "key_check_value",
        ],
    );
}
