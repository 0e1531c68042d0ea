//! Helpers shared by the integration tests (each test binary uses a part).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod at_rest;
pub mod backends;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod stores;
pub mod stress;
