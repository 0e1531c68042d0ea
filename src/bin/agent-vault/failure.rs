//! Why a command failed, its message and its exit code.
//!
//! The exit codes are the interface scripts depend on:
//!
//! | code | meaning | from |
//! |------|---------|------|
//! | 0 | success | |
//! | 1 | anything else (store fault, I/O, decryption failure) | 500, 503 contention |
//! | 2 | usage | clap |
//! | 3 | conflict | 409 |
//! | 4 | not found | 404 |
//! | 5 | invalid input | 400, ambiguous agent name |
//! | 6 | not configured | no or malformed master key, a key file group or others can access |
//! | 7 | token verification failed | 401 |
//! | 126, 127 | `agents exec` cannot run / find the command | as env(1) |
//!
//! Once `agents exec` has replaced itself with the command (Unix), the exit
//! status is the command's own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agent_vault::Error;

/// Success.
pub const OK: u8 = 0;
/// Anything not listed below.
pub const OTHER: u8 = 1;
/// Bad usage (clap's own code).
pub const USAGE: u8 = 2;
/// A conflict (HTTP 409).
pub const CONFLICT: u8 = 3;
/// Not found (HTTP 404).
pub const NOT_FOUND: u8 = 4;
/// Invalid input (HTTP 400).
pub const INVALID: u8 = 5;
/// No master key, or a malformed one.
pub const NOT_CONFIGURED: u8 = 6;
/// A gateway token did not verify (HTTP 401).
pub const TOKEN_REJECTED: u8 = 7;

/// The exit code for a vault error: the one place the library's errors are
/// mapped.
pub fn exit_code(error: &Error) -> u8 {
    match error {
        Error::NotConfigured | Error::KeyMismatch { .. } => NOT_CONFIGURED,
        Error::TokenRejected => TOKEN_REJECTED,
        other => match other.http_status() {
            400 => INVALID,
            401 => TOKEN_REJECTED,
            404 => NOT_FOUND,
            409 => CONFLICT,
            _ => OTHER,
        },
    }
}

/// A failed command.
#[derive(Debug)]
pub enum Failure {
    /// The vault refused or failed.
    Vault(Error),
    /// The vault refused the content of a file: the message names the file
    /// and, where there is one, the line and column (`FILE:LINE:COLUMN`).
    InFile {
        /// The file.
        file: PathBuf,
        /// The error.
        error: Error,
    },
    /// The command line names something that is not there.
    NotFound(String),
    /// The input is wrong in a way the vault does not see (an ambiguous
    /// agent name, a value that is not UTF-8).
    Invalid(String),
    /// The master key is missing or malformed.
    NotConfigured(String),
    /// The command line is wrong in a way clap does not see (exit 2).
    Usage(String),
    /// `agents exec` could not start the command.
    Spawn {
        /// The command.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened.
    Store {
        /// The database file.
        path: PathBuf,
        /// Why.
        error: agent_vault::store::StoreError,
    },
    /// Reading or writing a file or a stream failed.
    Io {
        /// What was being done.
        doing: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl Failure {
    /// An I/O failure while `doing` something.
    pub fn io(doing: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            doing: doing.into(),
            source,
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Vault(error) | Self::InFile { error, .. } => exit_code(error),
            Self::NotFound(_) => NOT_FOUND,
            Self::Invalid(_) => INVALID,
            Self::NotConfigured(_) => NOT_CONFIGURED,
            Self::Usage(_) => USAGE,
            // As env(1) and shells do.
            Self::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Self::Spawn { .. } => 126,
            Self::Store { .. } => OTHER,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => NOT_FOUND,
            Self::Io { .. } => OTHER,
        }
    }

    /// The exit code as a process [`ExitCode`].
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Vault(error)
    }
}

/// Formats an error found in `file` as `FILE:LINE:COLUMN: message`.
fn in_file(f: &mut fmt::Formatter<'_>, file: &Path, error: &Error) -> fmt::Result {
    let file = file.display();
    match error {
        Error::Dotenv(parse) if parse.line() > 0 => write!(
            f,
            "{file}:{}:{}: {}",
            parse.line(),
            parse.column(),
            parse.kind()
        ),
        Error::Dotenv(parse) => write!(f, "{file}: {}", parse.kind()),
        Error::InvalidImportEntry {
            line,
            column,
            name,
            reason,
        } => write!(f, "{file}:{line}:{column}: {name}: {reason}"),
        Error::ImportConflict { names } => write!(
            f,
            "{file}: already in the vault: {} (nothing was imported; \
             see --on-conflict skip|overwrite)",
            names.join(", ")
        ),
        other => write!(f, "{file}: {other}"),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vault(Error::Attached { what, name, agents }) => {
                let agents: Vec<String> = agents.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{what} {name:?} is attached to agent(s) {}; detach it first",
                    agents.join(", ")
                )
            }
            Self::Vault(Error::VariablesWouldChange { connection, agents }) => {
                let agents: Vec<String> = agents.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "the new credential would change the variables connection {connection} \
                     sets, and agent(s) {} hold it; detach it first or keep its kind",
                    agents.join(", ")
                )
            }
            Self::Vault(Error::NotConfigured) => f.write_str(
                "secrets are not configured: set AGENT_VAULT_MASTER_KEY_FILE to a file \
                 holding the master key, or AGENT_VAULT_MASTER_KEY to the key \
                 (make one with `agent-vault keygen`)",
            ),
            Self::Vault(error) => write!(f, "{error}"),
            Self::InFile { file, error } => in_file(f, file, error),
            Self::NotFound(message)
            | Self::Invalid(message)
            | Self::NotConfigured(message)
            | Self::Usage(message) => f.write_str(message),
            Self::Spawn { program, source } => write!(f, "cannot run {program:?}: {source}"),
            Self::Io { doing, source } => write!(f, "{doing}: {source}"),
            Self::Store { path, error } => {
                write!(f, "cannot open the database {}: {error}", path.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use agent_vault::dotenv;
    use agent_vault::{AgentId, Entity, Name, UserId};

    use super::*;

    fn vault_error_examples() -> Vec<(Error, u8)> {
        let agent = AgentId::new_random();
        vec![
            (
                Error::AlreadyExists {
                    what: Entity::Item,
                    name: "A".into(),
                },
                CONFLICT,
            ),
            (
                Error::Attached {
                    what: Entity::Secret,
                    name: "A".into(),
                    agents: vec![agent],
                },
                CONFLICT,
            ),
            (Error::Contention { attempts: 3 }, OTHER),
            (Error::DecryptionFailed, OTHER),
            (
                Error::Dotenv(dotenv::parse(b"A='x").expect_err("unterminated")),
                INVALID,
            ),
            (
                Error::ImportConflict {
                    names: vec!["A".into()],
                },
                CONFLICT,
            ),
            (
                Error::DuplicateVariable {
                    agent,
                    variable: "A".into(),
                },
                CONFLICT,
            ),
            (
                Error::InvalidAgentName(agent_vault::AgentName::parse("").expect_err("empty")),
                INVALID,
            ),
            (
                Error::InvalidName {
                    name: "1A".into(),
                    reason: Name::parse("1A").expect_err("starts with a digit"),
                },
                INVALID,
            ),
            (
                Error::InvalidUserId(UserId::parse("").expect_err("empty")),
                INVALID,
            ),
            (Error::NotConfigured, NOT_CONFIGURED),
            (
                Error::KeyMismatch {
                    key: agent_vault::crypto::KeyId(1),
                },
                NOT_CONFIGURED,
            ),
            (
                Error::NotFound {
                    what: Entity::Agent,
                    name: "x".into(),
                },
                NOT_FOUND,
            ),
            (
                Error::ProviderConflict {
                    agent,
                    provider: agent_vault::Provider::OpenAi,
                },
                CONFLICT,
            ),
            (Error::TokenRejected, TOKEN_REJECTED),
        ]
    }

    #[test]
    fn every_vault_error_has_its_exit_code() {
        for (error, code) in vault_error_examples() {
            assert_eq!(exit_code(&error), code, "{error:?}");
            assert_eq!(Failure::from(error).code(), code);
        }
    }

    #[test]
    fn exit_codes_follow_http_statuses() {
        for (error, code) in vault_error_examples() {
            let expected = match error.http_status() {
                400 => INVALID,
                401 => TOKEN_REJECTED,
                404 => NOT_FOUND,
                409 => CONFLICT,
                503 if matches!(error, Error::NotConfigured | Error::KeyMismatch { .. }) => {
                    NOT_CONFIGURED
                }
                _ => OTHER,
            };
            assert_eq!(code, expected, "{error:?}");
        }
    }

    #[test]
    fn cli_failures_have_their_exit_codes() {
        assert_eq!(Failure::Invalid("ambiguous".into()).code(), INVALID);
        assert_eq!(Failure::NotFound("agent".into()).code(), NOT_FOUND);
        assert_eq!(
            Failure::NotConfigured("malformed".into()).code(),
            NOT_CONFIGURED
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(Failure::io("reading x", missing).code(), NOT_FOUND);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Failure::io("reading x", denied).code(), OTHER);
        assert_eq!(Failure::Usage("--base-url".into()).code(), USAGE);
        let spawn = |kind| Failure::Spawn {
            program: "x".into(),
            source: std::io::Error::from(kind),
        };
        assert_eq!(spawn(std::io::ErrorKind::NotFound).code(), 127);
        assert_eq!(spawn(std::io::ErrorKind::PermissionDenied).code(), 126);
        assert_eq!(OK, 0);
    }

    #[test]
    fn file_errors_name_file_line_and_column() {
        let error = Error::Dotenv(dotenv::parse(b"A=1\nB=2\nC='open").expect_err("unterminated"));
        let failure = Failure::InFile {
            file: ".env".into(),
            error,
        };
        let text = failure.to_string();
        assert!(text.starts_with(".env:3:3: "), "{text}");
        assert_eq!(failure.code(), INVALID);
    }
}
