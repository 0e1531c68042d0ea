//! What an error may repeat of the input it refuses.
//!
//! A parse error that named what it was given would help with a typo, but
//! the same field sometimes receives a pasted secret (an API key in the
//! `provider` field of a request, a password at a prompt for a kind), and
//! no rule about its shape tells the two apart: a short key of letters and
//! dashes looks like a spelling. So text from outside is described by its
//! length only; only text the crate built itself from typed values (a
//! `provider:kind` pair) is shown.

use std::fmt;

/// An input as an error may show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Echo {
    shown: Option<String>,
    chars: usize,
}

impl Echo {
    /// Text from outside: only its length is kept.
    pub(crate) fn hidden(input: &str) -> Self {
        Self {
            shown: None,
            chars: input.chars().count(),
        }
    }

    /// Text the crate built from typed values, which holds no secret.
    pub(crate) fn known(text: String) -> Self {
        Self {
            chars: text.chars().count(),
            shown: Some(text),
        }
    }

    /// The text, when it was built by the crate.
    pub(crate) fn shown(&self) -> Option<&str> {
        self.shown.as_deref()
    }
}

impl fmt::Display for Echo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shown {
            Some(text) => write!(f, "{text:?}"),
            None if self.chars == 1 => f.write_str("(1 character, not shown)"),
            None => write!(f, "({} characters, not shown)", self.chars),
        }
    }
}

impl fmt::Debug for Echo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Echo;

    #[test]
    fn input_is_never_repeated_and_built_text_is() {
        // Shaped like a spelling, and still a secret.
        let pasted = "sk-live-canary-key";
        let shown = format!("{} {:?}", Echo::hidden(pasted), Echo::hidden(pasted));
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(
            Echo::hidden(pasted).to_string(),
            "(18 characters, not shown)"
        );
        assert_eq!(Echo::hidden(pasted).shown(), None);
        let built = Echo::known("pinata:api-key".to_owned());
        assert_eq!(built.to_string(), "\"pinata:api-key\"");
        assert_eq!(built.shown(), Some("pinata:api-key"));
    }
}
