//! Attack tests: each one plays an attacker against a promise of the vault
//! and must fail on the code before the fix it guards.

#[path = "attacks/import.rs"]
mod import;
