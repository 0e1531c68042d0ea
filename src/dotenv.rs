//! Parse and write `.env` files, without touching the process environment.
//!
//! This module is usable on its own: [`parse`] turns the bytes of a `.env`
//! file into a [`Dotenv`] (names, values, duplicates, warnings), and
//! [`to_string`] writes names and values back as `.env` text that [`parse`]
//! reads back identically. The vault applies its own, stricter name rules on
//! top; every [`Entry`] keeps the line and column of its key so that a refusal
//! can point at `line:column`.
//!
//! # Getting started
//!
//! ```
//! use agent_vault::dotenv;
//!
//! let input = b"# database\n\
//!     export DB_HOST=db.internal\n\
//!     DB_URL=\"postgres://app@${DB_HOST}:5432/app\" # inline comment\n\
//!     GREETING='hello $USER'\n\
//!     DB_HOST=replica.internal\n";
//! let env = dotenv::parse(input)?;
//!
//! assert_eq!(env.get("DB_URL"), Some("postgres://app@db.internal:5432/app"));
//! // Single quotes are literal, and `$USER` is never read from the process.
//! assert_eq!(env.get("GREETING"), Some("hello $USER"));
//! // Last definition wins; the duplicate is reported.
//! assert_eq!(env.get("DB_HOST"), Some("replica.internal"));
//! assert_eq!(env.duplicates()[0].line(), 5);
//! // Debug output never shows values.
//! assert!(!format!("{env:?}").contains("db.internal"));
//!
//! // Writing is the inverse of parsing.
//! let text = dotenv::to_string(env.entries().iter().map(|e| (e.name(), e.value())))?;
//! assert_eq!(dotenv::parse(text.as_bytes())?.get("DB_URL"), env.get("DB_URL"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Grammar
//!
//! The input is UTF-8 (a leading byte-order mark is skipped) without NUL
//! bytes (an environment variable cannot carry NUL, so no value may hold
//! one). Lines end with `\n`, `\r\n` or a lone `\r`; all three count as one
//! line break. A "blank" is a space or a tab; at the end of a value a
//! vertical tab (`\x0B`) or form feed (`\x0C`) is trimmed like a blank.
//!
//! ```text
//! file       = { line } ;
//! line       = blanks , [ assignment | comment ] , blanks , [ comment ] , line-end ;
//! comment    = "#" , { any character but a line end } ;
//! assignment = [ "export" , blank , blanks ] , name , blanks , "=" , blanks , value ;
//! name       = ( letter | "_" ) , { letter | digit | "_" | "." | "-" } ;   (ASCII)
//! value      = single-quoted | double-quoted | unquoted ;
//! ```
//!
//! - **Blank lines and comments.** Lines holding only blanks, or blanks and a
//!   `#` comment, are skipped.
//! - **`export` prefix.** `export NAME=value` is `NAME=value`. A key literally
//!   named `export` still works: `export=1`, `export = 1`.
//! - **Around `=`.** Blanks (spaces or tabs) before and after `=` are ignored.
//!   Everything after the first `=` belongs to the value, so values may contain
//!   `=` (`URL=https://x?a=b`).
//! - **Unquoted values** run to the end of the line or to a `#` that follows a
//!   blank, whichever comes first, with trailing blanks removed.
//!   `A=abc#def` is `abc#def`; `A=abc #def` and `A= #def` are `abc` and the
//!   empty string. Trailing vertical tabs and form feeds are removed too, as
//!   every mainstream parser does. A backslash is literal, except that `\$`
//!   is a literal `$`.
//!   References (below) are expanded. Quote characters inside an unquoted value
//!   (`A=it's`) are literal.
//! - **Single-quoted values** (`'...'`) are completely literal: no escapes, no
//!   references. They cannot contain `'`. They may span lines.
//! - **Double-quoted values** (`"..."`) may span lines (PEM keys) and
//!   understand the escapes `\n`, `\r`, `\t`, `\"`, `\\`, `\$` and `\'`; any
//!   other backslash is kept literally (`"C:\dir"` is `C:\dir`). References are
//!   expanded.
//! - After a closing quote only blanks (or vertical tabs and form feeds) and a
//!   comment may follow on that line.
//! - **Line breaks inside quoted values** become `\n` whatever the file uses
//!   (CRLF files give the same values as LF files). Write `\r` in a
//!   double-quoted value to get a carriage return.
//! - **Duplicate names**: the last definition wins, the entry keeps the
//!   position of its first appearance in the order of [`Dotenv::entries`] and
//!   the line and column of the definition that supplied the value, and every
//!   redefinition is reported in [`Dotenv::duplicates`].
//! - **Positions** are 1-based; columns count Unicode scalar values (a tab is
//!   one column), and the byte-order mark is not a column.
//!
//! # References (interpolation)
//!
//! In unquoted and double-quoted values, `$NAME`, `${NAME}` and
//! `${NAME:-default}` expand to the value of `NAME` **as defined earlier in the
//! same file**. The process environment is never read, and nothing is ever
//! executed.
//!
//! - In references, `NAME` is a shell identifier, `[A-Za-z_][A-Za-z0-9_]*`, so
//!   `$HOST.example.com` is the value of `HOST` followed by `.example.com`.
//!   Keys containing `.` or `-` can be defined but not referenced.
//! - `${NAME:-default}` gives `default` when `NAME` is undefined *or empty*
//!   (POSIX shell and Docker Compose semantics). The default is literal text up
//!   to the first `}`; it may not contain `$`, `\` or a line break.
//! - **An undefined reference** expands to the empty string and is reported as
//!   a [`Warning`] with the line and column of its `$` and the referenced name.
//!   The first [`MAX_WARNINGS`] warnings are kept;
//!   [`Dotenv::warning_count`] counts them all.
//! - Other `${...}` forms (`${A-b}`, `${A:?err}`, `${A.B}`, an unclosed `${`)
//!   are an [`ParseErrorKind::InvalidReference`] error rather than a guess.
//! - A `$` not followed by a letter, `_` or `{` is literal: `$$`, `$1`, a
//!   trailing `$`, and command substitution `$(cmd)`. Backticks are literal
//!   too. Neither is ever executed.
//! - `\$` (unquoted or double-quoted) is a literal `$`. Single-quoted values
//!   are never expanded.
//!
//! # Errors
//!
//! A [`ParseError`] has a 1-based line and column and a [`ParseErrorKind`];
//! it never contains any part of a value. A line with a name but no `=`
//! (`TOKEN` alone) is an error, [`ParseErrorKind::MissingEquals`], rather than
//! being skipped: a secret pasted on a line of its own must not be dropped
//! silently. The whole file fails on the first error; nothing is partially
//! returned.
//!
//! Limits ([`ParseOptions`]): the input is at most 1 MiB, each value at most
//! 1 MiB after escapes and references (any value the file can hold), all
//! values together at most 4 MiB, and all references together expand to at
//! most 4 MiB over the whole file, counting values later replaced by a
//! redefinition ([`ParseErrorKind::ExpansionTooLarge`]). References can
//! otherwise make a small file expand enormously: 1 MiB of `A=$X` lines,
//! after a 64 KiB `X`, would copy 13 GB. How large a *stored* value may be
//! is the vault's limit, not the grammar's:
//! [`Vault::import_dotenv`](crate::Vault::import_dotenv) refuses a value over
//! [`VaultConfig::max_value_len`](crate::VaultConfig::max_value_len) by its
//! name and line.
//!
//! # Cost
//!
//! Parsing takes time linear in the size of the input plus
//! [`ParseOptions::max_expansion_size`], whatever the input: one forward
//! pass, columns counted incrementally along each line, at most
//! [`MAX_WARNINGS`] warnings built, and every byte a reference copies counted
//! against the expansion limit. Memory is bounded by the input size plus
//! [`ParseOptions::max_total_value_size`]: a redefinition drops (and wipes)
//! the value it replaces at once.
//!
//! # Compatibility
//!
//! On ordinary files, where python-dotenv, node `dotenv`, `dotenvy`, Ruby
//! `dotenv` and Docker Compose agree, the result is theirs. Where they
//! disagree, this parser chooses as follows.
//!
//! | Input | Others | Here, and why |
//! |---|---|---|
//! | `A=abc#def` | node, Ruby: `abc`; python, dotenvy, Compose: `abc#def` | `abc#def`: `#` only starts a comment after a blank, so passwords containing `#` survive |
//! | `A=#def` | node, Ruby, dotenvy: empty; python, Compose: `#def` | `#def`, by the same rule |
//! | `A=two words` | dotenvy: error; others: `two words` | `two words` |
//! | `$A_B` | dotenvy: value of `A`, then `_B`; Ruby, Compose: value of `A_B` | value of `A_B` (a shell identifier) |
//! | `A='a\\b'` | python: `a\b`; others: `a\\b` | `a\\b`: single quotes are literal, as in the shell |
//! | `A="a\"b"` | node: `a\"b`; others: `a"b` | `a"b` |
//! | `A="a\qb"` (unknown escape) | dotenvy: error; python, node: `a\qb` | `a\qb`: Windows paths keep their backslashes |
//! | `A=$B` | python, node: literal `$B`; dotenvy, Ruby, Compose: expanded | expanded, from this file only |
//! | `${B:-x}` with `B` empty | python: empty; Compose, shell: `x` | `x` |
//! | reference to a name not in the file | python, dotenvy, Compose: process environment | empty string plus a [`Warning`]: the vault must not leak its own environment |
//! | `$(cmd)` | Ruby: runs `cmd`; others: literal | literal, never executed |
//! | `` A=`x` `` | node: `x` (backtick quotes); others: `` `x` `` | `` `x` ``, literal |
//! | `$$` | Compose: `$`; others: `$$` | `$$` |
//! | `TOKEN` (no `=`) | python: no value; node, Ruby: skipped; dotenvy: error; Compose: taken from environment | error, see above |
//! | `A="x"junk` | dotenvy: `xjunk`; python: line skipped; node: `"x"junk` | error, [`ParseErrorKind::TrailingCharacters`] |
//! | `A: x` (YAML style) | node, Ruby: `x`; others: error | error, [`ParseErrorKind::InvalidName`] |
//! | CRLF inside a quoted value | python: `\n`; dotenvy: kept | `\n` |
//! | a NUL byte in a value | the others: kept in the value | error, [`ParseErrorKind::NulByte`]: an environment variable cannot carry NUL, so the value could never reach an agent intact |
//!
//! # What is promised about secrecy
//!
//! Values are held in [`Zeroizing`] buffers from the moment they are decoded,
//! and a buffer that must grow is copied into a new zeroising buffer rather
//! than reallocated, so the parser leaves no stale copies in freed memory.
//! The input itself is borrowed, never copied. An entry keeps its name and
//! value in one allocation, so the name is wiped along with the value. [`Debug`](std::fmt::Debug)
//! output of [`Entry`] and [`Dotenv`] shows names only, and no type here
//! implements `Display` or `Serialize` for values. Not promised: the caller's
//! own input buffer, copies the caller makes, or data left in registers or
//! swapped pages.

mod parse;
mod write;

use std::fmt;

use zeroize::Zeroizing;

pub use write::to_string;

/// Default for [`ParseOptions::max_file_size`]: 1 MiB.
pub const DEFAULT_MAX_FILE_SIZE: usize = 1024 * 1024;
/// Default for [`ParseOptions::max_value_size`]: 1 MiB, the default file
/// limit. How large a value may be stored is the vault's rule
/// ([`VaultConfig::max_value_len`](crate::VaultConfig::max_value_len)), not
/// the grammar's: [`Vault::import_dotenv`](crate::Vault::import_dotenv)
/// refuses a larger value by its name and line.
pub const DEFAULT_MAX_VALUE_SIZE: usize = DEFAULT_MAX_FILE_SIZE;
/// Default for [`ParseOptions::max_total_value_size`]: 4 MiB.
pub const DEFAULT_MAX_TOTAL_VALUE_SIZE: usize = 4 * 1024 * 1024;
/// Default for [`ParseOptions::max_expansion_size`]: 4 MiB, four times the
/// default largest input.
pub const DEFAULT_MAX_EXPANSION_SIZE: usize = 4 * 1024 * 1024;
/// The most [`Warning`]s a [`Dotenv`] keeps (the first ones, in file order);
/// [`Dotenv::warning_count`] counts all of them. Building a warning costs an
/// allocation, and a hostile line can hold half a million references.
pub const MAX_WARNINGS: usize = 100;

/// Limits applied while parsing.
///
/// ```
/// use agent_vault::dotenv::ParseOptions;
///
/// let options = ParseOptions::default().with_max_value_size(4096);
/// assert_eq!(options.max_value_size, 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Largest accepted input, in bytes (default 1 MiB).
    pub max_file_size: usize,
    /// Largest accepted value, in bytes, after escapes and references
    /// (default 1 MiB, as large as the largest default file). Only
    /// references can make a value larger than the file.
    pub max_value_size: usize,
    /// Largest accepted sum of the sizes of all values kept, in bytes
    /// (default 4 MiB). References let a small file describe huge values;
    /// this bounds the memory a parse can use.
    pub max_total_value_size: usize,
    /// Largest accepted number of bytes that references expand to, summed
    /// over the whole file, in bytes (default 4 MiB). Unlike
    /// `max_total_value_size` it counts values later replaced by a
    /// redefinition, so it bounds the time a parse can spend copying.
    pub max_expansion_size: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            max_total_value_size: DEFAULT_MAX_TOTAL_VALUE_SIZE,
            max_expansion_size: DEFAULT_MAX_EXPANSION_SIZE,
        }
    }
}

impl ParseOptions {
    /// Sets [`ParseOptions::max_file_size`].
    #[must_use]
    pub const fn with_max_file_size(mut self, bytes: usize) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Sets [`ParseOptions::max_value_size`].
    #[must_use]
    pub const fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Sets [`ParseOptions::max_total_value_size`].
    #[must_use]
    pub const fn with_max_total_value_size(mut self, bytes: usize) -> Self {
        self.max_total_value_size = bytes;
        self
    }

    /// Sets [`ParseOptions::max_expansion_size`].
    #[must_use]
    pub const fn with_max_expansion_size(mut self, bytes: usize) -> Self {
        self.max_expansion_size = bytes;
        self
    }
}

/// Parses a `.env` file with the default [`ParseOptions`].
///
/// # Errors
///
/// A [`ParseError`] for the first problem found; see [`ParseErrorKind`].
pub fn parse(input: &[u8]) -> Result<Dotenv, ParseError> {
    parse::parse(input, &ParseOptions::default())
}

/// Parses a `.env` file with the given limits.
///
/// # Errors
///
/// A [`ParseError`] for the first problem found; see [`ParseErrorKind`].
pub fn parse_with(input: &[u8], options: &ParseOptions) -> Result<Dotenv, ParseError> {
    parse::parse(input, options)
}

/// A parsed `.env` file: entries in order of first appearance (last value
/// wins), plus the duplicates and warnings found on the way.
///
/// `Debug` shows names, never values.
#[derive(Default)]
pub struct Dotenv {
    entries: Vec<Entry>,
    duplicates: Vec<Duplicate>,
    warnings: Vec<Warning>,
    warning_count: usize,
}

impl Dotenv {
    /// The entries, in order of first appearance, each with its final value.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Consumes the result and returns its entries, so that values can be
    /// moved on without being copied.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// Every redefinition of a name that was already defined, in file order.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Non-fatal findings (such as undefined references), in file order: the
    /// first [`MAX_WARNINGS`] of them. [`Dotenv::warning_count`] says how many
    /// there were in all.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// How many warnings the file produced, including those beyond the
    /// [`MAX_WARNINGS`] that [`Dotenv::warnings`] keeps.
    ///
    /// ```
    /// use agent_vault::dotenv::{self, MAX_WARNINGS};
    ///
    /// let line = format!("A={}", "$UNDEFINED".repeat(MAX_WARNINGS + 5));
    /// let env = dotenv::parse(line.as_bytes())?;
    /// assert_eq!(env.warnings().len(), MAX_WARNINGS);
    /// assert_eq!(env.warning_count(), MAX_WARNINGS + 5);
    /// # Ok::<(), dotenv::ParseError>(())
    /// ```
    pub fn warning_count(&self) -> usize {
        self.warning_count
    }

    /// The number of distinct names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file defined no names at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The final value of `name`, if the file defines it.
    ///
    /// This is a linear scan; iterate [`Dotenv::entries`] for bulk access.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.name() == name)
            .map(Entry::value)
    }
}

impl fmt::Debug for Dotenv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dotenv")
            .field("entries", &self.entries)
            .field("duplicates", &self.duplicates)
            .field("warnings", &self.warnings)
            .field("warning_count", &self.warning_count)
            .finish()
    }
}

/// One name and its final value, with the position of the key that set it.
///
/// `Debug` redacts the value.
pub struct Entry {
    /// The name immediately followed by the value, in one zeroising
    /// allocation: one allocation per entry instead of two, and allocation is
    /// most of what parsing costs. Names are ASCII, so `name_len` is always a
    /// character boundary.
    text: Zeroizing<String>,
    name_len: usize,
    line: u32,
    column: u32,
}

impl Entry {
    /// The name, exactly as written (it matches the grammar in the module
    /// documentation).
    pub fn name(&self) -> &str {
        &self.text[..self.name_len]
    }

    /// The value, after quotes, escapes and references were processed.
    pub fn value(&self) -> &str {
        &self.text[self.name_len..]
    }

    /// Consumes the entry and returns its name and its value.
    pub fn into_parts(self) -> (String, Zeroizing<String>) {
        let name = self.name().to_owned();
        let mut value = self.text;
        // Shifting the value down leaves bytes in the spare capacity; they
        // are wiped with the rest when `value` drops.
        value.drain(..self.name_len);
        (name, value)
    }

    /// The 1-based line of the key of the definition that supplied the value.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The 1-based column of the key of the definition that supplied the
    /// value.
    pub fn column(&self) -> u32 {
        self.column
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name())
            .field("value", &"<redacted>")
            .field("line", &self.line)
            .field("column", &self.column)
            .finish()
    }
}

/// A name defined again; the later definition's value wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    name: String,
    line: u32,
    column: u32,
    previous_line: u32,
    previous_column: u32,
}

impl Duplicate {
    /// The redefined name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 1-based line of the key of the redefinition.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The 1-based column of the key of the redefinition.
    pub fn column(&self) -> u32 {
        self.column
    }

    /// The 1-based line of the key of the definition it replaced.
    pub fn previous_line(&self) -> u32 {
        self.previous_line
    }

    /// The 1-based column of the key of the definition it replaced.
    pub fn previous_column(&self) -> u32 {
        self.previous_column
    }
}

/// A non-fatal finding, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    line: u32,
    column: u32,
    kind: WarningKind,
}

impl Warning {
    /// The 1-based line.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The 1-based column.
    pub fn column(&self) -> u32 {
        self.column
    }

    /// What was found.
    pub fn kind(&self) -> &WarningKind {
        &self.kind
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

/// The kinds of [`Warning`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A reference (`$NAME`, `${NAME}`) to a name not defined earlier in the
    /// file; it expanded to the empty string. The process environment is
    /// never consulted.
    #[error("`{name}` is not defined earlier in the file; it expanded to an empty string")]
    UndefinedReference {
        /// The referenced name.
        name: String,
    },
}

/// Why a `.env` file was refused, and where.
///
/// It never contains any part of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: u32,
    column: u32,
    kind: ParseErrorKind,
}

impl ParseError {
    /// The 1-based line of the problem, or 0 when it concerns the whole input
    /// ([`ParseErrorKind::FileTooLarge`]).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The 1-based column of the problem, or 0 when it concerns the whole
    /// input ([`ParseErrorKind::FileTooLarge`]).
    pub fn column(&self) -> u32 {
        self.column
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.kind)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.kind
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// The reasons a `.env` file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// References together expanded to more than
    /// [`ParseOptions::max_expansion_size`] bytes over the whole file. The
    /// position is the `$` of the reference that crossed the limit.
    #[error("references together expand to more than the limit of {limit} bytes")]
    ExpansionTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The input is larger than [`ParseOptions::max_file_size`].
    #[error("the file is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The key does not match `[A-Za-z_][A-Za-z0-9_.-]*` (or is empty).
    /// The position is the start of the key.
    #[error("invalid name: a name is a letter or `_` followed by letters, digits, `_`, `.` or `-`")]
    InvalidName,
    /// A `${` that is not `${NAME}` or `${NAME:-default}`. The position is the
    /// `$`.
    #[error(
        "invalid reference: use `${{NAME}}` or `${{NAME:-default}}`, or `\\$` for a literal `$`"
    )]
    InvalidReference,
    /// The input is not UTF-8. The position is the first offending byte.
    #[error("the file is not valid UTF-8")]
    InvalidUtf8,
    /// A name is not followed by `=`. The position is where `=` was expected.
    #[error("expected `=` after the name")]
    MissingEquals,
    /// The input contains a NUL byte.
    #[error("the file contains a NUL byte")]
    NulByte,
    /// Something other than blanks or a comment follows a closing quote. The
    /// position is the first such character.
    #[error("unexpected characters after the closing quote")]
    TrailingCharacters,
    /// A quoted value has no closing quote. The position is the opening
    /// quote.
    #[error("the quoted value is never closed")]
    UnterminatedQuote,
    /// A value is larger than [`ParseOptions::max_value_size`] after escapes
    /// and references. The position is the start of the value.
    #[error("the value is larger than the limit of {limit} bytes")]
    ValueTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// All values together are larger than
    /// [`ParseOptions::max_total_value_size`]. The position is the start of
    /// the value that crossed the limit.
    #[error("the values together are larger than the limit of {limit} bytes")]
    ValuesTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// Why [`to_string`] could not write a pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The name does not match `[A-Za-z_][A-Za-z0-9_.-]*`.
    #[error("`{name}` is not a valid .env name")]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// The value of this name contains a NUL character, which `.env` text
    /// cannot hold.
    #[error("the value of `{name}` contains a NUL character")]
    NulInValue {
        /// The name whose value was refused.
        name: String,
    },
}

/// Whether `name` matches `[A-Za-z_][A-Za-z0-9_.-]*`.
fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {
            bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_grammar() {
        for good in ["A", "_", "a_b", "A1", "WITH.DOT", "WITH-DASH", "_9"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "1A", "-A", ".A", "A B", "A$", "CLÉ", "A=", "A#"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
