//! OpenAI Codex-subscription OAuth token bundles, and the two files they
//! are read from.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, Input, Result, SecretValue, Timestamp};

/// An OpenAI Codex-subscription OAuth token bundle.
pub struct CodexTokens {
    access_token: SecretValue,
    refresh_token: SecretValue,
    expires_at: Timestamp,
}

impl CodexTokens {
    /// A bundle of two tokens (each a [`SecretValue`]: non-empty, no NUL)
    /// and the access token's expiry.
    pub fn new(
        access_token: SecretValue,
        refresh_token: SecretValue,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            access_token,
            refresh_token,
            expires_at,
        }
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
        let token = |field: &str, text: &str| {
            SecretValue::parse(SecretString::from(text))
                .map_err(|reason| invalid(format!("{field}: {reason}")))
        };
        Ok(Self::new(
            token("access_token", &access)?,
            token("refresh_token", &refresh)?,
            expires_at,
        ))
    }

    /// When the access token expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    pub(super) fn to_json(&self) -> Result<Zeroizing<String>> {
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
pub(super) fn jwt_expiry(jwt: &str) -> Option<Timestamp> {
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
