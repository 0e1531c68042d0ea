//! Stable codes for every enum that is stored (`docs/FORMAT.md` §6.2).
//!
//! A stored enum is written as the one-byte code listed next to its variant
//! here, never by its position in the declaration: reordering the public
//! enums, or adding a variant anywhere, changes no stored byte. A code, once
//! given, is never reused for another variant; an unknown code is a corrupt
//! record, not a guess.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::{CredentialKind, Kind, Provider};

/// An enum with a stable one-byte code per variant, declared with
/// [`stable_codes!`].
pub(crate) trait Code: Copy + 'static {
    /// What the codes are of, for error messages.
    const WHAT: &'static str;

    /// The variant's code.
    fn code(self) -> u8;

    /// The variant with `code`; `None` for a code never given.
    fn from_code(code: u8) -> Option<Self>;
}

/// Declares the codes of an enum: `Variant = code` pairs. `code` is an
/// exhaustive `match`, so a variant added without a code does not compile.
macro_rules! stable_codes {
    ($what:literal, $ty:ident { $($variant:ident = $code:literal,)+ }) => {
        impl $crate::records::codes::Code for $ty {
            const WHAT: &'static str = $what;

            fn code(self) -> u8 {
                match self {
                    $($ty::$variant => $code,)+
                }
            }

            fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use stable_codes;

stable_codes!("item kind", Kind {
    Secret = 1,
    Variable = 2,
});

stable_codes!("provider", Provider {
    Anthropic = 1,
    Custom = 2,
    OpenAi = 3,
    OpenRouter = 4,
    Pinata = 5,
    Venice = 6,
});

stable_codes!("credential kind", CredentialKind {
    ApiKey = 1,
    CodexSubscription = 2,
    Custom = 3,
    Hosted = 4,
});

/// The tag of a stored attachment target (FORMAT.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetTag {
    Item,
    Connection,
}

stable_codes!("attachment target", TargetTag {
    Item = 1,
    Connection = 2,
});

/// `#[serde(with = "codes::coded")]`: a [`Code`] enum as its one-byte code.
pub(crate) mod coded {
    use super::*;

    pub(crate) fn serialize<T: Code, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(value.code())
    }

    pub(crate) fn deserialize<'de, T: Code, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let code = u8::deserialize(d)?;
        T::from_code(code)
            .ok_or_else(|| D::Error::custom(format!("unknown {} code {code}", T::WHAT)))
    }
}

/// `#[serde(with = "codes::coded_option")]`: `None` or `Some` and the code.
pub(crate) mod coded_option {
    use serde::Serialize as _;

    use super::*;

    pub(crate) fn serialize<T: Code, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.map(Code::code).serialize(s)
    }

    pub(crate) fn deserialize<'de, T: Code, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<u8>::deserialize(d)? {
            None => Ok(None),
            Some(code) => T::from_code(code)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("unknown {} code {code}", T::WHAT))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fmt::Debug;

    use super::*;

    /// Codes are unique, never 0, and read back as their variant.
    fn check_table<T: Code + Debug + PartialEq>(all: &[T]) {
        let codes: BTreeSet<u8> = all.iter().map(|variant| variant.code()).collect();
        assert_eq!(codes.len(), all.len(), "{}: codes are unique", T::WHAT);
        assert!(!codes.contains(&0), "{}: 0 is never a code", T::WHAT);
        for variant in all {
            assert_eq!(T::from_code(variant.code()), Some(*variant));
        }
        let unused = (0..=u8::MAX).filter(|code| !codes.contains(code));
        for code in unused {
            assert_eq!(
                T::from_code(code),
                None,
                "{}: {code} is not a code",
                T::WHAT
            );
        }
    }

    #[test]
    fn codes_are_unique_and_read_back() {
        check_table(&[Kind::Secret, Kind::Variable]);
        check_table(&Provider::ALL);
        check_table(&[
            CredentialKind::ApiKey,
            CredentialKind::CodexSubscription,
            CredentialKind::Custom,
            CredentialKind::Hosted,
        ]);
        check_table(&[TargetTag::Item, TargetTag::Connection]);
    }
}
