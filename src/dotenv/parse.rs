//! The parser: one forward pass over the borrowed input.
//!
//! Every delimiter of the grammar is ASCII, so scanning bytes and slicing the
//! `&str` at delimiter positions always lands on character boundaries.

use std::cell::Cell;
use std::collections::HashMap;

use zeroize::Zeroizing;

use super::{
    Dotenv, Duplicate, Entry, MAX_WARNINGS, ParseError, ParseErrorKind, ParseOptions, Warning,
    WarningKind, is_valid_name,
};

const BOM: &[u8] = "\u{feff}".as_bytes();

pub(super) fn parse(input: &[u8], options: &ParseOptions) -> Result<Dotenv, ParseError> {
    if input.len() > options.max_file_size {
        return Err(ParseError {
            line: 0,
            column: 0,
            kind: ParseErrorKind::FileTooLarge {
                limit: options.max_file_size,
            },
        });
    }
    let src = check_text(input)?;
    let mut parser = Parser {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
        options,
        // A rough guess of one entry per 64 bytes saves most regrowth.
        entries: Vec::with_capacity(input.len() / 64),
        index: HashMap::with_capacity(input.len() / 64),
        duplicates: Vec::new(),
        warnings: Vec::new(),
        warning_count: 0,
        column_cursor: Cell::new((0, 1)),
        total: 0,
        expanded: 0,
        value_line: 1,
        value_column: 1,
    };
    if src.as_bytes().starts_with(BOM) {
        parser.pos = BOM.len();
        parser.line_start = BOM.len();
    }
    parser.run()?;
    Ok(Dotenv {
        entries: parser.entries,
        duplicates: parser.duplicates,
        warnings: parser.warnings,
        warning_count: parser.warning_count,
    })
}

/// Checks that the input is UTF-8 without NUL, reporting whichever problem
/// comes first in the file.
fn check_text(input: &[u8]) -> Result<&str, ParseError> {
    // `contains` is memchr-fast; the position is only needed on the error path.
    let nul = if input.contains(&0) {
        input.iter().position(|&b| b == 0)
    } else {
        None
    };
    match std::str::from_utf8(input) {
        Ok(text) => match nul {
            Some(at) => Err(locate(input, at, ParseErrorKind::NulByte)),
            None => Ok(text),
        },
        Err(error) => {
            let bad = error.valid_up_to();
            match nul {
                Some(at) if at < bad => Err(locate(input, at, ParseErrorKind::NulByte)),
                _ => Err(locate(input, bad, ParseErrorKind::InvalidUtf8)),
            }
        }
    }
}

/// The error at byte `at` of `input`, counting lines and columns as the parser
/// does. Only used on error paths, so scanning from the start is fine; `at`
/// never points inside the byte-order mark (whose bytes are valid UTF-8 and
/// not NUL), and everything before `at` is valid UTF-8.
fn locate(input: &[u8], at: usize, kind: ParseErrorKind) -> ParseError {
    let start = if input.starts_with(BOM) { BOM.len() } else { 0 };
    let mut line: u32 = 1;
    let mut line_start = start;
    let mut i = start;
    while i < at {
        match input[i] {
            b'\n' => {
                line = line.saturating_add(1);
                line_start = i + 1;
            }
            b'\r' => {
                if i + 1 < at && input[i + 1] == b'\n' {
                    i += 1;
                }
                line = line.saturating_add(1);
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let chars = input[line_start..at]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    ParseError {
        line,
        column: to_u32(chars.saturating_add(1)),
        kind,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whitespace that ends a line harmlessly: a blank, a vertical tab or a form
/// feed. dotenvy, python-dotenv, node, Ruby and Compose all trim the last two
/// after a value as whitespace; a value must not silently keep an invisible
/// byte an editor or a copy from a terminal left behind.
fn is_trailing_space(b: u8) -> bool {
    is_blank(b) || b == 0x0B || b == 0x0C
}

fn is_ref_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ref_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Unquoted,
    Single,
    Double,
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Current line (1-based) and the byte offset where it starts.
    line: u32,
    line_start: usize,
    options: &'a ParseOptions,
    entries: Vec<Entry>,
    /// Name (borrowed from the input) to its index in `entries`, for
    /// duplicates and references.
    index: HashMap<&'a str, usize>,
    duplicates: Vec<Duplicate>,
    /// The first [`MAX_WARNINGS`] warnings; `warning_count` counts them all.
    warnings: Vec<Warning>,
    warning_count: usize,
    /// A byte offset on the current line and its column, so that columns
    /// further along the line are counted from there rather than from the
    /// start of the line: the parser only moves forward, so all the column
    /// computations of a line together scan it once. Stale (before
    /// `line_start`) after a line break.
    column_cursor: Cell<(usize, u32)>,
    /// Sum of the lengths of the values currently held in `entries`.
    total: usize,
    /// Bytes that references have expanded to so far, in the whole file
    /// (including values since replaced), against
    /// [`ParseOptions::max_expansion_size`].
    expanded: usize,
    /// Where the value being decoded starts, for size errors.
    value_line: u32,
    value_column: u32,
}

impl<'a> Parser<'a> {
    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            self.skip_blanks();
            match self.bytes.get(self.pos) {
                None => return Ok(()),
                Some(b'\n' | b'\r') => self.newline(),
                Some(b'#') => self.skip_comment(),
                Some(_) => {
                    self.assignment()?;
                    self.end_of_line()?;
                }
            }
        }
    }

    /// The column of byte `at` of the current line, in amortised constant
    /// time (see `column_cursor`).
    fn column(&self, at: usize) -> u32 {
        let (mut from, mut column) = self.column_cursor.get();
        if from < self.line_start || from > at {
            (from, column) = (self.line_start, 1);
        }
        // Counting the bytes that start a character counts Unicode scalar
        // values; `from` and `at` are character boundaries.
        let chars = self.bytes[from..at]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        let column = column.saturating_add(to_u32(chars));
        self.column_cursor.set((at, column));
        column
    }

    /// The column of `at` when everything between the start of the line and
    /// `at` is ASCII, which holds for keys and value starts: only blanks,
    /// `export`, a valid (ASCII) name and `=` can precede them. This avoids
    /// counting characters for every entry.
    fn ascii_column(&self, at: usize) -> u32 {
        debug_assert!(self.bytes[self.line_start..at].is_ascii());
        to_u32(at - self.line_start + 1)
    }

    fn error(&self, at: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column(at),
            kind,
        }
    }

    fn skip_blanks(&mut self) {
        while self.bytes.get(self.pos).is_some_and(|&b| is_blank(b)) {
            self.pos += 1;
        }
    }

    /// Consumes one line break (`\n`, `\r\n` or `\r`) at `pos`.
    fn newline(&mut self) {
        if self.bytes.get(self.pos) == Some(&b'\r') && self.bytes.get(self.pos + 1) == Some(&b'\n')
        {
            self.pos += 1;
        }
        self.pos += 1;
        self.line = self.line.saturating_add(1);
        self.line_start = self.pos;
    }

    /// Moves to the line break (or end of input) that ends the comment.
    fn skip_comment(&mut self) {
        let rest = &self.bytes[self.pos..];
        self.pos += rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
    }

    /// After a value: only blanks (and vertical tabs or form feeds, see
    /// `is_trailing_space`) and a comment may remain on the line.
    fn end_of_line(&mut self) -> Result<(), ParseError> {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|&b| is_trailing_space(b))
        {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            None | Some(b'\n' | b'\r') => Ok(()),
            Some(b'#') => {
                self.skip_comment();
                Ok(())
            }
            Some(_) => Err(self.error(self.pos, ParseErrorKind::TrailingCharacters)),
        }
    }

    fn assignment(&mut self) -> Result<(), ParseError> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(b"export") && rest.get(6).is_some_and(|&b| is_blank(b)) {
            let mut after = self.pos + 6;
            while self.bytes.get(after).is_some_and(|&b| is_blank(b)) {
                after += 1;
            }
            // `export = 1` defines a key named `export`; only a following name
            // makes it a prefix.
            if self.bytes.get(after) != Some(&b'=') {
                self.pos = after;
            }
        }

        let name_start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b'=' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
        let name = &self.src[name_start..self.pos];
        if name.is_empty() && self.bytes.get(self.pos) != Some(&b'=') {
            // `export` followed by blanks and nothing else.
            return Err(self.error(self.pos, ParseErrorKind::MissingEquals));
        }
        if !is_valid_name(name) {
            return Err(self.error(name_start, ParseErrorKind::InvalidName));
        }
        let line = self.line;
        let column = self.ascii_column(name_start);

        self.skip_blanks();
        if self.bytes.get(self.pos) != Some(&b'=') {
            return Err(self.error(self.pos, ParseErrorKind::MissingEquals));
        }
        self.pos += 1;
        self.skip_blanks();

        self.value_line = self.line;
        self.value_column = self.ascii_column(self.pos);
        let value = match self.bytes.get(self.pos) {
            Some(b'\'') => self.quoted(b'\'', name)?,
            Some(b'"') => self.quoted(b'"', name)?,
            _ => self.unquoted(name)?,
        };
        self.store(name, line, column, value)
    }

    fn store(
        &mut self,
        name: &'a str,
        line: u32,
        column: u32,
        text: Zeroizing<String>,
    ) -> Result<(), ParseError> {
        // `text` is the name followed by the value (see `Entry`).
        let value_len = text.len() - name.len();
        let existing = self.index.get(name).copied();
        let replaced = existing.map_or(0, |i| self.entries[i].value().len());
        self.total = self.total - replaced + value_len;
        if self.total > self.options.max_total_value_size {
            return Err(self.value_error(ParseErrorKind::ValuesTooLarge {
                limit: self.options.max_total_value_size,
            }));
        }
        match existing {
            Some(i) => {
                let entry = &mut self.entries[i];
                self.duplicates.push(Duplicate {
                    name: name.to_owned(),
                    line,
                    column,
                    previous_line: entry.line,
                    previous_column: entry.column,
                });
                entry.text = text;
                entry.line = line;
                entry.column = column;
            }
            None => {
                self.index.insert(name, self.entries.len());
                self.entries.push(Entry {
                    text,
                    name_len: name.len(),
                    line,
                    column,
                });
            }
        }
        Ok(())
    }

    fn value_error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.value_line,
            column: self.value_column,
            kind,
        }
    }

    /// A quoted value starting at the opening `quote` at `pos`.
    fn quoted(&mut self, quote: u8, name: &str) -> Result<Zeroizing<String>, ParseError> {
        let open = self.pos;
        let body_start = open + 1;
        let close = if quote == b'\'' {
            self.bytes[body_start..]
                .iter()
                .position(|&b| b == b'\'')
                .map(|n| body_start + n)
        } else {
            // Skip escaped characters, so that `\"` does not close the value.
            let mut i = body_start;
            loop {
                match self.bytes.get(i) {
                    None => break None,
                    Some(b'"') => break Some(i),
                    Some(b'\\') => i += 2,
                    Some(_) => i += 1,
                }
            }
        };
        let Some(close) = close else {
            return Err(self.error(open, ParseErrorKind::UnterminatedQuote));
        };
        let quoting = if quote == b'\'' {
            Quoting::Single
        } else {
            Quoting::Double
        };
        let value = self.decode(body_start, close, quoting, name)?;
        self.pos = close + 1;
        Ok(value)
    }

    fn unquoted(&mut self, name: &str) -> Result<Zeroizing<String>, ParseError> {
        let start = self.pos;
        let mut end = start;
        let mut plain = true;
        while let Some(&b) = self.bytes.get(end) {
            match b {
                b'\n' | b'\r' => break,
                // A `#` starts a comment only after a blank; `end > 0`
                // because a `=` precedes every value.
                b'#' if is_blank(self.bytes[end - 1]) => break,
                b'$' | b'\\' => plain = false,
                _ => {}
            }
            end += 1;
        }
        self.pos = end;
        while end > start && is_trailing_space(self.bytes[end - 1]) {
            end -= 1;
        }
        if plain {
            // Nothing to decode: copy the text as it is.
            let mut out =
                SecretBuf::for_entry(name, (end - start).min(self.options.max_value_size));
            self.push(&mut out, &self.src[start..end])?;
            return Ok(out.0);
        }
        self.decode(start, end, Quoting::Unquoted, name)
    }

    /// Decodes the value text `start..end` (without quotes): escapes,
    /// references and line breaks, following the lines as it goes.
    fn decode(
        &mut self,
        start: usize,
        end: usize,
        quoting: Quoting,
        name: &str,
    ) -> Result<Zeroizing<String>, ParseError> {
        let limit = self.options.max_value_size;
        let mut out = SecretBuf::for_entry(name, (end - start).min(limit));
        let mut run = start;
        let mut i = start;
        while i < end {
            // Jump over ordinary text; it is copied in bulk with `run`.
            let special = |b: u8| {
                b == b'\n'
                    || b == b'\r'
                    || (quoting != Quoting::Single && (b == b'\\' || b == b'$'))
            };
            match self.bytes[i..end].iter().position(|&b| special(b)) {
                Some(n) => i += n,
                None => break,
            }
            match self.bytes[i] {
                b'\\' if quoting != Quoting::Single => {
                    let next = if i + 1 < end { self.bytes[i + 1] } else { 0 };
                    let replacement = match (quoting, next) {
                        (_, b'$') => "$",
                        (Quoting::Double, b'n') => "\n",
                        (Quoting::Double, b'r') => "\r",
                        (Quoting::Double, b't') => "\t",
                        (Quoting::Double, b'"') => "\"",
                        (Quoting::Double, b'\'') => "'",
                        (Quoting::Double, b'\\') => "\\",
                        // Any other backslash is literal.
                        _ => {
                            i += 1;
                            continue;
                        }
                    };
                    self.push(&mut out, &self.src[run..i])?;
                    self.push(&mut out, replacement)?;
                    i += 2;
                    run = i;
                }
                b'$' if quoting != Quoting::Single => {
                    self.push(&mut out, &self.src[run..i])?;
                    i = self.reference(i, end, &mut out)?;
                    run = i;
                }
                b @ (b'\n' | b'\r') => {
                    // Only quoted values contain line breaks; all become `\n`.
                    self.push(&mut out, &self.src[run..i])?;
                    self.push(&mut out, "\n")?;
                    i += 1;
                    if b == b'\r' && i < end && self.bytes[i] == b'\n' {
                        i += 1;
                    }
                    self.line = self.line.saturating_add(1);
                    self.line_start = i;
                    run = i;
                }
                _ => i += 1,
            }
        }
        self.push(&mut out, &self.src[run..end])?;
        Ok(out.0)
    }

    fn push(&self, out: &mut SecretBuf, text: &str) -> Result<(), ParseError> {
        if out.0.len() - out.1 + text.len() > self.options.max_value_size {
            return Err(self.value_error(ParseErrorKind::ValueTooLarge {
                limit: self.options.max_value_size,
            }));
        }
        out.push_str(text);
        Ok(())
    }

    /// Expands the reference whose `$` is at `dollar`, returning where
    /// decoding continues.
    fn reference(
        &mut self,
        dollar: usize,
        end: usize,
        out: &mut SecretBuf,
    ) -> Result<usize, ParseError> {
        let at = |i: usize| if i < end { self.bytes[i] } else { 0 };
        let (name, default, next) = match at(dollar + 1) {
            b'{' => {
                let name_start = dollar + 2;
                let mut i = name_start;
                if !is_ref_start(at(i)) {
                    return Err(self.error(dollar, ParseErrorKind::InvalidReference));
                }
                while is_ref_char(at(i)) {
                    i += 1;
                }
                let name = &self.src[name_start..i];
                if at(i) == b'}' {
                    (name, None, i + 1)
                } else if at(i) == b':' && at(i + 1) == b'-' {
                    let default_start = i + 2;
                    let Some(len) = self.bytes[default_start..end]
                        .iter()
                        .position(|&b| matches!(b, b'}' | b'$' | b'\\' | b'\n' | b'\r'))
                        .filter(|&n| self.bytes[default_start + n] == b'}')
                    else {
                        return Err(self.error(dollar, ParseErrorKind::InvalidReference));
                    };
                    let default_end = default_start + len;
                    (
                        name,
                        Some(&self.src[default_start..default_end]),
                        default_end + 1,
                    )
                } else {
                    return Err(self.error(dollar, ParseErrorKind::InvalidReference));
                }
            }
            b if is_ref_start(b) => {
                let mut i = dollar + 2;
                while is_ref_char(at(i)) {
                    i += 1;
                }
                (&self.src[dollar + 1..i], None, i)
            }
            _ => {
                // Not a reference: a literal `$` (this covers `$(cmd)`).
                self.push(out, "$")?;
                return Ok(dollar + 1);
            }
        };

        let current = self.index.get(name).map(|&i| self.entries[i].value());
        let expansion = match (current, default) {
            (Some(""), Some(default)) => default,
            (Some(value), _) => value,
            (None, Some(default)) => default,
            (None, None) => {
                self.warn_undefined(dollar, name);
                return Ok(next);
            }
        };
        // Checked before copying, so that a file whose references would
        // expand to gigabytes stops after `max_expansion_size` bytes of work.
        let expanded = self.expanded.saturating_add(expansion.len());
        if expanded > self.options.max_expansion_size {
            return Err(self.error(
                dollar,
                ParseErrorKind::ExpansionTooLarge {
                    limit: self.options.max_expansion_size,
                },
            ));
        }
        self.expanded = expanded;
        self.push(out, expansion)?;
        Ok(next)
    }

    /// Records an undefined reference: counted always, kept (with a column
    /// and a copy of the name) only while fewer than [`MAX_WARNINGS`] are, so
    /// that a line of a million `$U` costs a counter increment per reference.
    fn warn_undefined(&mut self, dollar: usize, name: &str) {
        self.warning_count = self.warning_count.saturating_add(1);
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                line: self.line,
                column: self.column(dollar),
                kind: WarningKind::UndefinedReference {
                    name: name.to_owned(),
                },
            });
        }
    }
}

/// A growable string that never leaves an unzeroised copy behind: when it must
/// grow, it moves to a new zeroising allocation and the old one is wiped on
/// drop, instead of letting `String` reallocate.
///
/// The second field is the length of a prefix (an entry's name) that does not
/// count towards the value-size limit.
pub(super) struct SecretBuf(pub(super) Zeroizing<String>, usize);

impl SecretBuf {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(String::with_capacity(capacity)), 0)
    }

    /// A buffer for an [`Entry`]'s text: the name, then room for the value.
    fn for_entry(name: &str, value_capacity: usize) -> Self {
        let mut buf = Self::with_capacity(name.len() + value_capacity);
        buf.push_str(name);
        buf.1 = name.len();
        buf
    }

    pub(super) fn push_str(&mut self, text: &str) {
        let needed = self.0.len() + text.len();
        if needed > self.0.capacity() {
            let mut grown = String::with_capacity(needed.max(self.0.capacity() * 2));
            grown.push_str(&self.0);
            // The old buffer is zeroised when `Zeroizing` drops it here.
            self.0 = Zeroizing::new(grown);
        }
        self.0.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_buf_grows_without_losing_text() {
        let mut buf = SecretBuf::with_capacity(2);
        let mut expected = String::new();
        for i in 0..100 {
            let piece = format!("{i}é,");
            buf.push_str(&piece);
            expected.push_str(&piece);
        }
        assert_eq!(buf.0.as_str(), expected);
        assert!(buf.0.capacity() >= expected.len());
    }

    #[test]
    fn locate_counts_every_line_ending_and_skips_the_bom() {
        let input = b"\xef\xbb\xbfA=1\r\nB=2\rC=3\nD=\xc3\xa9\0";
        let nul = input.len() - 1;
        let error = locate(input, nul, ParseErrorKind::NulByte);
        assert_eq!((error.line, error.column), (4, 4));
        let error = locate(input, 3, ParseErrorKind::NulByte);
        assert_eq!((error.line, error.column), (1, 1));
    }

    #[test]
    fn nul_and_invalid_utf8_report_whichever_comes_first() {
        let nul_first = check_text(b"A=\0\xff").expect_err("broken");
        assert_eq!(
            (nul_first.kind, nul_first.column),
            (ParseErrorKind::NulByte, 3)
        );
        let utf8_first = check_text(b"A=\xff\0").expect_err("broken");
        assert_eq!(
            (utf8_first.kind, utf8_first.column),
            (ParseErrorKind::InvalidUtf8, 3)
        );
    }
}
