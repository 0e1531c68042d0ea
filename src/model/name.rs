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
///   them because injecting them would change how the agent's process runs
///   (`LD_PRELOAD`, `PATH`, ...) or would shadow a variable the platform sets
///   itself (the gateway token).
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

/// Which names a vault refuses to create, compared ignoring case.
///
/// The default list holds the variables that change how a process loads or
/// finds code (`LD_PRELOAD`, `LD_LIBRARY_PATH`, `LD_AUDIT`, `DYLD_INSERT_LIBRARIES`,
/// `DYLD_LIBRARY_PATH`, `PATH`), `HOME`, `SHELL` and `IFS`, and the gateway-token
/// variable [`DEFAULT_GATEWAY_TOKEN_VAR`](crate::DEFAULT_GATEWAY_TOKEN_VAR),
/// which the platform sets itself.
///
/// ```
/// use agent_vault::{Name, NamePolicy, NameError};
/// let policy = NamePolicy::default().reserve("INTERNAL_TOKEN");
/// assert_eq!(policy.check(&Name::parse("ld_preload")?), Err(NameError::Reserved));
/// assert_eq!(policy.check(&Name::parse("Internal_Token")?), Err(NameError::Reserved));
/// assert!(policy.check(&Name::parse("OPENAI_API_KEY")?).is_ok());
/// # Ok::<(), NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePolicy {
    reserved: BTreeSet<String>,
}

impl NamePolicy {
    /// The names reserved by [`NamePolicy::default`].
    pub const DEFAULT_RESERVED: &'static [&'static str] = &[
        "DYLD_INSERT_LIBRARIES",
        "DYLD_LIBRARY_PATH",
        "HOME",
        "IFS",
        "LD_AUDIT",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        crate::DEFAULT_GATEWAY_TOKEN_VAR,
        "PATH",
        "SHELL",
    ];

    /// A policy that reserves nothing.
    pub fn empty() -> Self {
        Self {
            reserved: BTreeSet::new(),
        }
    }

    /// Adds a reserved name (compared ignoring case).
    pub fn reserve(mut self, name: &str) -> Self {
        self.reserved.insert(name.to_ascii_uppercase());
        self
    }

    /// Accepts `name` unless it is reserved.
    pub fn check(&self, name: &Name) -> Result<(), NameError> {
        if self.reserved.contains(&name.folded()) {
            Err(NameError::Reserved)
        } else {
            Ok(())
        }
    }

    /// Whether `name` is reserved.
    pub fn is_reserved(&self, name: &str) -> bool {
        self.reserved.contains(&name.to_ascii_uppercase())
    }
}

impl Default for NamePolicy {
    fn default() -> Self {
        Self::DEFAULT_RESERVED
            .iter()
            .fold(Self::empty(), |policy, name| policy.reserve(name))
    }
}
