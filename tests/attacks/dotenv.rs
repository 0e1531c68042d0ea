//! Hostile `.env` inputs that once made parsing quadratic or made it copy
//! gigabytes, blocking an async worker inside `Vault::import_dotenv`.
//!
//! Each test feeds a 1 MiB input (the default size limit) and checks the
//! outcome, plus a wall-clock bound that is deliberately generous: it only
//! catches a return of the quadratic path, never a slow machine. Measured in
//! the test profile (opt-level 1) on a loaded 2-core machine:
//!
//! | input | before the fix | after |
//! |---|---|---|
//! | one line `A=vv$U$U…` (524 286 undefined references) | 25.3 s | 52 ms |
//! | `X=<64 KiB>` then `A=$X` lines (12.9 GB of expansion) | 6.3 s, parsed | 3 ms, refused |
//!
//! The bound, 1 s, is about 20 times the linear time and 25 times below the
//! quadratic one (6 times below the 12.9 GB copy, which the expansion budget
//! now refuses after 4 MiB).

use std::time::{Duration, Instant};

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::dotenv::{
    self, DEFAULT_MAX_EXPANSION_SIZE, MAX_WARNINGS, ParseErrorKind, WarningKind,
};
use agent_vault::store::MemoryStore;
use agent_vault::{Error, ImportOptions, UserId, Vault};

const ONE_MIB: usize = 1024 * 1024;
const X_SIZE: usize = 64 * 1024;
const BOUND: Duration = Duration::from_secs(1);

/// `A=vv` then `$U` up to exactly 1 MiB: one line of 524 286 references to a
/// name that is never defined, each a warning.
fn undefined_references_line() -> (Vec<u8>, usize) {
    let mut input = b"A=vv".to_vec();
    let mut references = 0;
    while input.len() + 2 <= ONE_MIB {
        input.extend_from_slice(b"$U");
        references += 1;
    }
    (input, references)
}

/// `X=` a 64 KiB value, then `A=$X` lines up to 1 MiB: each redefines `A`
/// with a fresh 64 KiB copy of `X`, 12.9 GB in all.
fn redefinitions_of_a_large_reference() -> Vec<u8> {
    let mut input = b"X=".to_vec();
    input.resize(2 + X_SIZE, b'x');
    input.push(b'\n');
    while input.len() + 5 <= ONE_MIB {
        input.extend_from_slice(b"A=$X\n");
    }
    input
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(
        took < BOUND,
        "{what} took {took:?}, over {BOUND:?}: parsing is no longer linear"
    );
    out
}

#[test]
fn mebibyte_of_undefined_references_parses_in_linear_time_with_capped_warnings() {
    let (input, references) = undefined_references_line();
    assert_eq!(input.len(), ONE_MIB);
    let env = timed("undefined references", || dotenv::parse(&input))
        .expect("undefined references are warnings, not errors");

    assert_eq!(env.get("A"), Some("vv"));
    assert_eq!(env.warning_count(), references);
    assert_eq!(env.warnings().len(), MAX_WARNINGS);
    // The kept warnings are the first ones, with exact columns: `A=vv` takes
    // columns 1 to 4, so the n-th `$U` (from 0) starts at column 5 + 2n.
    for (n, warning) in env.warnings().iter().enumerate() {
        assert_eq!((warning.line(), warning.column()), (1, 5 + 2 * n as u32));
        assert_eq!(
            warning.kind(),
            &WarningKind::UndefinedReference { name: "U".into() }
        );
    }
}

#[test]
fn redefinitions_copying_a_64k_value_stop_at_the_expansion_budget() {
    let input = redefinitions_of_a_large_reference();
    assert!(input.len() <= ONE_MIB && input.len() > ONE_MIB - 5);
    let error = timed("redefinitions", || dotenv::parse(&input))
        .expect_err("12.9 GB of expansion is over the budget");

    assert_eq!(
        error.kind(),
        &ParseErrorKind::ExpansionTooLarge {
            limit: DEFAULT_MAX_EXPANSION_SIZE
        }
    );
    // The budget holds exactly `budget / 64 KiB` copies; the next `A=$X`
    // crosses it. `X` is line 1, so that is line 2 + budget / 64 KiB, and
    // the position is its `$`.
    let copies = DEFAULT_MAX_EXPANSION_SIZE / X_SIZE;
    assert_eq!((error.line(), error.column()), (2 + copies as u32, 3));
    assert!(!error.to_string().contains("xxxx"), "{error}");
}

fn vault() -> (Vault<MemoryStore>, UserId) {
    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    (vault, UserId::parse("alice").expect("valid user"))
}

#[tokio::test]
async fn import_of_undefined_references_stays_linear_and_counts_every_warning() {
    let (vault, user) = vault();
    let (input, references) = undefined_references_line();
    let options = ImportOptions::default().dry_run(true);
    let start = Instant::now();
    let report = vault
        .import_dotenv(&user, &input, &options)
        .await
        .expect("a dry run of a valid file succeeds");
    let took = start.elapsed();
    eprintln!("import of undefined references: {took:?}");
    assert!(took < BOUND, "import took {took:?}, over {BOUND:?}");

    assert!(report.dry_run);
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.warnings.len(), MAX_WARNINGS);
    assert_eq!(report.warning_count, references);
    assert_eq!(
        report.warnings[0],
        "line 1, column 5: `U` is not defined earlier in the file; it expanded to an empty string"
    );
}

#[tokio::test]
async fn import_of_redefinitions_copying_a_64k_value_is_refused_with_a_typed_error() {
    let (vault, user) = vault();
    let input = redefinitions_of_a_large_reference();
    let start = Instant::now();
    let result = vault
        .import_dotenv(&user, &input, &ImportOptions::default().dry_run(true))
        .await;
    let took = start.elapsed();
    eprintln!("import of redefinitions: {took:?}");
    assert!(took < BOUND, "import took {took:?}, over {BOUND:?}");
    match result {
        Err(Error::Dotenv(error)) => assert!(
            matches!(error.kind(), ParseErrorKind::ExpansionTooLarge { .. }),
            "{error}"
        ),
        other => panic!("expected an expansion error, got {other:?}"),
    }
}
