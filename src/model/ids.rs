use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;

/// A user of the host service, identified by the opaque id the host gives.
///
/// Accepted: 1 to 128 bytes of ASCII letters, digits and `-`, `_`, `.`, `:`,
/// `@`. That covers UUIDs, database keys, e-mail-like handles and `tenant:user`
/// pairs while keeping ids safe to put in file names, logs and key-derivation
/// input without escaping.
///
/// ```
/// use agent_vault::UserId;
/// let user = UserId::parse("user_42")?;
/// assert_eq!(user.as_str(), "user_42");
/// assert!(UserId::parse("").is_err());
/// assert!(UserId::parse("has space").is_err());
/// # Ok::<(), agent_vault::UserIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Parses a user id; see the type's documentation for what is accepted.
    pub fn parse(id: &str) -> Result<Self, UserIdError> {
        if id.is_empty() {
            return Err(UserIdError::Empty);
        }
        if id.len() > MAX_USER_ID_LEN {
            return Err(UserIdError::TooLong {
                max: MAX_USER_ID_LEN,
            });
        }
        if let Some(position) = id
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b"-_.:@".contains(&b)))
        {
            return Err(UserIdError::InvalidCharacter { position });
        }
        Ok(Self(id.to_owned()))
    }

    /// Parses a user id as a [`Store`](crate::store::Store) gives it back
    /// (for example from a text column in [`Store::users`](crate::store::Store::users)):
    /// every id [`UserId::parse`] accepts, plus the ids the vault reserves for
    /// records that belong to no user. Those start with `~`, which `parse`
    /// refuses, so no user can ever collide with one.
    ///
    /// ```
    /// use agent_vault::UserId;
    /// assert!(UserId::parse("~vault").is_err());
    /// assert!(UserId::parse_stored("~vault")?.is_reserved());
    /// assert!(!UserId::parse_stored("alice")?.is_reserved());
    /// # Ok::<(), agent_vault::UserIdError>(())
    /// ```
    pub fn parse_stored(id: &str) -> Result<Self, UserIdError> {
        match id.strip_prefix(RESERVED_PREFIX) {
            Some(rest) => Self::parse(rest)
                .map(|_| Self(id.to_owned()))
                .map_err(|error| {
                    match error {
                        // Positions refer to the whole id.
                        UserIdError::InvalidCharacter { position } => {
                            UserIdError::InvalidCharacter {
                                position: position + RESERVED_PREFIX.len(),
                            }
                        }
                        other => other,
                    }
                }),
            None => Self::parse(id),
        }
    }

    /// Whether this is one of the vault's reserved ids (see
    /// [`UserId::parse_stored`]) rather than a user's.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with(RESERVED_PREFIX)
    }

    /// The reserved id under which the vault keeps records of its own (the
    /// master keys' check values, `docs/FORMAT.md` §9).
    pub(crate) fn vault() -> Self {
        Self(format!("{RESERVED_PREFIX}vault"))
    }

    /// Refuses a reserved id as the user a vault call acts for: reserved
    /// ids name the vault's own records, never a user, so no call may act
    /// as one (a host that read an id with [`UserId::parse_stored`] can't
    /// reach the vault's key check values through the API).
    pub(crate) fn check_acting(&self) -> Result<(), UserIdError> {
        if self.is_reserved() {
            Err(UserIdError::Reserved)
        } else {
            Ok(())
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the vault's reserved user ids start with: a character
/// [`UserId::parse`] refuses.
const RESERVED_PREFIX: &str = "~";

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserId").field(&self.0).finish()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a user id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserIdError {
    /// The id is empty.
    #[error("user id is empty")]
    Empty,
    /// A byte outside the accepted set, at this 0-based position.
    #[error(
        "user id has a character other than ASCII letters, digits, '-', '_', '.', ':', '@' at byte {position}"
    )]
    InvalidCharacter {
        /// Byte offset of the first refused character.
        position: usize,
    },
    /// The id is one of the vault's reserved ids ([`UserId::is_reserved`]),
    /// which names no user.
    #[error("user id is reserved for the vault's own records")]
    Reserved,
    /// The id is longer than allowed.
    #[error("user id is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// Text that is not an [`ItemId`] or [`AgentId`]: not a UUID. The text is
/// not repeated (a value pasted in its place would be).
///
/// ```
/// use agent_vault::ItemId;
/// let error = ItemId::parse("sk-not-an-id").unwrap_err();
/// assert_eq!(error.to_string(), "not an ItemId: expected a UUID");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an {what}: expected a UUID")]
pub struct InvalidId {
    what: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (version 4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the text form of a UUID (hyphenated, simple, braced
            /// or URN).
            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(text).map(Self).map_err(|_| InvalidId {
                    what: stringify!($name),
                })
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

uuid_id!(
    /// The id the library gives a secret or variable when it is created.
    ItemId
);
uuid_id!(
    /// The id the library gives an agent when it is created.
    AgentId
);
