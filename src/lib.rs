//! agent-vault (work in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
pub mod dotenv;
