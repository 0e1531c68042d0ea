//! What every command needs: the store, the vault, the user, input from
//! standard input, and agents found by id or name.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;
use std::sync::Arc;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{SqliteStore, Store};
use agent_vault::{AgentId, UserId, Vault};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cli::Global;
use crate::failure::Failure;

/// The environment variable holding the master key.
pub const MASTER_KEY_VAR: &str = "AGENT_VAULT_MASTER_KEY";

/// The environment variable holding several master keys with ids
/// (`Keyring::parse`: `1:BASE64,*2:BASE64`).
pub const MASTER_KEYS_VAR: &str = "AGENT_VAULT_MASTER_KEYS";

/// The vault the CLI works on.
pub type CliVault = Vault<Arc<dyn Store>>;

/// Opens the store at `path`: the one place that decides which backend the
/// CLI uses.
pub async fn open_store(path: &Path) -> Result<Arc<dyn Store>, Failure> {
    let store = SqliteStore::open(path)
        .await
        .map_err(|error| Failure::Store {
            path: path.to_owned(),
            error,
        })?;
    Ok(Arc::new(store))
}

/// The master keyring from [`MASTER_KEY_VAR`]: empty when the variable is
/// unset or empty (commands that need a key then fail with "not
/// configured"), an error when it is set but malformed.
pub fn keyring_from_env() -> Result<Keyring, Failure> {
    let several = non_empty_var(MASTER_KEYS_VAR)?;
    let single = non_empty_var(MASTER_KEY_VAR)?;
    match (several, single) {
        (Some(_), Some(_)) => Err(Failure::NotConfigured(format!(
            "both {MASTER_KEYS_VAR} and {MASTER_KEY_VAR} are set; set only one"
        ))),
        (Some(spec), None) => Keyring::parse(&spec).map_err(|error| {
            Failure::NotConfigured(format!(
                "{MASTER_KEYS_VAR} is not a keyring (`ID:BASE64` entries separated by commas, \
                 the primary marked with `*`): {error}"
            ))
        }),
        (None, Some(key)) => {
            let key = MasterKey::from_base64(&key).map_err(|_| malformed_key())?;
            Ok(Keyring::single(key))
        }
        (None, None) => Ok(Keyring::empty()),
    }
}

/// The variable's text, `None` when unset or blank.
fn non_empty_var(name: &str) -> Result<Option<Zeroizing<String>>, Failure> {
    let Some(text) = std::env::var_os(name) else {
        return Ok(None);
    };
    let text = Zeroizing::new(
        text.into_string()
            .map_err(|_| Failure::NotConfigured(format!("{name} is not valid UTF-8")))?,
    );
    Ok((!text.trim().is_empty()).then_some(text))
}

fn malformed_key() -> Failure {
    Failure::NotConfigured(format!(
        "{MASTER_KEY_VAR} is not standard base64 of exactly 32 bytes \
         (make one with `agent-vault keygen`)"
    ))
}

/// The vault, the user and the output mode of one invocation.
pub struct Context {
    /// The vault.
    pub vault: CliVault,
    /// The user the command acts for.
    pub user: UserId,
    /// Whether to print JSON.
    pub json: bool,
}

impl Context {
    /// Opens the store and builds the vault from the global options and the
    /// environment.
    pub async fn open(global: &Global) -> Result<Self, Failure> {
        let keyring = keyring_from_env()?;
        let user = UserId::parse(&global.user).map_err(agent_vault::Error::from)?;
        let store = open_store(&global.db).await?;
        Ok(Self {
            vault: Vault::new(store, keyring),
            user,
            json: global.json,
        })
    }

    /// Finds an agent by id, or by name when exactly one agent has it.
    pub async fn agent(&self, text: &str) -> Result<AgentId, Failure> {
        if let Some(id) = AgentId::parse(text) {
            match self.vault.agent(&self.user, id).await {
                Ok(_) => return Ok(id),
                Err(agent_vault::Error::NotFound { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        let agents = self.vault.agents(&self.user).await?;
        let matching: Vec<_> = agents.iter().filter(|a| a.name == text).collect();
        match matching.as_slice() {
            [] => Err(Failure::NotFound(format!("agent {text:?} not found"))),
            [one] => Ok(one.id),
            many => {
                let ids: Vec<String> = many.iter().map(|a| a.id.to_string()).collect();
                Err(Failure::Invalid(format!(
                    "agent name {text:?} is ambiguous: use one of the ids {}",
                    ids.join(", ")
                )))
            }
        }
    }
}

/// Reads a value from standard input with one trailing newline (`\n` or
/// `\r\n`) removed. When standard input is a terminal, prompts on standard
/// error and reads one line.
pub fn read_stdin_value(what: &str) -> Result<SecretString, Failure> {
    let stdin = std::io::stdin();
    let mut bytes = Zeroizing::new(Vec::new());
    if stdin.is_terminal() {
        // Dependency-free hidden input: ask the terminal not to echo.
        let hidden = EchoOff::new();
        let note = if hidden.is_some() {
            "hidden"
        } else {
            "NOT hidden"
        };
        eprint!("{what} (input {note}; end with Enter): ");
        let mut line = Zeroizing::new(String::new());
        let read = stdin.read_line(&mut line);
        drop(hidden);
        eprintln!();
        read.map_err(|e| Failure::io("reading standard input", e))?;
        bytes.extend_from_slice(line.as_bytes());
    } else {
        stdin
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::io("reading standard input", e))?;
    }
    let text = strip_one_newline(&bytes);
    let text = std::str::from_utf8(text)
        .map_err(|_| Failure::Invalid(format!("{what} is not valid UTF-8")))?;
    Ok(SecretString::from(text))
}

/// Terminal echo switched off with `stty` for as long as it lives.
struct EchoOff;

impl EchoOff {
    fn new() -> Option<Self> {
        let status = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Self)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `bytes` without one trailing `\n` or `\r\n`.
pub fn strip_one_newline(bytes: &[u8]) -> &[u8] {
    match bytes.strip_suffix(b"\n") {
        Some(rest) => rest.strip_suffix(b"\r").unwrap_or(rest),
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_newline_is_removed() {
        assert_eq!(strip_one_newline(b"abc\n"), b"abc");
        assert_eq!(strip_one_newline(b"abc\n\n"), b"abc\n");
        assert_eq!(strip_one_newline(b"abc"), b"abc");
        assert_eq!(strip_one_newline(b""), b"");
        assert_eq!(strip_one_newline(b"\n"), b"");
        assert_eq!(strip_one_newline(b"abc\r\n"), b"abc");
        assert_eq!(strip_one_newline(b"abc\r"), b"abc\r");
    }
}
