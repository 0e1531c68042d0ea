//! Attack tests: each one plays an attacker against a promise the crate
//! makes, and must fail on code that breaks the promise.

#[cfg(feature = "cli")]
#[path = "attacks/cli.rs"]
mod cli;
