use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The largest value accepted by default, in bytes.
pub const DEFAULT_MAX_VALUE_LEN: usize = 64 * 1024;

/// A value on its way into the vault: UTF-8, non-empty, no NUL byte.
///
/// It wraps a [`SecretString`], so it redacts `Debug`, has no `Display` or
/// `Serialize`, and zeroises its buffer on drop. The size limit is the vault's
/// to set ([`VaultConfig::max_value_len`](crate::VaultConfig)), so it is
/// checked when the value is stored, not here.
///
/// ```
/// use agent_vault::SecretValue;
/// let value = SecretValue::parse("sk-live-123".into())?;
/// assert_eq!(format!("{value:?}"), "SecretValue([REDACTED])");
/// assert!(SecretValue::parse("".into()).is_err());
/// assert!(SecretValue::parse("a\0b".into()).is_err());
/// # Ok::<(), agent_vault::ValueError>(())
/// ```
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Accepts `value` if it is non-empty and holds no NUL byte (an
    /// environment variable cannot carry one).
    pub fn parse(value: SecretString) -> Result<Self, ValueError> {
        let text = value.expose_secret();
        if text.is_empty() {
            return Err(ValueError::Empty);
        }
        if let Some(position) = text.bytes().position(|b| b == 0) {
            return Err(ValueError::NulByte { position });
        }
        Ok(Self(value))
    }

    /// The one door to the plaintext; every use is greppable.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// Always false: an empty value is refused by [`SecretValue::parse`].
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl From<SecretValue> for SecretString {
    fn from(value: SecretValue) -> Self {
        value.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

/// Why a value was refused. It never carries the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    #[error("value is empty")]
    Empty,
    /// The value holds a NUL byte at this 0-based byte position.
    #[error("value holds a NUL byte at byte {position}")]
    NulByte {
        /// Byte offset of the first NUL.
        position: usize,
    },
    /// The value is larger than the vault's limit.
    #[error("value is {len} bytes, more than the limit of {max}")]
    TooLong {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}
