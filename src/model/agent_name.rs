use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The longest agent name accepted, in characters.
pub const MAX_AGENT_NAME_CHARS: usize = 100;

/// An agent's display name: 1 to [`MAX_AGENT_NAME_CHARS`] characters, none
/// of them a control character.
///
/// Unlike an item's [`Name`](crate::Name) it is free text (spaces, any
/// script, emoji): it labels the agent for people and never becomes an
/// environment variable. Control characters are refused because names end
/// up in terminals and logs.
///
/// ```
/// use agent_vault::{AgentName, AgentNameError};
/// assert_eq!(AgentName::parse("Support bot ✨")?.as_str(), "Support bot ✨");
/// assert_eq!(AgentName::parse(""), Err(AgentNameError::Empty));
/// assert!(matches!(
///     AgentName::parse("two\nlines"),
///     Err(AgentNameError::ControlCharacter { position: 3 })
/// ));
/// # Ok::<(), AgentNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentName(String);

impl AgentName {
    /// Parses an agent name; see the type's documentation for the rule.
    pub fn parse(name: &str) -> Result<Self, AgentNameError> {
        if name.is_empty() {
            return Err(AgentNameError::Empty);
        }
        if let Some(position) = name.chars().position(char::is_control) {
            return Err(AgentNameError::ControlCharacter { position });
        }
        if name.chars().count() > MAX_AGENT_NAME_CHARS {
            return Err(AgentNameError::TooLong {
                max: MAX_AGENT_NAME_CHARS,
            });
        }
        Ok(Self(name.to_owned()))
    }

    /// A name read back from a record the vault wrote from a parsed name.
    pub(crate) fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for AgentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for AgentName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AgentName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl FromStr for AgentName {
    type Err = AgentNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<&str> for AgentName {
    type Error = AgentNameError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::parse(name)
    }
}

/// Why an [`AgentName`] was refused. Says what and where, never repeating
/// the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentNameError {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// The name is longer than `max` characters.
    #[error("it is longer than {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// A control character (a newline, an escape, ...) at this character
    /// position (0-based).
    #[error("it has a control character at position {position}")]
    ControlCharacter {
        /// 0-based position in characters.
        position: usize,
    },
}
