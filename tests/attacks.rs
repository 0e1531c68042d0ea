//! Attack tests: hostile inputs and callers, one module per area.

#[path = "attacks/dotenv.rs"]
mod dotenv;
