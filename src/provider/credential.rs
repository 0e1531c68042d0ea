//! Credentials as the user hands them in, and what each renders to.

use std::fmt;

use zeroize::Zeroizing;

use crate::{Error, Input, Result, SecretValue};

use super::base_url::parse_base_url;
use super::codex::CodexTokens;
use super::payload::encode_payload;
use super::table::{ConnectionId, CredentialKind, Provider, variable};
use super::unknown::UnknownConnection;

/// The connections a credential type makes whatever its contents; a unit
/// test checks that each is in [`VARIABLES`](super::VARIABLES).
pub(super) const CODEX: ConnectionId =
    ConnectionId::known(Provider::OpenAi, CredentialKind::CodexSubscription);
pub(super) const CUSTOM: ConnectionId =
    ConnectionId::known(Provider::Custom, CredentialKind::Custom);
pub(super) const PINATA: ConnectionId =
    ConnectionId::known(Provider::Pinata, CredentialKind::Hosted);

/// A credential as the user hands it in. Redacted in `Debug`.
///
/// Built by [`Credential::api_key`], [`Credential::pinata`], or from a
/// [`CodexTokens`] or a [`CustomEndpoint`]. Each part is checked when it is
/// built (a value is a [`SecretValue`]: non-empty, no NUL); the size limit
/// is the vault's ([`VaultConfig::max_value_len`](crate::VaultConfig)),
/// applied to each variable when the vault stores the connection. More
/// kinds may come, so a `match` needs a wildcard arm.
#[non_exhaustive]
pub enum Credential {
    /// An API key, for a provider that takes one.
    ApiKey(ApiKey),
    /// An OpenAI Codex-subscription OAuth token bundle.
    CodexSubscription(CodexTokens),
    /// An OpenAI-compatible endpoint.
    Custom(CustomEndpoint),
    /// Pinata-hosted inference: the key the host generated when the user
    /// enabled inference, which the agent sees as `PINATA_LLM_KEY`.
    PinataHosted {
        /// The inference key.
        key: SecretValue,
    },
}

impl Credential {
    /// An API key for `provider`; refused if the provider connects by
    /// something else ([`VARIABLES`](super::VARIABLES) has no `api-key` row
    /// for it), as Pinata and Custom do.
    ///
    /// ```
    /// use agent_vault::{Credential, Provider, SecretValue};
    /// let key = || SecretValue::parse("sk-demo".into()).unwrap();
    /// let openai = Credential::api_key(Provider::OpenAi, key())?;
    /// assert_eq!(openai.connection_id().to_string(), "openai:api-key");
    /// assert!(Credential::api_key(Provider::Pinata, key()).is_err());
    /// # Ok::<(), agent_vault::UnknownConnection>(())
    /// ```
    pub fn api_key(provider: Provider, key: SecretValue) -> Result<Self, UnknownConnection> {
        ApiKey::new(provider, key).map(Self::ApiKey)
    }

    /// Pinata-hosted inference by `key`, the inference key the host
    /// generated (in the product, enabling inference mints it). The agent
    /// sees it as `PINATA_LLM_KEY`.
    ///
    /// ```
    /// use agent_vault::{Credential, Provider, SecretValue};
    /// let pinata = Credential::pinata(SecretValue::parse("pk-demo".into())?);
    /// assert_eq!(pinata.connection_id().provider(), Provider::Pinata);
    /// assert!(!format!("{pinata:?}").contains("pk-demo"));
    /// # Ok::<(), agent_vault::ValueError>(())
    /// ```
    pub fn pinata(key: SecretValue) -> Self {
        Self::PinataHosted { key }
    }

    /// The connection this credential makes.
    pub fn connection_id(&self) -> ConnectionId {
        match self {
            Self::ApiKey(key) => key.id,
            Self::CodexSubscription(_) => CODEX,
            Self::Custom(_) => CUSTOM,
            Self::PinataHosted { .. } => PINATA,
        }
    }

    /// Renders the variables the credential becomes, as the plaintext the
    /// vault seals.
    pub(crate) fn to_payload(&self) -> Result<Zeroizing<Vec<u8>>> {
        let id = self.connection_id();
        let copy = |value: &SecretValue| Zeroizing::new(value.expose_secret().to_owned());
        let mut vars: Vec<(&'static str, Zeroizing<String>)> = Vec::new();
        match self {
            Self::ApiKey(key) => vars.push((variable(id, 0), copy(&key.key))),
            Self::CodexSubscription(tokens) => vars.push((variable(id, 0), tokens.to_json()?)),
            Self::Custom(endpoint) => {
                vars.push((variable(id, 0), Zeroizing::new(endpoint.base_url.clone())));
                if let Some(key) = &endpoint.api_key {
                    vars.push((variable(id, 1), copy(key)));
                }
                if !endpoint.models.is_empty() {
                    vars.push((variable(id, 2), Zeroizing::new(endpoint.models.join(","))));
                }
            }
            Self::PinataHosted { key } => vars.push((variable(id, 0), copy(key))),
        }
        encode_payload(&vars)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, [REDACTED])", self.connection_id())
    }
}

/// An API key for a provider that takes one: a provider without an
/// `api-key` connection can't be given one.
pub struct ApiKey {
    id: ConnectionId,
    key: SecretValue,
}

impl ApiKey {
    /// `key` for `provider`; [`UnknownConnection`] if the provider does not
    /// connect by API key.
    pub fn new(provider: Provider, key: SecretValue) -> Result<Self, UnknownConnection> {
        let id = ConnectionId::new(provider, CredentialKind::ApiKey)?;
        Ok(Self { id, key })
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.id.provider()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("provider", &self.id.provider())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// An OpenAI-compatible endpoint.
pub struct CustomEndpoint {
    base_url: String,
    api_key: Option<SecretValue>,
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
    pub fn new(base_url: &str, api_key: Option<SecretValue>, models: Vec<String>) -> Result<Self> {
        let base_url = parse_base_url(base_url)?;
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
