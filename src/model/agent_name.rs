use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The longest agent name accepted, in characters.
pub const MAX_AGENT_NAME_CHARS: usize = 100;

/// An agent's display name: 1 to [`MAX_AGENT_NAME_CHARS`] characters, none
/// of them a control character or a bidirectional-text control.
///
/// Unlike an item's [`Name`](crate::Name) it is free text (spaces, any
/// script, emoji): it labels the agent for people and never becomes an
/// environment variable. Control characters are refused because names end
/// up in terminals and logs, and the bidirectional controls (U+202A to
/// U+202E, U+2066 to U+2069, U+200E, U+200F, U+061C) because they make a
/// name display as something else.
///
/// ```
/// use agent_vault::{AgentName, AgentNameError};
/// assert_eq!(AgentName::parse("Support bot ✨")?.as_str(), "Support bot ✨");
/// assert_eq!(AgentName::parse(""), Err(AgentNameError::Empty));
/// assert!(matches!(
///     AgentName::parse("two\nlines"),
///     Err(AgentNameError::ControlCharacter { position: 3 })
/// ));
/// // A right-to-left override would show "bot-exe.txt" as "bot-txt.exe".
/// assert!(AgentName::parse("bot-\u{202E}txt.exe").is_err());
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
        if let Some(position) = name.chars().position(is_refused) {
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

/// A control character, or a character that reorders how the text around
/// it is displayed.
fn is_refused(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
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
    /// A control character (a newline, an escape, ...) or a
    /// bidirectional-text control at this character position (0-based).
    #[error("it has a control character at position {position}")]
    ControlCharacter {
        /// 0-based position in characters.
        position: usize,
    },
}
