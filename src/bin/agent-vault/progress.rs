//! A dependency-free progress indicator for long commands: one line per
//! step on standard error, only when standard error is a terminal.

use std::io::IsTerminal as _;
use std::time::Instant;

/// Steps of a long command.
pub struct Progress {
    enabled: bool,
    started: Instant,
}

impl Progress {
    /// Shown only if standard error is a terminal.
    pub fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    /// Whether lines are shown.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Reports the start of a step.
    pub fn step(&self, text: std::fmt::Arguments<'_>) {
        if self.enabled {
            let ms = self.started.elapsed().as_millis();
            eprintln!("[{ms:>6} ms] {text}");
        }
    }
}
