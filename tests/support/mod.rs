//! Helpers shared by the integration tests (each test binary uses a part).
#![allow(dead_code, unused_imports)]

#[cfg(feature = "postgres")]
pub mod pg;
