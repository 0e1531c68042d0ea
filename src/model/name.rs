use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// The name of a secret or variable: the environment variable the agent sees.
///
/// # Policy
///
/// - ASCII letters, digits and `_`, not starting with a digit, 1 to 255 bytes.
///   That is the portable shell-variable grammar (POSIX), so every runtime an
///   agent uses can read it.
/// - Case is kept as typed, but names are unique per user *ignoring case*
///   ([`Name::folded`]): `api_key` and `API_KEY` cannot both exist, because
///   some platforms treat environment names case-insensitively and a user who
///   has both has almost certainly made a mistake.
/// - Some names are reserved (see [`NamePolicy`]): the vault refuses to create
///   them because injecting them would make the agent's processes load code
///   (`LD_PRELOAD` and every other `LD_*`/`DYLD_*` name, `NODE_OPTIONS`,
///   `BASH_ENV`, ...), would change how they run (`PATH`, `IFS`, ...) or
///   would shadow a variable the platform sets itself (the gateway token).
///
/// ```
/// use agent_vault::Name;
/// assert!(Name::parse("TELEGRAM_BOT_TOKEN").is_ok());
/// assert!(Name::parse("_private").is_ok());
/// assert!(Name::parse("1PASSWORD").is_err());
/// assert!(Name::parse("MY-KEY").is_err());
/// assert_eq!(Name::parse("api_key")?.folded(), "API_KEY");
/// # Ok::<(), agent_vault::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Parses a name; see the type's documentation for the grammar.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let bytes = name.as_bytes();
        let Some(first) = bytes.first() else {
            return Err(NameError::Empty);
        };
        if bytes.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { max: MAX_NAME_LEN });
        }
        if first.is_ascii_digit() {
            return Err(NameError::StartsWithDigit);
        }
        if let Some(position) = bytes
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        {
            return Err(NameError::InvalidCharacter { position });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in upper case: the form in which uniqueness is decided.
    pub fn folded(&self) -> String {
        self.0.to_ascii_uppercase()
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Name").field(&self.0).finish()
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// A byte other than ASCII letters, digits and `_`, at this 0-based position.
    #[error("name has a character other than ASCII letters, digits and '_' at byte {position}")]
    InvalidCharacter {
        /// Byte offset of the first refused character.
        position: usize,
    },
    /// The name is on the vault's reserved list.
    #[error("name is reserved")]
    Reserved,
    /// The name starts with a digit.
    #[error("name starts with a digit")]
    StartsWithDigit,
    /// The name is longer than allowed.
    #[error("name is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// Which names a vault refuses to create, compared ignoring case: whole
/// names ([`NamePolicy::reserve`]) and name prefixes
/// ([`NamePolicy::reserve_prefix`]).
///
/// A stored item is injected into an agent's environment, and some
/// variables are not data but instructions to the process that reads them:
/// a user (or anyone acting as the user, such as a compromised agent or a
/// malicious `.env` file) who could set them could make the agent's own
/// processes load and run code of their choosing, or change how they run.
/// [`NamePolicy::default`] reserves:
///
/// | names | why |
/// |-------|-----|
/// | every `LD_*` name | the dynamic loader of glibc and musl: `LD_PRELOAD`, `LD_AUDIT` and `LD_LIBRARY_PATH` load shared objects into every process started; the rest (`LD_BIND_NOW`, `LD_DEBUG_OUTPUT`, ...) change how it loads them, and new ones keep being added |
/// | every `DYLD_*` name | the same for macOS's dynamic loader (`DYLD_INSERT_LIBRARIES`, `DYLD_LIBRARY_PATH`, `DYLD_FALLBACK_LIBRARY_PATH`, ...) |
/// | `GCONV_PATH`, `GLIBC_TUNABLES` | glibc loads character-set conversion modules from `GCONV_PATH`; `GLIBC_TUNABLES` changes the allocator and loader, and its parser has been an attack surface (CVE-2023-4911) |
/// | `NODE_OPTIONS` | Node.js reads command-line options from it: `--require` and `--import` load a module into every `node` process |
/// | `BASH_ENV`, `ENV` | a file that non-interactive `bash` (`BASH_ENV`) and POSIX `sh` (`ENV`) source before running a script |
/// | `PERL5OPT`, `RUBYOPT`, `JAVA_TOOL_OPTIONS` | interpreter options taken as if given on the command line: `-M`/`-r` load a module, `-javaagent:` loads an agent into every JVM |
/// | `PATH`, `HOME`, `SHELL`, `IFS` | decide which program a name runs, where configuration files (and so startup code) are read from, which shell is started, and how the shell splits words |
/// | [`DEFAULT_GATEWAY_TOKEN_VAR`](crate::DEFAULT_GATEWAY_TOKEN_VAR) | the platform sets it itself; a stored item must not shadow it ([`VaultConfig::with_gateway_token_var`](crate::VaultConfig::with_gateway_token_var) reserves the one in use) |
///
/// The whole names are [`NamePolicy::DEFAULT_RESERVED`] and the prefixes
/// [`NamePolicy::DEFAULT_RESERVED_PREFIXES`]. The list is a policy, not a
/// sandbox: an agent that can run arbitrary commands does not need the vault
/// to set a variable. It stops the vault from being the way such a variable
/// gets in. Start from [`NamePolicy::empty`] to reserve nothing, or add to
/// the default:
///
/// ```
/// use agent_vault::{Name, NamePolicy, NameError};
/// let policy = NamePolicy::default()
///     .reserve("INTERNAL_TOKEN")
///     .reserve_prefix("PYTHON");
/// assert_eq!(policy.check(&Name::parse("ld_preload")?), Err(NameError::Reserved));
/// assert_eq!(policy.check(&Name::parse("LD_BIND_NOW")?), Err(NameError::Reserved));
/// assert_eq!(policy.check(&Name::parse("Node_Options")?), Err(NameError::Reserved));
/// assert_eq!(policy.check(&Name::parse("Internal_Token")?), Err(NameError::Reserved));
/// assert_eq!(policy.check(&Name::parse("PYTHONPATH")?), Err(NameError::Reserved));
/// assert!(policy.check(&Name::parse("OPENAI_API_KEY")?).is_ok());
/// assert!(policy.check(&Name::parse("OLD_PASSWORD")?).is_ok());
/// assert!(NamePolicy::empty().check(&Name::parse("LD_PRELOAD")?).is_ok());
/// # Ok::<(), NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePolicy {
    /// Upper-case whole names.
    reserved: BTreeSet<String>,
    /// Upper-case prefixes.
    prefixes: BTreeSet<String>,
}

impl NamePolicy {
    /// The whole names reserved by [`NamePolicy::default`] (the reason for
    /// each is in the type's documentation).
    pub const DEFAULT_RESERVED: &'static [&'static str] = &[
        "BASH_ENV",
        "ENV",
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "HOME",
        "IFS",
        "JAVA_TOOL_OPTIONS",
        "NODE_OPTIONS",
        crate::DEFAULT_GATEWAY_TOKEN_VAR,
        "PATH",
        "PERL5OPT",
        "RUBYOPT",
        "SHELL",
    ];

    /// The name prefixes reserved by [`NamePolicy::default`]: every variable
    /// of the Linux and macOS dynamic loaders.
    pub const DEFAULT_RESERVED_PREFIXES: &'static [&'static str] = &["DYLD_", "LD_"];

    /// A policy that reserves nothing.
    pub fn empty() -> Self {
        Self {
            reserved: BTreeSet::new(),
            prefixes: BTreeSet::new(),
        }
    }

    /// Adds a reserved name (compared ignoring case).
    pub fn reserve(mut self, name: &str) -> Self {
        self.reserved.insert(name.to_ascii_uppercase());
        self
    }

    /// Reserves every name that starts with `prefix` (compared ignoring
    /// case), the prefix itself included. An empty prefix reserves every
    /// name.
    pub fn reserve_prefix(mut self, prefix: &str) -> Self {
        self.prefixes.insert(prefix.to_ascii_uppercase());
        self
    }

    /// Accepts `name` unless it is reserved.
    pub fn check(&self, name: &Name) -> Result<(), NameError> {
        if self.is_reserved(name.as_str()) {
            Err(NameError::Reserved)
        } else {
            Ok(())
        }
    }

    /// Whether `name` is reserved: one of the reserved names, or starting
    /// with a reserved prefix, ignoring case.
    pub fn is_reserved(&self, name: &str) -> bool {
        // Folded on the stack: the environment asks this of every attached
        // name at every container start.
        let mut buffer = [0u8; MAX_NAME_LEN];
        let heap;
        let folded: &str = match buffer.get_mut(..name.len()) {
            Some(stack) => {
                stack.copy_from_slice(name.as_bytes());
                stack.make_ascii_uppercase();
                // ASCII upper-casing keeps UTF-8 valid; a failure can't
                // happen, and would only fall back to the allocating path.
                match std::str::from_utf8(stack) {
                    Ok(text) => text,
                    Err(_) => {
                        heap = name.to_ascii_uppercase();
                        &heap
                    }
                }
            }
            None => {
                heap = name.to_ascii_uppercase();
                &heap
            }
        };
        self.reserved.contains(folded)
            || self
                .prefixes
                .iter()
                .any(|prefix| folded.starts_with(prefix.as_str()))
    }
}

impl Default for NamePolicy {
    /// [`NamePolicy::DEFAULT_RESERVED`] and
    /// [`NamePolicy::DEFAULT_RESERVED_PREFIXES`].
    fn default() -> Self {
        let policy = Self::DEFAULT_RESERVED
            .iter()
            .fold(Self::empty(), |policy, name| policy.reserve(name));
        Self::DEFAULT_RESERVED_PREFIXES
            .iter()
            .fold(policy, |policy, prefix| policy.reserve_prefix(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved(policy: &NamePolicy, name: &str) -> bool {
        let parsed = Name::parse(name).expect("a valid name");
        let checked = policy.check(&parsed) == Err(NameError::Reserved);
        assert_eq!(checked, policy.is_reserved(name), "{name}");
        checked
    }

    #[test]
    fn the_default_reserves_code_loading_variables_in_any_case() {
        let policy = NamePolicy::default();
        for name in [
            "NODE_OPTIONS",
            "BASH_ENV",
            "ENV",
            "GCONV_PATH",
            "GLIBC_TUNABLES",
            "PERL5OPT",
            "RUBYOPT",
            "JAVA_TOOL_OPTIONS",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "LD_BIND_NOW",
            "LD_",
            "ld_debug",
            "DYLD_INSERT_LIBRARIES",
            "dyld_fallback_library_path",
            "DYLD_",
            "PATH",
            "Home",
            "SHELL",
            "IFS",
            "openclaw_gateway_token",
        ] {
            assert!(reserved(&policy, name), "{name} must be reserved");
        }
        for name in NamePolicy::DEFAULT_RESERVED {
            assert!(reserved(&policy, name), "{name}");
        }
    }

    #[test]
    fn prefixes_match_only_at_the_start_and_names_only_whole() {
        let policy = NamePolicy::default();
        for name in [
            "OLD_PASSWORD",
            "LD",
            "LDFLAGS",
            "DYLD",
            "BUILD_ENV",
            "ENVIRONMENT",
            "NODE_ENV",
            "NODE_OPTIONS_X",
            "MY_PATH",
            "PATHS",
            "OPENAI_API_KEY",
        ] {
            assert!(!reserved(&policy, name), "{name} must be allowed");
        }
    }

    #[test]
    fn the_policy_stays_configurable() {
        let empty = NamePolicy::empty();
        for name in ["LD_PRELOAD", "NODE_OPTIONS", "DYLD_X", "PATH"] {
            assert!(!reserved(&empty, name), "{name}");
        }
        let custom = NamePolicy::empty()
            .reserve("internal")
            .reserve_prefix("corp_");
        assert!(reserved(&custom, "INTERNAL"));
        assert!(reserved(&custom, "Corp_Token"));
        assert!(reserved(&custom, "CORP_"));
        assert!(!reserved(&custom, "CORP"));
        assert!(!reserved(&custom, "INTERNAL_X"));
        assert!(!reserved(&custom, "LD_PRELOAD"));
        assert_ne!(custom, NamePolicy::empty());

        let everything = NamePolicy::empty().reserve_prefix("");
        assert!(reserved(&everything, "ANYTHING"));
    }
}
