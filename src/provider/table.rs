//! The providers, how each connects, and the one table from connections to
//! the environment variables they set: every rule about which connections
//! exist reads [`VARIABLES`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::unknown::{UnknownConnection, UnknownCredentialKind, UnknownProvider};

/// An AI provider a user can connect.
///
/// Parsed by [`Provider::parse`] or [`str::parse`]; more providers may come,
/// so a `match` needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provider {
    /// Anthropic, by API key.
    Anthropic,
    /// Any OpenAI-compatible endpoint.
    Custom,
    /// OpenAI, by API key or by a Codex-subscription OAuth token.
    OpenAi,
    /// OpenRouter, by API key.
    OpenRouter,
    /// Pinata-hosted inference, by the inference key the host generates.
    Pinata,
    /// Venice, by API key.
    Venice,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 6] = [
        Self::Anthropic,
        Self::Custom,
        Self::OpenAi,
        Self::OpenRouter,
        Self::Pinata,
        Self::Venice,
    ];

    /// Lower-case name, as the CLI types it: `anthropic`, `openai`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::Custom => "custom",
            Self::OpenAi => "openai",
            Self::OpenRouter => "openrouter",
            Self::Pinata => "pinata",
            Self::Venice => "venice",
        }
    }

    /// The provider named `text` (ignoring case).
    ///
    /// ```
    /// use agent_vault::Provider;
    /// assert_eq!(Provider::parse("OpenAI"), Ok(Provider::OpenAi));
    /// let err = Provider::parse("gemini").unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "unknown provider (6 characters, not shown): expected one of anthropic, openai"
    /// ));
    /// ```
    pub fn parse(text: &str) -> Result<Self, UnknownProvider> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownProvider::new(text))
    }

    /// The provider whose credential a variable named `name` carries, per
    /// [`VARIABLES`]; compared ignoring case.
    pub fn owning_variable(name: &str) -> Option<Self> {
        VARIABLES
            .iter()
            .find(|row| row.name.eq_ignore_ascii_case(name))
            .map(|row| row.provider)
    }
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection authenticates: the card's label.
///
/// More kinds may come, so a `match` needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CredentialKind {
    /// An API key (`API KEY` on the card).
    ApiKey,
    /// A Codex-subscription OAuth token bundle (OpenAI only).
    CodexSubscription,
    /// An OpenAI-compatible endpoint (Custom only).
    Custom,
    /// Hosted inference, by a key the hosting platform generated (Pinata
    /// only).
    Hosted,
}

impl CredentialKind {
    /// Every kind.
    const ALL: [CredentialKind; 4] = [
        Self::ApiKey,
        Self::CodexSubscription,
        Self::Custom,
        Self::Hosted,
    ];

    /// `api-key`, `codex-subscription`, `custom` or `hosted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api-key",
            Self::CodexSubscription => "codex-subscription",
            Self::Custom => "custom",
            Self::Hosted => "hosted",
        }
    }

    /// The kind named `text` (ignoring case).
    pub fn parse(text: &str) -> Result<Self, UnknownCredentialKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownCredentialKind::new(text))
    }
}

impl FromStr for CredentialKind {
    type Err = UnknownCredentialKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider connection's address: a user holds at most one connection per
/// provider and kind (so both an OpenAI API key and a Codex subscription, but
/// not two OpenAI API keys: connecting again updates).
///
/// Only a pair [`VARIABLES`] has rows for can be built, so a value of this
/// type is always a connection that exists: `anthropic:hosted` can't be
/// written.
///
/// ```
/// use agent_vault::{ConnectionId, CredentialKind, Provider};
/// let codex = ConnectionId::parse("openai:codex-subscription")?;
/// assert_eq!(codex.kind(), CredentialKind::CodexSubscription);
/// assert_eq!(ConnectionId::parse("openai")?.kind(), CredentialKind::ApiKey);
/// assert!(ConnectionId::new(Provider::Pinata, CredentialKind::ApiKey).is_err());
/// assert!("anthropic:hosted".parse::<ConnectionId>().is_err());
/// # Ok::<(), agent_vault::UnknownConnection>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawConnectionId")]
pub struct ConnectionId {
    provider: Provider,
    kind: CredentialKind,
}

/// A deserialised pair, before [`ConnectionId::new`] checks it.
#[derive(Deserialize)]
struct RawConnectionId {
    provider: Provider,
    kind: CredentialKind,
}

impl TryFrom<RawConnectionId> for ConnectionId {
    type Error = UnknownConnection;

    fn try_from(raw: RawConnectionId) -> Result<Self, Self::Error> {
        Self::new(raw.provider, raw.kind)
    }
}

impl ConnectionId {
    /// The connection of `provider` by `kind`, if [`VARIABLES`] has one.
    pub fn new(provider: Provider, kind: CredentialKind) -> Result<Self, UnknownConnection> {
        let id = Self { provider, kind };
        if VARIABLES.iter().any(|row| row.connection() == id) {
            Ok(id)
        } else {
            Err(UnknownConnection::of_pair(id.record_id()))
        }
    }

    /// The provider's first connection in [`VARIABLES`]: its only one, or
    /// for OpenAI the API key.
    pub fn default_for(provider: Provider) -> Self {
        VARIABLES
            .iter()
            .map(VariableRow::connection)
            .find(|id| id.provider == provider)
            .unwrap_or_else(|| {
                unreachable!("every provider has a row in VARIABLES; a unit test checks it")
            })
    }

    /// Parses `provider` (its [default](Self::default_for) connection) or
    /// `provider:kind`, e.g. `openai:codex-subscription`, ignoring case.
    pub fn parse(text: &str) -> Result<Self, UnknownConnection> {
        let unknown = || UnknownConnection::new(text);
        match text.split_once(':') {
            Some((provider, kind)) => {
                let provider = Provider::parse(provider).map_err(|_| unknown())?;
                let kind = CredentialKind::parse(kind).map_err(|_| unknown())?;
                Self::new(provider, kind).map_err(|_| unknown())
            }
            None => Provider::parse(text)
                .map(Self::default_for)
                .map_err(|_| unknown()),
        }
    }

    /// The provider.
    pub fn provider(self) -> Provider {
        self.provider
    }

    /// How it connects.
    pub fn kind(self) -> CredentialKind {
        self.kind
    }

    /// The variable names it sets when it has all optional parts, in
    /// [`VARIABLES`] order.
    pub fn variables(self) -> impl Iterator<Item = &'static str> {
        VARIABLES
            .iter()
            .filter(move |row| row.connection() == self)
            .map(|row| row.name)
    }

    /// The record id: `provider:kind`.
    pub fn record_id(self) -> String {
        format!("{}:{}", self.provider.as_str(), self.kind.as_str())
    }

    /// A connection a credential type makes by construction; a unit test
    /// checks that each is in [`VARIABLES`].
    pub(super) const fn known(provider: Provider, kind: CredentialKind) -> Self {
        Self { provider, kind }
    }
}

impl FromStr for ConnectionId {
    type Err = UnknownConnection;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.kind)
    }
}

/// One row of the provider-to-environment table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VariableRow {
    /// The provider.
    pub provider: Provider,
    /// The connection kind that sets the variable.
    pub kind: CredentialKind,
    /// The environment variable.
    pub name: &'static str,
    /// What it holds.
    pub holds: &'static str,
}

impl VariableRow {
    /// The connection that sets this row's variable. The row is in the
    /// table, so the connection exists.
    fn connection(&self) -> ConnectionId {
        ConnectionId::known(self.provider, self.kind)
    }
}

/// The one table from connections to environment variables: a connection
/// exists if and only if it has a row here.
///
/// | provider   | kind               | variable                  | holds |
/// |------------|--------------------|---------------------------|-------|
/// | anthropic  | api-key            | `ANTHROPIC_API_KEY`       | the API key |
/// | openai     | api-key            | `OPENAI_API_KEY`          | the API key |
/// | openai     | codex-subscription | `OPENAI_OAUTH_TOKEN`      | JSON `{"access_token","refresh_token","expires_at"}` |
/// | openrouter | api-key            | `OPENROUTER_API_KEY`      | the API key |
/// | venice     | api-key            | `VENICE_API_KEY`          | the API key |
/// | pinata     | hosted             | `PINATA_LLM_KEY`          | the inference key the host generated |
/// | custom     | custom             | `CUSTOM_OPENAI_BASE_URL`  | the endpoint's base URL |
/// | custom     | custom             | `CUSTOM_OPENAI_API_KEY`   | the API key, set only if one was given |
/// | custom     | custom             | `CUSTOM_OPENAI_MODELS`    | model ids joined by `,`, set only if any were given |
///
/// A user secret or variable with one of these names counts as that
/// provider's credential when attached: an agent can't hold it together with
/// a connection of the same provider.
pub const VARIABLES: &[VariableRow] = &[
    row(
        Provider::Anthropic,
        CredentialKind::ApiKey,
        "ANTHROPIC_API_KEY",
        "the API key",
    ),
    row(
        Provider::OpenAi,
        CredentialKind::ApiKey,
        "OPENAI_API_KEY",
        "the API key",
    ),
    row(
        Provider::OpenAi,
        CredentialKind::CodexSubscription,
        "OPENAI_OAUTH_TOKEN",
        "the OAuth token bundle as JSON",
    ),
    row(
        Provider::OpenRouter,
        CredentialKind::ApiKey,
        "OPENROUTER_API_KEY",
        "the API key",
    ),
    row(
        Provider::Venice,
        CredentialKind::ApiKey,
        "VENICE_API_KEY",
        "the API key",
    ),
    row(
        Provider::Pinata,
        CredentialKind::Hosted,
        "PINATA_LLM_KEY",
        "the inference key the host generated",
    ),
    row(
        Provider::Custom,
        CredentialKind::Custom,
        "CUSTOM_OPENAI_BASE_URL",
        "the base URL",
    ),
    row(
        Provider::Custom,
        CredentialKind::Custom,
        "CUSTOM_OPENAI_API_KEY",
        "the API key, if any",
    ),
    row(
        Provider::Custom,
        CredentialKind::Custom,
        "CUSTOM_OPENAI_MODELS",
        "model ids, comma-separated, if any",
    ),
];

const fn row(
    provider: Provider,
    kind: CredentialKind,
    name: &'static str,
    holds: &'static str,
) -> VariableRow {
    VariableRow {
        provider,
        kind,
        name,
        holds,
    }
}

/// The variable names a connection sets when it has all optional parts;
/// the same as [`ConnectionId::variables`].
pub fn variables_of(id: ConnectionId) -> impl Iterator<Item = &'static str> {
    id.variables()
}

/// The `index`th variable `id` sets, in [`VARIABLES`] order.
pub(super) fn variable(id: ConnectionId, index: usize) -> &'static str {
    id.variables()
        .nth(index)
        // Each credential asks only for the variables its connection has
        // rows for; a unit test renders every one.
        .unwrap_or("")
}

/// Providers, kinds and connections in [`VARIABLES`] order, without
/// repeats, as an error message lists them: `anthropic, openai, ...`.
pub(super) fn spellings<T: fmt::Display + PartialEq>(of: impl Fn(&VariableRow) -> T) -> String {
    let mut seen: Vec<T> = Vec::new();
    for row in VARIABLES {
        let item = of(row);
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
