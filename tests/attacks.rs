//! Attacks on the vault's promises, one module per door. Each test is an
//! attack that succeeded before its fix; `docs/ROBUSTNESS.md` lists them
//! with what stops each.
//!
//! - an agent gets only what is attached, and never the master key;
//! - a revoked credential stays revoked;
//! - a wrong master key never writes;
//! - a secret's value can't be read back or confirmed by guessing;
//! - hostile input costs linear time.

#[cfg(feature = "cli")]
#[path = "attacks/cli.rs"]
mod cli;
#[cfg(feature = "cli")]
#[path = "attacks/cli_files.rs"]
mod cli_files;
#[path = "attacks/dotenv.rs"]
mod dotenv;
#[path = "attacks/hooks.rs"]
mod hooks;
#[path = "attacks/import.rs"]
mod import;
#[path = "attacks/keys.rs"]
mod keys;
#[cfg(feature = "cli")]
#[path = "attacks/pinata_key.rs"]
mod pinata_key;
#[path = "attacks/receipts.rs"]
mod receipts;
#[path = "attacks/revoked.rs"]
mod revoked;
