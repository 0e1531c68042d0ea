//! What an agent declares it needs: the `"secrets"` block of its manifest.
//!
//! The product's agent manifests list the environment variables an agent
//! expects, by name:
//!
//! ```json
//! "secrets": [
//!   { "name": "OPENROUTER_API_KEY" },
//!   { "name": "TELEGRAM_BOT_TOKEN", "description": "BotFather token", "required": false }
//! ]
//! ```
//!
//! [`Requirements::from_manifest_json`] reads that block from a whole
//! manifest and ignores everything else in it;
//! [`Vault::check_requirements`](crate::Vault::check_requirements) then says,
//! for each name, whether the agent has it.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Name, NameError};

/// One declared variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Requirement {
    /// The environment variable the agent reads.
    pub name: Name,
    /// What it is for, as the manifest says.
    pub description: Option<String>,
    /// Whether the agent cannot work without it (`"required"`, default
    /// `true`).
    pub required: bool,
}

impl Requirement {
    /// A requirement for `name`, required, without a description.
    pub fn new(name: Name) -> Self {
        Self {
            name,
            description: None,
            required: true,
        }
    }

    /// Sets whether it is required.
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// The variables an agent declares, in manifest order, each name once.
///
/// ```
/// use agent_vault::Requirements;
///
/// let manifest = r#"{
///   "name": "support-bot",
///   "secrets": [
///     { "name": "OPENROUTER_API_KEY" },
///     { "name": "TELEGRAM_BOT_TOKEN", "description": "BotFather token", "required": false }
///   ],
///   "anything": ["else", "is ignored"]
/// }"#;
/// let requirements = Requirements::from_manifest_json(manifest)?;
/// let names: Vec<_> = requirements.iter().map(|r| (r.name.as_str(), r.required)).collect();
/// assert_eq!(names, [("OPENROUTER_API_KEY", true), ("TELEGRAM_BOT_TOKEN", false)]);
/// # Ok::<(), agent_vault::ManifestError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Requirements {
    entries: Vec<Requirement>,
}

impl Requirements {
    /// Reads the `"secrets"` block of a manifest JSON document; everything
    /// else in the document is ignored. A manifest without the block (or
    /// with `"secrets": null`) declares nothing.
    ///
    /// Each entry is an object with a `"name"` (an environment-variable
    /// name, as [`Name::parse`] accepts), an optional `"description"` string
    /// and an optional `"required"` boolean, `true` when absent; other
    /// fields of an entry are ignored.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Json`] with the line and column for a document that
    /// is not JSON or whose block has the wrong shape (the message never
    /// quotes the document); [`ManifestError::InvalidName`] and
    /// [`ManifestError::DuplicateName`] with the entry's index and name.
    pub fn from_manifest_json(json: &str) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        struct Manifest {
            #[serde(default)]
            secrets: Option<Vec<Entry>>,
        }
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(default)]
            required: Option<bool>,
        }
        let manifest: Manifest = serde_json::from_str(json).map_err(|e| ManifestError::Json {
            line: u32::try_from(e.line()).unwrap_or(u32::MAX),
            column: u32::try_from(e.column()).unwrap_or(u32::MAX),
            category: match e.classify() {
                serde_json::error::Category::Io => JsonErrorKind::Io,
                serde_json::error::Category::Syntax => JsonErrorKind::Syntax,
                serde_json::error::Category::Data => JsonErrorKind::Shape,
                serde_json::error::Category::Eof => JsonErrorKind::EndOfInput,
            },
        })?;
        let mut requirements = Self::default();
        for (index, entry) in manifest.secrets.unwrap_or_default().into_iter().enumerate() {
            let name = Name::parse(&entry.name).map_err(|reason| ManifestError::InvalidName {
                index,
                name: entry.name.clone(),
                reason,
            })?;
            let mut requirement = Requirement::new(name).required(entry.required.unwrap_or(true));
            requirement.description = entry.description;
            requirements
                .push(requirement)
                .map_err(|first| ManifestError::DuplicateName {
                    index,
                    first_index: first,
                    name: entry.name,
                })?;
        }
        Ok(requirements)
    }

    /// Adds `requirement`; `Err` with the index of the entry already holding
    /// its name, compared ignoring case (as the vault compares names).
    pub fn push(&mut self, requirement: Requirement) -> Result<(), usize> {
        let folded = requirement.name.folded();
        if let Some(first) = self.entries.iter().position(|r| r.name.folded() == folded) {
            return Err(first);
        }
        self.entries.push(requirement);
        Ok(())
    }

    /// The requirements, in declaration order.
    pub fn iter(&self) -> std::slice::Iter<'_, Requirement> {
        self.entries.iter()
    }

    /// How many names are declared.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> IntoIterator for &'a Requirements {
    type Item = &'a Requirement;
    type IntoIter = std::slice::Iter<'a, Requirement>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl FromIterator<Requirement> for Requirements {
    /// Collects requirements; a later entry with a name already present
    /// (ignoring case) is dropped.
    fn from_iter<I: IntoIterator<Item = Requirement>>(iter: I) -> Self {
        let mut out = Self::default();
        let mut seen = HashSet::new();
        for requirement in iter {
            if seen.insert(requirement.name.folded()) {
                out.entries.push(requirement);
            }
        }
        out
    }
}

/// Why a manifest's `"secrets"` block was refused. Names are not secret and
/// are shown; nothing else of the document is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Two entries name the same variable (ignoring case).
    #[error("secrets[{index}]: {name:?} is already declared by secrets[{first_index}]")]
    DuplicateName {
        /// 0-based index of the second entry in `"secrets"`.
        index: usize,
        /// 0-based index of the first.
        first_index: usize,
        /// The name, as the second entry spells it.
        name: String,
    },
    /// An entry's name is not an environment-variable name.
    #[error("secrets[{index}]: {name:?} is not a variable name: {reason}")]
    InvalidName {
        /// 0-based index of the entry in `"secrets"`.
        index: usize,
        /// The refused name.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// The document is not JSON, or the `"secrets"` block is not a list of
    /// `{"name", "description"?, "required"?}` objects.
    #[error(
        "manifest: {category} error at line {line}, column {column}: expected \"secrets\": \
         [{{\"name\": \"VAR\", \"description\"?: \"...\", \"required\"?: true|false}}, ...]"
    )]
    Json {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What kind of error.
        category: JsonErrorKind,
    },
}

/// What kind of JSON error a manifest has ([`ManifestError::Json`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Not JSON.
    Syntax,
    /// JSON, but not the manifest's shape.
    Shape,
    /// The text ends too early.
    EndOfInput,
    /// Reading failed.
    Io,
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Syntax => "syntax",
            Self::Shape => "shape",
            Self::EndOfInput => "end of input",
            Self::Io => "I/O",
        })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let required = if self.required {
            "required"
        } else {
            "optional"
        };
        write!(f, "{} ({required})", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_read_and_the_rest_ignored() {
        let json = r#"{"version": 2, "secrets": [
            {"name": "A", "extra": {"nested": [1, 2]}},
            {"name": "B", "required": false, "description": "bee"},
            {"name": "C", "required": true}
        ], "tools": {"secrets": "not this one"}}"#;
        let r = Requirements::from_manifest_json(json).unwrap();
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.name.as_str(), r.required, r.description.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("A", true, None),
                ("B", false, Some("bee")),
                ("C", true, None)
            ]
        );
        for empty in ["{}", r#"{"secrets": null}"#, r#"{"secrets": []}"#] {
            assert!(Requirements::from_manifest_json(empty).unwrap().is_empty());
        }
    }

    #[test]
    fn bad_documents_say_where_and_bad_names_say_which() {
        let cases = [
            ("{\n  \"secrets\": [\n    {\"name\": 1}\n  ]\n}", 3, 14),
            ("{\"secrets\": [{\"description\": \"x\"}]}", 1, 33),
            ("{\"secrets\": {\"name\": \"A\"}}", 1, 12),
            (
                "{\"secrets\": [{\"name\": \"A\", \"required\": \"yes\"}]}",
                1,
                44,
            ),
            ("[1, 2]", 1, 2),
            ("{\"secrets\": [", 1, 13),
        ];
        let got: Vec<_> = cases
            .iter()
            .map(
                |(json, _, _)| match Requirements::from_manifest_json(json) {
                    Err(ManifestError::Json { line, column, .. }) => (line, column),
                    other => panic!("{json}: {other:?}"),
                },
            )
            .collect();
        let want: Vec<_> = cases.iter().map(|&(_, l, c)| (l, c)).collect();
        assert_eq!(got, want);
        let err = Requirements::from_manifest_json(
            r#"{"secrets": [{"name": "OK"}, {"name": "MY-KEY"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ManifestError::InvalidName {
                index: 1,
                name: "MY-KEY".into(),
                reason: NameError::InvalidCharacter { position: 2 },
            }
        );
        let err = Requirements::from_manifest_json(
            r#"{"secrets": [{"name": "API_KEY"}, {"name": "X"}, {"name": "api_key"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ManifestError::DuplicateName {
                index: 2,
                first_index: 0,
                name: "api_key".into(),
            }
        );
    }

    #[test]
    fn errors_never_quote_the_document() {
        let json = r#"{"secrets": [{"name": "A", "description": 7}], "key": "CANARY-sk-123"}"#;
        let err = Requirements::from_manifest_json(json).unwrap_err();
        assert!(matches!(err, ManifestError::Json { .. }));
        let json = r#"{"secrets": "CANARY-sk-123"}"#;
        let err = Requirements::from_manifest_json(json).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("CANARY"));
    }
}
