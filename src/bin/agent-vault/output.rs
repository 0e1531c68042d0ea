//! Printing: one JSON document, or aligned text columns.

use std::io::Write as _;

use serde_json::Value;

use crate::failure::Failure;

/// Prints `value` as one pretty JSON document on standard output.
pub fn json(value: &Value) -> Result<(), Failure> {
    json_of(value)
}

/// Prints anything serialisable as one pretty JSON document, written
/// straight to standard output (no `Value` in between).
pub fn json_of(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| Failure::io("writing standard output", e.into()))?;
    writeln!(out).map_err(|e| Failure::io("writing standard output", e))
}

/// Prints `fields` and then `name: secret` as one pretty JSON object on
/// standard output, with no unwiped copy of the secret on the way (see
/// `secret_io::write_json_with_secret`).
pub fn json_with_secret(
    fields: serde_json::Map<String, Value>,
    name: &str,
    secret: &str,
) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    crate::secret_io::write_json_with_secret(&mut out, &fields, name, secret)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("writing standard output", e))
}

/// Prints one line of text on standard output.
pub fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{text}")
        .map_err(|e| Failure::io("writing standard output", e))
}

/// Prints rows as columns separated by two spaces, the last column unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    line(render(&mut header.iter().copied()))?;
    for row in rows {
        line(render(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// A value for a one-line text cell: control characters escaped.
pub fn cell(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_owned()
    }
}
