//! What every command needs: the store, the vault, the user, input from
//! standard input, and agents found by id or name.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{PostgresStore, SqliteStore, Store};
use agent_vault::{AgentId, Name, UserId, Vault, VaultConfig};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cli::Global;
use crate::failure::Failure;
use crate::secret_io::{self, KeyFileError};

/// The environment variable holding the master key.
pub const MASTER_KEY_VAR: &str = "AGENT_VAULT_MASTER_KEY";

/// The environment variable holding several master keys with ids
/// (`Keyring::parse`: `1:BASE64,*2:BASE64`).
pub const MASTER_KEYS_VAR: &str = "AGENT_VAULT_MASTER_KEYS";

/// The environment variable naming a file that holds the master key (its
/// base64, or its 32 raw bytes), so that the key is in no environment.
pub const MASTER_KEY_FILE_VAR: &str = "AGENT_VAULT_MASTER_KEY_FILE";

/// The environment variable naming a file that holds a keyring
/// specification (as [`MASTER_KEYS_VAR`]).
pub const MASTER_KEYS_FILE_VAR: &str = "AGENT_VAULT_MASTER_KEYS_FILE";

/// The vault the CLI works on.
pub type CliVault = Vault<Arc<dyn Store>>;

/// Opens the store `--db` names: the one place that decides which backend
/// the CLI uses. A `postgres://` (or `postgresql://`) URL is PostgreSQL;
/// anything else is the path of a SQLite file.
pub async fn open_store(db: &Path) -> Result<Arc<dyn Store>, Failure> {
    let text = db.to_string_lossy();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let store = PostgresStore::connect(&text)
            .await
            .map_err(|error| Failure::Store {
                // The URL may hold a password: never print it.
                path: redact_url(&text).into(),
                error,
            })?;
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open(db)
        .await
        .map_err(|error| Failure::Store {
            path: db.to_owned(),
            error,
        })?;
    Ok(Arc::new(store))
}

/// `url` with its user information and its query (either may hold a
/// password: `?password=` is accepted too) replaced.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, "?***"),
        None => (rest, ""),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    format!("{scheme}://{rest}{query}")
}

/// The master keyring from whichever one of [`MASTER_KEY_VAR`],
/// [`MASTER_KEYS_VAR`], [`MASTER_KEY_FILE_VAR`] and [`MASTER_KEYS_FILE_VAR`]
/// is set: empty when none is (commands that need a key then fail with "not
/// configured"), an error when several are, or the one set is malformed.
pub fn keyring_from_env() -> Result<Keyring, Failure> {
    let sources = [
        (MASTER_KEY_VAR, non_empty_var(MASTER_KEY_VAR)?),
        (MASTER_KEYS_VAR, non_empty_var(MASTER_KEYS_VAR)?),
        (MASTER_KEY_FILE_VAR, non_empty_var(MASTER_KEY_FILE_VAR)?),
        (MASTER_KEYS_FILE_VAR, non_empty_var(MASTER_KEYS_FILE_VAR)?),
    ];
    let mut set = sources
        .into_iter()
        .filter_map(|(name, text)| Some((name, text?)));
    let Some((name, text)) = set.next() else {
        return Ok(Keyring::empty());
    };
    if let Some((other, _)) = set.next() {
        return Err(Failure::NotConfigured(format!(
            "both {name} and {other} are set; set only one of {MASTER_KEY_VAR}, \
             {MASTER_KEYS_VAR}, {MASTER_KEY_FILE_VAR} and {MASTER_KEYS_FILE_VAR}"
        )));
    }
    match name {
        MASTER_KEY_VAR => single_key(&text).map_err(|()| malformed_key(MASTER_KEY_VAR)),
        MASTER_KEYS_VAR => {
            Keyring::parse(&text).map_err(|error| malformed_keyring(MASTER_KEYS_VAR, &error))
        }
        MASTER_KEY_FILE_VAR => {
            let path = Path::new(text.trim());
            let bytes = key_file(path)?;
            // A file of exactly 32 bytes is the raw key, as
            // `MasterKey::from_file` reads it.
            if let Ok(raw) = <[u8; MasterKey::LEN]>::try_from(bytes.as_slice()) {
                return Ok(Keyring::single(MasterKey::from_bytes(raw)));
            }
            std::str::from_utf8(&bytes)
                .map_err(|_| ())
                .and_then(single_key)
                .map_err(|()| malformed_key_file(path))
        }
        // MASTER_KEYS_FILE_VAR, the only name left.
        _ => {
            let path = Path::new(text.trim());
            let bytes = key_file(path)?;
            let spec = std::str::from_utf8(&bytes).map_err(|_| {
                Failure::NotConfigured(format!(
                    "the keyring file {} ({MASTER_KEYS_FILE_VAR}) is not UTF-8",
                    path.display()
                ))
            })?;
            Keyring::parse(spec).map_err(|error| {
                Failure::NotConfigured(format!(
                    "the keyring file {} ({MASTER_KEYS_FILE_VAR}) is not a keyring \
                     (`ID:BASE64` entries separated by commas, the primary marked with `*`): {error}",
                    path.display()
                ))
            })
        }
    }
}

fn single_key(text: &str) -> Result<Keyring, ()> {
    let key = MasterKey::from_base64(text).map_err(|_| ())?;
    Ok(Keyring::single(key))
}

fn malformed_keyring(name: &str, error: &agent_vault::crypto::KeyringError) -> Failure {
    Failure::NotConfigured(format!(
        "{name} is not a keyring (`ID:BASE64` entries separated by commas, \
         the primary marked with `*`): {error}"
    ))
}

fn malformed_key_file(path: &Path) -> Failure {
    Failure::NotConfigured(format!(
        "the master key file {} ({MASTER_KEY_FILE_VAR}) holds neither standard base64 \
         of exactly 32 bytes nor 32 raw bytes (make one with \
         `(umask 077; agent-vault keygen > FILE)`)",
        path.display()
    ))
}

/// Reads a key file: refused (as ssh refuses a private key) when group or
/// others may access it.
fn key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    secret_file(path, "master key")
}

/// Reads a file of secrets (`what`: "master key", "API keys"), refusing one
/// that group or others can access.
pub fn secret_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    secret_io::read_key_file(path).map_err(|error| match error {
        KeyFileError::TooOpen { mode } => Failure::NotConfigured(format!(
            "permissions {mode:04o} for '{path}' are too open: the {what} file must \
             not be accessible by group or others; run: chmod 600 {path}",
            path = path.display()
        )),
        KeyFileError::Io(source) => Failure::NotConfigured(format!(
            "cannot read the {what} file '{}': {source}",
            path.display()
        )),
    })
}

/// The variable's text, `None` when unset or blank.
pub fn non_empty_var(name: &str) -> Result<Option<Zeroizing<String>>, Failure> {
    let Some(text) = std::env::var_os(name) else {
        return Ok(None);
    };
    let text = Zeroizing::new(
        text.into_string()
            .map_err(|_| Failure::NotConfigured(format!("{name} is not valid UTF-8")))?,
    );
    Ok((!text.trim().is_empty()).then_some(text))
}

fn malformed_key(name: &str) -> Failure {
    Failure::NotConfigured(format!(
        "{name} is not standard base64 of exactly 32 bytes \
         (make one with `agent-vault keygen`)"
    ))
}

/// The vault the global options and the environment describe: the store,
/// the master keys, the gateway-token variable, and the store-backed audit
/// trail (`agent-vault audit`), which every command keeps.
pub async fn open_vault(global: &Global) -> Result<CliVault, Failure> {
    let keyring = keyring_from_env()?;
    let token_var = Name::parse(&global.gateway_token_var).map_err(|reason| {
        Failure::Usage(format!(
            "--gateway-token-var (AGENT_VAULT_GATEWAY_TOKEN_VAR) {:?} is not a variable \
             name: {reason}",
            global.gateway_token_var
        ))
    })?;
    let config = VaultConfig::default()
        .with_gateway_token_var(token_var)
        .with_audit_log(true);
    let store = open_store(&global.db).await?;
    Ok(Vault::with_config(store, keyring, config))
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
        let user = UserId::parse(&global.user).map_err(agent_vault::Error::from)?;
        Ok(Self {
            vault: open_vault(global).await?,
            user,
            json: global.json,
        })
    }

    /// Finds an agent by id, or by name when exactly one agent has it.
    pub async fn agent(&self, text: &str) -> Result<AgentId, Failure> {
        if let Ok(id) = AgentId::parse(text) {
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
    let bytes = if stdin.is_terminal() {
        // Dependency-free hidden input: ask the terminal not to echo.
        let hidden = EchoOff::new();
        let note = if hidden.is_some() {
            "hidden"
        } else {
            "NOT hidden"
        };
        eprint!("{what} (input {note}; end with Enter): ");
        let read = secret_io::read_line(&mut stdin.lock());
        drop(hidden);
        eprintln!();
        read.map_err(|e| Failure::io("reading standard input", e))?
    } else {
        secret_io::read_to_end(&mut stdin.lock(), None)
            .map_err(|e| Failure::io("reading standard input", e))?
    };
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
    fn a_database_url_is_printed_without_its_password() {
        assert_eq!(
            redact_url("postgres://vault:hunter2@db.internal:5432/vault?sslmode=require"),
            "postgres://***@db.internal:5432/vault?***"
        );
        assert_eq!(
            redact_url("postgres://db/vault?user=v&password=hunter2"),
            "postgres://db/vault?***"
        );
        assert_eq!(redact_url("postgres://db/vault"), "postgres://db/vault");
        assert_eq!(redact_url("vault.db"), "vault.db");
    }

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
