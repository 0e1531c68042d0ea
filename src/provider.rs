//! AI providers, how each connects, and the environment variables each
//! connection becomes.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, Input, Result, Timestamp};

/// An AI provider a user can connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
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

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection authenticates: the card's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// `api-key`, `codex-subscription`, `custom` or `hosted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api-key",
            Self::CodexSubscription => "codex-subscription",
            Self::Custom => "custom",
            Self::Hosted => "hosted",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::ApiKey,
            Self::CodexSubscription,
            Self::Custom,
            Self::Hosted,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(text))
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnectionId {
    /// The provider.
    pub provider: Provider,
    /// How it connects.
    pub kind: CredentialKind,
}

impl ConnectionId {
    /// The connection of `provider` by `kind`.
    pub fn new(provider: Provider, kind: CredentialKind) -> Self {
        Self { provider, kind }
    }

    /// The provider's one kind, for providers that have only one.
    pub fn default_for(provider: Provider) -> Self {
        let kind = match provider {
            Provider::Custom => CredentialKind::Custom,
            Provider::Pinata => CredentialKind::Hosted,
            _ => CredentialKind::ApiKey,
        };
        Self { provider, kind }
    }

    /// Parses `provider` or `provider:kind`, e.g. `openai:codex-subscription`.
    pub fn parse(text: &str) -> Option<Self> {
        let (provider, kind) = match text.split_once(':') {
            Some((p, k)) => (Provider::parse(p)?, Some(CredentialKind::parse(k)?)),
            None => (Provider::parse(text)?, None),
        };
        let id = match kind {
            Some(kind) => Self { provider, kind },
            None => Self::default_for(provider),
        };
        id.is_valid().then_some(id)
    }

    /// Whether the provider connects by this kind at all.
    pub fn is_valid(self) -> bool {
        matches!(
            (self.provider, self.kind),
            (
                Provider::Anthropic | Provider::OpenAi | Provider::OpenRouter | Provider::Venice,
                CredentialKind::ApiKey
            ) | (Provider::OpenAi, CredentialKind::CodexSubscription)
                | (Provider::Pinata, CredentialKind::Hosted)
                | (Provider::Custom, CredentialKind::Custom)
        )
    }

    /// The record id: `provider:kind`.
    pub fn record_id(self) -> String {
        format!("{}:{}", self.provider.as_str(), self.kind.as_str())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.kind)
    }
}

/// One row of the provider-to-environment table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The one table from connections to environment variables.
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

fn variable(id: ConnectionId, index: usize) -> &'static str {
    VARIABLES
        .iter()
        .filter(|r| r.provider == id.provider && r.kind == id.kind)
        .nth(index)
        .map(|r| r.name)
        // The table has a row for every valid connection's variables; tests check it.
        .unwrap_or("")
}

/// A credential as the user hands it in. Redacted in `Debug`.
pub enum Credential {
    /// An API key for Anthropic, OpenAI, OpenRouter or Venice.
    ApiKey {
        /// Which provider.
        provider: Provider,
        /// The key.
        key: SecretString,
    },
    /// An OpenAI Codex-subscription OAuth token bundle.
    CodexSubscription(CodexTokens),
    /// An OpenAI-compatible endpoint.
    Custom(CustomEndpoint),
    /// Pinata-hosted inference: the key the host generated when the user
    /// enabled inference, which the agent sees as `PINATA_LLM_KEY`.
    PinataHosted {
        /// The inference key.
        key: SecretString,
    },
}

impl Credential {
    /// An API key for `provider`.
    pub fn api_key(provider: Provider, key: SecretString) -> Self {
        Self::ApiKey { provider, key }
    }

    /// Pinata-hosted inference by `key`, the inference key the host
    /// generated (in the product, enabling inference mints it). The agent
    /// sees it as `PINATA_LLM_KEY`.
    ///
    /// ```
    /// use agent_vault::{Credential, Provider};
    /// let pinata = Credential::pinata("pk-demo".into());
    /// assert_eq!(pinata.connection_id().provider, Provider::Pinata);
    /// assert!(!format!("{pinata:?}").contains("pk-demo"));
    /// ```
    pub fn pinata(key: SecretString) -> Self {
        Self::PinataHosted { key }
    }

    /// The connection this credential makes.
    pub fn connection_id(&self) -> ConnectionId {
        match self {
            Self::ApiKey { provider, .. } => ConnectionId::new(*provider, CredentialKind::ApiKey),
            Self::CodexSubscription(_) => {
                ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription)
            }
            Self::Custom(_) => ConnectionId::new(Provider::Custom, CredentialKind::Custom),
            Self::PinataHosted { .. } => {
                ConnectionId::new(Provider::Pinata, CredentialKind::Hosted)
            }
        }
    }

    /// Checks the credential and renders the variables it becomes, as the
    /// plaintext the vault seals.
    pub(crate) fn to_payload(&self) -> Result<Zeroizing<Vec<u8>>> {
        let id = self.connection_id();
        if !id.is_valid() {
            return Err(Error::InvalidInput {
                field: Input::Credential,
                reason: format!("{} does not connect by API key", id.provider),
            });
        }
        let mut vars: Vec<(&'static str, Zeroizing<String>)> = Vec::new();
        match self {
            Self::ApiKey { key, .. } => {
                let key = checked_secret(Input::Credential, key.expose_secret())?;
                vars.push((variable(id, 0), key));
            }
            Self::CodexSubscription(tokens) => {
                vars.push((variable(id, 0), tokens.to_json()?));
            }
            Self::Custom(endpoint) => {
                vars.push((variable(id, 0), Zeroizing::new(endpoint.base_url.clone())));
                if let Some(key) = &endpoint.api_key {
                    vars.push((
                        variable(id, 1),
                        checked_secret(Input::Credential, key.expose_secret())?,
                    ));
                }
                if !endpoint.models.is_empty() {
                    vars.push((variable(id, 2), Zeroizing::new(endpoint.models.join(","))));
                }
            }
            Self::PinataHosted { key } => {
                vars.push((
                    variable(id, 0),
                    checked_secret(Input::Credential, key.expose_secret())?,
                ));
            }
        }
        encode_payload(&vars)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, [REDACTED])", self.connection_id())
    }
}

fn checked_secret(field: Input, text: &str) -> Result<Zeroizing<String>> {
    if text.is_empty() || text.contains('\0') || text.len() > 64 * 1024 {
        return Err(Error::InvalidInput {
            field,
            reason: "must be 1 to 65536 bytes without NUL".to_owned(),
        });
    }
    Ok(Zeroizing::new(text.to_owned()))
}

/// An OpenAI Codex-subscription OAuth token bundle.
pub struct CodexTokens {
    access_token: SecretString,
    refresh_token: SecretString,
    expires_at: Timestamp,
}

impl CodexTokens {
    /// A bundle; both tokens must be non-empty and free of NUL.
    pub fn new(
        access_token: SecretString,
        refresh_token: SecretString,
        expires_at: Timestamp,
    ) -> Result<Self> {
        checked_secret(Input::Credential, access_token.expose_secret())?;
        checked_secret(Input::Credential, refresh_token.expose_secret())?;
        Ok(Self {
            access_token,
            refresh_token,
            expires_at,
        })
    }

    /// Parses either of the two token files a user has at hand. Errors
    /// never echo the input.
    ///
    /// - The product's bundle: `{"access_token", "refresh_token",
    ///   "expires_at"}`, with `expires_at` in RFC 3339.
    /// - The file the Codex CLI writes, `~/.codex/auth.json`:
    ///   `{"OPENAI_API_KEY": null, "tokens": {"id_token", "access_token",
    ///   "refresh_token", "account_id"}, "last_refresh": ...}`. Only the two
    ///   tokens are kept. auth.json has no expiry field, so the expiry is the
    ///   `exp` claim of the access token, which is a JWT: its payload is
    ///   decoded **without verifying the signature** (the vault only stores
    ///   the date, for display; OpenAI checks the token), as the Codex CLI
    ///   itself reads it. `last_refresh` is not used: it says when the tokens
    ///   were issued, not how long they last. An access token that is not a
    ///   JWT with an `exp` claim is refused; give the bundle instead.
    ///
    /// Other fields are ignored, in either shape; a document holding both
    /// shapes' tokens, or an auth.json with no `tokens` (an API-key login),
    /// is refused.
    ///
    /// ```
    /// use agent_vault::CodexTokens;
    /// let bundle = CodexTokens::from_json(
    ///     r#"{"access_token":"at","refresh_token":"rt","expires_at":"2030-01-01T00:00:00Z"}"#,
    /// )?;
    /// assert_eq!(bundle.expires_at().to_rfc3339(), "2030-01-01T00:00:00Z");
    ///
    /// // auth.json: the access token's payload is {"exp":1893456000}.
    /// let auth_json = r#"{"OPENAI_API_KEY":null,"tokens":{"id_token":"x.y.z",
    ///     "access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE4OTM0NTYwMDB9.c2ln",
    ///     "refresh_token":"rt","account_id":"acc"},"last_refresh":"2029-12-25T00:00:00Z"}"#;
    /// let tokens = CodexTokens::from_json(auth_json)?;
    /// assert_eq!(tokens.expires_at().to_rfc3339(), "2030-01-01T00:00:00Z");
    /// # Ok::<(), agent_vault::Error>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self> {
        /// Both shapes at once; which fields are present says which it is.
        #[derive(Deserialize)]
        struct Raw {
            access_token: Option<Zeroizing<String>>,
            refresh_token: Option<Zeroizing<String>>,
            #[serde(default, with = "time::serde::rfc3339::option")]
            expires_at: Option<time::OffsetDateTime>,
            /// auth.json's token block (`null` after an API-key login).
            tokens: Option<AuthJsonTokens>,
        }
        #[derive(Deserialize)]
        struct AuthJsonTokens {
            access_token: Zeroizing<String>,
            refresh_token: Zeroizing<String>,
        }
        const FIELD: Input = Input::CodexFile;
        let invalid = |reason: String| Error::InvalidInput {
            field: FIELD,
            reason,
        };
        let raw: Raw = serde_json::from_str(json).map_err(|e| {
            invalid(format!(
                "expected the JSON bundle {{access_token, refresh_token, expires_at (RFC 3339)}} \
                 or the Codex CLI's auth.json {{tokens: {{access_token, refresh_token}}}} \
                 ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let bundle_fields =
            raw.access_token.is_some() || raw.refresh_token.is_some() || raw.expires_at.is_some();
        let (access, refresh, expires_at) = match (raw.tokens, bundle_fields) {
            (Some(_), true) => {
                return Err(invalid(
                    "holds both top-level tokens and an auth.json `tokens` block; give one"
                        .to_owned(),
                ));
            }
            (Some(tokens), false) => {
                let expires_at = jwt_expiry(&tokens.access_token).ok_or_else(|| {
                    invalid(
                        "auth.json: the access token is not a JWT with an `exp` claim, so its \
                         expiry is unknown; give the bundle {access_token, refresh_token, \
                         expires_at} instead"
                            .to_owned(),
                    )
                })?;
                (tokens.access_token, tokens.refresh_token, expires_at)
            }
            (None, _) => match (raw.access_token, raw.refresh_token, raw.expires_at) {
                (Some(access), Some(refresh), Some(expires_at)) => {
                    let millis = expires_at.unix_timestamp_nanos() / 1_000_000;
                    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
                    (access, refresh, Timestamp::from_unix_millis(millis))
                }
                _ => {
                    return Err(invalid(
                        "expected the bundle {access_token, refresh_token, expires_at (RFC \
                         3339)}, all three, or the Codex CLI's auth.json with its `tokens` \
                         block (an auth.json from an API-key login has none: connect openai \
                         with the API key instead)"
                            .to_owned(),
                    ));
                }
            },
        };
        Self::new(
            SecretString::from(access.as_str()),
            SecretString::from(refresh.as_str()),
            expires_at,
        )
    }

    /// When the access token expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    fn to_json(&self) -> Result<Zeroizing<String>> {
        #[derive(Serialize)]
        struct Raw<'a> {
            access_token: &'a str,
            refresh_token: &'a str,
            expires_at: String,
        }
        let raw = Raw {
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.expose_secret(),
            expires_at: self.expires_at.to_rfc3339(),
        };
        // Written into a buffer reserved up front (JSON escapes a byte into
        // at most 6: `\u00XX`), so it never grows: a growing buffer would
        // free its old storage, holding the tokens, without zeroising it.
        let bound = 6 * (raw.access_token.len() + raw.refresh_token.len()) + 128;
        let mut out = Zeroizing::new(Vec::with_capacity(bound));
        let encoding_failed = || Error::InvalidInput {
            field: Input::CodexBundle,
            reason: "cannot be encoded".to_owned(),
        };
        serde_json::to_writer(&mut *out, &raw).map_err(|_| encoding_failed())?;
        // Moves the bytes into the String without copying them.
        String::from_utf8(std::mem::take(&mut *out))
            .map(Zeroizing::new)
            .map_err(|error| {
                zeroize::Zeroize::zeroize(&mut error.into_bytes());
                encoding_failed()
            })
    }
}

impl fmt::Debug for CodexTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodexTokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The `exp` claim (seconds since the epoch) of a JWT, read from its payload
/// **without verifying the signature**: the date is shown, never trusted
/// for access. `None` if `jwt` is not three dot-separated parts whose middle
/// one is base64url JSON with an integer `exp`. The decoded payload is
/// wiped after use.
fn jwt_expiry(jwt: &str) -> Option<Timestamp> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[derive(Deserialize)]
    struct Claims {
        exp: Option<i64>,
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if header.is_empty() || payload.is_empty() {
        return None;
    }
    let payload = payload.trim_end_matches('=');
    // Reserved at the decoded size, so that decoding never reallocates
    // (leaving an unwiped copy behind).
    let mut decoded = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(
        payload.len(),
    )));
    URL_SAFE_NO_PAD.decode_vec(payload, &mut decoded).ok()?;
    let claims: Claims = serde_json::from_slice(&decoded).ok()?;
    let millis = claims.exp?.checked_mul(1000)?;
    Some(Timestamp::from_unix_millis(millis))
}

/// An OpenAI-compatible endpoint.
pub struct CustomEndpoint {
    base_url: String,
    api_key: Option<SecretString>,
    models: Vec<String>,
}

impl CustomEndpoint {
    /// An endpoint at `base_url`: `http://` or `https://`, a host, no
    /// credentials, query or fragment, no whitespace or control characters,
    /// at most 2048 bytes. A trailing `/` is removed.
    ///
    /// ```
    /// use agent_vault::CustomEndpoint;
    /// assert!(CustomEndpoint::new("https://llm.example.com/v1", None, vec![]).is_ok());
    /// assert!(CustomEndpoint::new("ftp://llm.example.com", None, vec![]).is_err());
    /// assert!(CustomEndpoint::new("https://user:pw@llm.example.com", None, vec![]).is_err());
    /// ```
    pub fn new(base_url: &str, api_key: Option<SecretString>, models: Vec<String>) -> Result<Self> {
        let base_url = parse_base_url(base_url)?;
        if let Some(key) = &api_key {
            checked_secret(Input::Credential, key.expose_secret())?;
        }
        for model in &models {
            let ok = !model.is_empty()
                && model.len() <= 200
                && model.bytes().all(|b| b.is_ascii_graphic() && b != b',');
            if !ok {
                return Err(Error::InvalidInput {
                    field: Input::ModelId,
                    reason: format!(
                        "{model:?} must be 1 to 200 printable ASCII characters without ','"
                    ),
                });
            }
        }
        Ok(Self {
            base_url,
            api_key,
            models,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model ids.
    pub fn models(&self) -> &[String] {
        &self.models
    }
}

impl fmt::Debug for CustomEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomEndpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("models", &self.models)
            .finish()
    }
}

fn parse_base_url(url: &str) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidInput {
        field: Input::BaseUrl,
        reason: reason.to_owned(),
    };
    if url.len() > 2048 {
        return Err(invalid("longer than 2048 bytes"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains whitespace or control characters"));
    }
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("http://") {
        rest
    } else {
        return Err(invalid("must start with http:// or https://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid("has no host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "must not carry credentials; give the API key separately",
        ));
    }
    if url.contains('?') || url.contains('#') {
        return Err(invalid("must not have a query or fragment"));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() && !authority.ends_with(']') {
                return Err(invalid("has an invalid port"));
            }
            host
        }
        _ => authority,
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !host_ok {
        return Err(invalid("has an invalid host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The sealed payload of a connection: its variables, as
/// `count:u16 (len:u32 name len:u32 value)*`, big-endian. Hand-written
/// because it must live in zeroised buffers, which serde formats don't offer.
fn encode_payload(vars: &[(&'static str, Zeroizing<String>)]) -> Result<Zeroizing<Vec<u8>>> {
    // Reserved at the final size: a growing Vec would free its old storage,
    // holding the values written so far, without zeroising it.
    let size = 2 + vars
        .iter()
        .map(|(name, value)| 8 + name.len() + value.len())
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    let count = u16::try_from(vars.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in vars {
        for field in [name.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&crate::crypto::len_u32(field.len()).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    Ok(out)
}

/// Reads a payload made by [`encode_payload`]; `None` if malformed.
pub(crate) fn decode_payload(bytes: &[u8]) -> Option<Vec<(String, SecretString)>> {
    let (count, mut rest) = bytes.split_first_chunk::<2>()?;
    let count = u16::from_be_bytes(*count);
    let mut vars = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let mut field = || -> Option<&[u8]> {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
            if tail.len() < len {
                return None;
            }
            let (value, tail) = tail.split_at(len);
            rest = tail;
            Some(value)
        };
        let name = std::str::from_utf8(field()?).ok()?.to_owned();
        let value = std::str::from_utf8(field()?).ok()?;
        vars.push((name, SecretString::from(value)));
    }
    rest.is_empty().then_some(vars)
}

/// The variable names a connection sets when it has all optional parts.
pub fn variables_of(id: ConnectionId) -> impl Iterator<Item = &'static str> {
    VARIABLES
        .iter()
        .filter(move |r| r.provider == id.provider && r.kind == id.kind)
        .map(|r| r.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_connection_has_variables_and_every_row_is_valid() {
        for provider in Provider::ALL {
            let id = ConnectionId::default_for(provider);
            assert!(id.is_valid(), "{id}");
            assert!(variables_of(id).count() >= 1, "{id}");
        }
        for row in VARIABLES {
            assert!(
                ConnectionId::new(row.provider, row.kind).is_valid(),
                "{row:?}"
            );
            assert!(crate::Name::parse(row.name).is_ok(), "{row:?}");
        }
    }

    #[test]
    fn connection_ids_parse() {
        assert_eq!(
            ConnectionId::parse("openai:codex-subscription"),
            Some(ConnectionId::new(
                Provider::OpenAi,
                CredentialKind::CodexSubscription
            ))
        );
        assert_eq!(
            ConnectionId::parse("OpenAI"),
            Some(ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey))
        );
        assert_eq!(ConnectionId::parse("anthropic:hosted"), None);
        assert_eq!(ConnectionId::parse("nope"), None);
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let cred = Credential::Custom(
            CustomEndpoint::new(
                "https://llm.example.com/v1/",
                Some(SecretString::from("k")),
                vec!["m1".into(), "m2".into()],
            )
            .unwrap(),
        );
        let payload = cred.to_payload().unwrap();
        let vars = decode_payload(&payload).unwrap();
        let names: Vec<_> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "CUSTOM_OPENAI_BASE_URL",
                "CUSTOM_OPENAI_API_KEY",
                "CUSTOM_OPENAI_MODELS"
            ]
        );
        assert_eq!(vars[0].1.expose_secret(), "https://llm.example.com/v1");
        assert_eq!(vars[2].1.expose_secret(), "m1,m2");
        assert!(decode_payload(&payload[..payload.len() - 1]).is_none());
        assert!(decode_payload(&[]).is_none());
    }

    #[test]
    fn base_urls() {
        for ok in [
            "http://localhost:8080",
            "https://a.b.c/v1",
            "https://[::1]:9000/x",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            "https://",
            "https://a b",
            "https://x/?q=1",
            "https://u:p@host",
            "https://host:99999",
            "https://ho$t",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codex_bundle_parses_without_echoing() {
        let ok = CodexTokens::from_json(
            r#"{"access_token":"a","refresh_token":"r","expires_at":"2030-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(ok.expires_at().to_rfc3339(), "2030-01-01T00:00:00Z");
        let err = CodexTokens::from_json(r#"{"access_token":"CANARY-1234","refresh_token":1}"#)
            .unwrap_err();
        assert!(!err.to_string().contains("CANARY-1234"));
    }

    /// A JWT whose payload is `payload`, unsigned (the signature part is
    /// never checked).
    fn jwt(payload: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.CANARY-sig", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    fn auth_json(access_token: &str) -> String {
        format!(
            r#"{{"OPENAI_API_KEY":null,"tokens":{{"id_token":"{id}","access_token":"{access_token}","refresh_token":"CANARY-rt","account_id":"acc-1"}},"last_refresh":"2029-12-25T00:00:00.123Z"}}"#,
            id = jwt(r#"{"email":"a@b"}"#)
        )
    }

    #[test]
    fn codex_cli_auth_json_takes_its_expiry_from_the_access_token() {
        let access = jwt(r#"{"exp":1893456000,"sub":"u","https://api.openai.com/auth":{}}"#);
        let tokens = CodexTokens::from_json(&auth_json(&access)).unwrap();
        assert_eq!(tokens.expires_at().to_rfc3339(), "2030-01-01T00:00:00Z");
        assert_eq!(tokens.access_token.expose_secret(), access);
        assert_eq!(tokens.refresh_token.expose_secret(), "CANARY-rt");
        // What the agent gets is the product's bundle, whatever was read.
        let bundle = tokens.to_json().unwrap();
        let again = CodexTokens::from_json(&bundle).unwrap();
        assert_eq!(again.expires_at(), tokens.expires_at());
        assert!(!format!("{tokens:?}").contains("CANARY"));
    }

    #[test]
    fn codex_cli_auth_json_without_a_usable_expiry_or_tokens_is_refused_without_echo() {
        let refused = [
            // Not a JWT, a JWT without `exp`, a payload that is not base64.
            auth_json("CANARY-opaque-token"),
            auth_json(&jwt(r#"{"sub":"CANARY-sub"}"#)),
            auth_json("CANARY.!!!.sig"),
            auth_json(&jwt(r#"{"exp":"CANARY-not-a-number"}"#)),
            // An API-key login: no tokens.
            r#"{"OPENAI_API_KEY":"sk-CANARY-key","tokens":null,"last_refresh":null}"#.to_owned(),
            // Both shapes at once.
            format!(
                r#"{{"access_token":"CANARY-a","refresh_token":"CANARY-r","expires_at":"2030-01-01T00:00:00Z","tokens":{{"access_token":"{}","refresh_token":"CANARY-r2"}}}}"#,
                jwt(r#"{"exp":1}"#)
            ),
            // A bundle missing its expiry.
            r#"{"access_token":"CANARY-a","refresh_token":"CANARY-r"}"#.to_owned(),
            // auth.json tokens of the wrong type.
            r#"{"tokens":{"access_token":"CANARY-a","refresh_token":7}}"#.to_owned(),
        ];
        for input in refused {
            let err = CodexTokens::from_json(&input).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("CANARY"), "{shown}");
        }
    }

    #[test]
    fn jwt_expiry_reads_exp_only_from_a_three_part_token() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":0}"#)),
            Some(Timestamp::from_unix_millis(0))
        );
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":9223372036854775807}"#)), None);
        assert_eq!(jwt_expiry("a.b"), None);
        assert_eq!(jwt_expiry(&format!("{}.extra", jwt(r#"{"exp":1}"#))), None);
        assert_eq!(jwt_expiry(".e30.sig"), None);
    }
}
