use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ItemId, Name};

/// Whether an item is encrypted at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Encrypted at rest, never returned after saving. If unsure, choose this.
    Secret,
    /// Stored in plaintext, value returned in listings: for non-sensitive
    /// configuration such as public URLs and feature flags.
    Variable,
}

impl Kind {
    /// `"secret"` or `"variable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Variable => "variable",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970 is a host misconfiguration; clamp rather than fail.
            Err(_) => 0,
        };
        Self(millis)
    }

    /// From milliseconds since the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// The time as an [`OffsetDateTime`] in UTC.
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 text, for example `2026-11-28T15:18:07.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_offset_date_time()
            .format(&Rfc3339)
            // Formatting a UTC time within the representable range cannot fail.
            .unwrap_or_default()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// What a listing shows of a secret or variable.
///
/// `value` is `Some` for variables only: a secret's value never leaves the
/// vault except inside an agent's [`Environment`](crate::Environment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ItemInfo {
    /// The id the vault gave the item.
    pub id: ItemId,
    /// The environment variable name.
    pub name: Name,
    /// Secret or variable.
    pub kind: Kind,
    /// For variables, the plaintext value; always `None` for secrets.
    pub value: Option<String>,
    /// The agents the item is attached to.
    pub agents: Vec<crate::AgentId>,
    /// Increases by one on every change of the value (1 when created).
    pub version: u64,
    /// When the item was created.
    pub created_at: Timestamp,
    /// When the value last changed.
    pub updated_at: Timestamp,
}
