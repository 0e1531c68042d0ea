//! Helpers shared by the integration tests (each test binary uses a part).
#![allow(dead_code, unused_imports)]

pub mod at_rest;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod stores;
pub mod stress;
