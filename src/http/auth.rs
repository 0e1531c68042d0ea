//! Who is calling: the host's user authentication, the stand-in API keys of
//! `agent-vault serve`, and the gateway tokens the router checks itself.

use std::fmt;

use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::UserId;

/// The host's user authentication, given a request's headers.
///
/// The router calls it on every management route (and first on the routes
/// that also take a gateway token). A service plugs in its own check here,
/// for example of a JWT; [`ApiKeys`] is a simple stand-in.
#[crate::async_trait]
pub trait UserAuth: Send + Sync + 'static {
    /// The user the request acts for, or why it may not act.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<UserId, Rejection>;
}

/// Why a request was refused before it reached the vault: answered as
/// `{"error": message}` with the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    /// 401: no credentials, or credentials that name nobody.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 403: a known caller that may not do this (a plan or permission
    /// limit of the host's).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message answered.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for Rejection {}

/// Static API keys, each acting as one user: `Authorization: Bearer KEY`.
///
/// This is the stand-in for a service's own authentication that
/// `agent-vault serve` uses (`AGENT_VAULT_API_KEYS="KEY=USER,…"`). Only the
/// SHA-256 digest of each key is kept, and a presented key is compared with
/// every one of them in constant time, so neither the answer's timing nor
/// a memory dump gives a key away.
///
/// ```
/// use agent_vault::http::ApiKeys;
/// let keys = ApiKeys::parse("k-alice-0123456789=alice,k-bob-0123456789=bob")?;
/// assert_eq!(keys.len(), 2);
/// assert!(!format!("{keys:?}").contains("k-alice"));
/// # Ok::<(), agent_vault::http::ApiKeysError>(())
/// ```
#[derive(Clone)]
pub struct ApiKeys {
    entries: Vec<([u8; 32], UserId)>,
}

/// The shortest key [`ApiKeys::parse`] takes: anything shorter is guessable.
pub const MIN_API_KEY_LEN: usize = 16;

/// Why an [`ApiKeys`] list was refused. Never carries a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeysError {
    /// The list holds no key.
    #[error("no API key given (expected KEY=USER[,KEY=USER...])")]
    Empty,
    /// Entry `entry` (1-based) is not `KEY=USER`.
    #[error("entry {entry}: expected KEY=USER")]
    Malformed {
        /// 1-based position in the list.
        entry: usize,
    },
    /// Entry `entry`'s key is shorter than [`MIN_API_KEY_LEN`] bytes or
    /// holds whitespace.
    #[error("entry {entry}: the key must be at least {MIN_API_KEY_LEN} bytes without whitespace")]
    WeakKey {
        /// 1-based position in the list.
        entry: usize,
    },
    /// Entry `entry`'s user id is refused.
    #[error("entry {entry}: invalid user id: {reason}")]
    InvalidUser {
        /// 1-based position in the list.
        entry: usize,
        /// Why.
        reason: crate::UserIdError,
    },
    /// Entry `entry` repeats an earlier key.
    #[error("entry {entry}: the key is given twice")]
    Repeated {
        /// 1-based position in the list.
        entry: usize,
    },
}

impl ApiKeys {
    /// Parses `KEY=USER[,KEY=USER…]` (entries may also be separated by
    /// newlines, for a file, where lines starting with `#` are comments).
    /// Errors name the entry, never the key.
    pub fn parse(text: &str) -> Result<Self, ApiKeysError> {
        let mut entries: Vec<([u8; 32], UserId)> = Vec::new();
        let pieces = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|piece| !piece.is_empty() && !piece.starts_with('#'));
        for (index, piece) in pieces.enumerate() {
            let entry = index + 1;
            let (key, user) = piece
                .rsplit_once('=')
                .ok_or(ApiKeysError::Malformed { entry })?;
            let key = key.trim();
            if key.len() < MIN_API_KEY_LEN || key.chars().any(char::is_whitespace) {
                return Err(ApiKeysError::WeakKey { entry });
            }
            let user = UserId::parse(user.trim())
                .map_err(|reason| ApiKeysError::InvalidUser { entry, reason })?;
            let digest = digest(key);
            if entries.iter().any(|(known, _)| *known == digest) {
                return Err(ApiKeysError::Repeated { entry });
            }
            entries.push((digest, user));
        }
        if entries.is_empty() {
            return Err(ApiKeysError::Empty);
        }
        Ok(Self { entries })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, for a parsed list).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The user `presented` acts as, comparing with every key in constant
    /// time.
    pub fn user_of(&self, presented: &str) -> Option<UserId> {
        let presented = digest(presented);
        let mut found = None;
        for (known, user) in &self.entries {
            // No early exit: every entry is compared, whatever matches.
            if bool::from(known.ct_eq(&presented)) {
                found = Some(user.clone());
            }
        }
        found
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[crate::async_trait]
impl UserAuth for ApiKeys {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<UserId, Rejection> {
        let presented = bearer(headers)
            .ok_or_else(|| Rejection::unauthorized("missing Authorization: Bearer header"))?;
        self.user_of(&presented)
            .ok_or_else(|| Rejection::unauthorized("unknown API key"))
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| Zeroizing::new(token.to_owned()))
}

/// The name of the cookie that may carry a gateway token.
pub const GATEWAY_TOKEN_COOKIE: &str = "gw_token";

/// The gateway tokens a request presents, at most one per place, in the
/// order the product checks them: `Authorization: Bearer`, the first
/// `?token=`, then the first `gw_token` cookie.
pub(crate) fn presented_tokens(headers: &HeaderMap, query: Option<&str>) -> Vec<Zeroizing<String>> {
    let mut found = Vec::with_capacity(3);
    found.extend(bearer(headers));
    found.extend(query.and_then(|query| {
        form_urlencoded_pairs(query)
            .find(|(name, value)| *name == "token" && !value.is_empty())
            .map(|(_, value)| value)
    }));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|cookies| cookies.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, value)| *name == GATEWAY_TOKEN_COOKIE && !value.is_empty());
    found.extend(cookie.map(|(_, value)| Zeroizing::new(value.to_owned())));
    found
}

/// The pairs of a query string. Gateway tokens are URL-safe, so only `+`
/// and `%XX` need decoding; a malformed escape is kept as written (it then
/// fails verification like any wrong token).
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (&str, Zeroizing<String>)> {
    query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        Some((name, percent_decode(value)))
    })
}

fn percent_decode(text: &str) -> Zeroizing<String> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let escaped = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn api_keys_refuse_weak_repeated_and_malformed_entries_without_echoing_keys() {
        assert_eq!(ApiKeys::parse(" , ").unwrap_err(), ApiKeysError::Empty);
        assert_eq!(
            ApiKeys::parse("short=alice").unwrap_err(),
            ApiKeysError::WeakKey { entry: 1 }
        );
        assert_eq!(
            ApiKeys::parse("0123456789abcdef=alice,no-equals-sign-here").unwrap_err(),
            ApiKeysError::Malformed { entry: 2 }
        );
        assert_eq!(
            ApiKeys::parse("0123456789abcdef=alice\n0123456789abcdef=bob").unwrap_err(),
            ApiKeysError::Repeated { entry: 2 }
        );
        let error = ApiKeys::parse("0123456789abcdef=~vault").unwrap_err();
        assert!(matches!(error, ApiKeysError::InvalidUser { entry: 1, .. }));
        assert!(!error.to_string().contains("0123456789abcdef"));
    }

    #[test]
    fn api_keys_find_the_user_of_a_key_and_no_other() {
        let keys = ApiKeys::parse("key-of-alice-000000=alice, key-of-bob-00000000=bob").unwrap();
        assert_eq!(keys.user_of("key-of-bob-00000000").unwrap().as_str(), "bob");
        assert_eq!(
            keys.user_of("key-of-alice-000000").unwrap().as_str(),
            "alice"
        );
        assert!(keys.user_of("key-of-alice-00000").is_none());
        assert!(keys.user_of("").is_none());
    }

    #[test]
    fn tokens_come_from_the_bearer_header_the_query_and_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer gw_a"),
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; gw_token=gw_c; other=1"),
        );
        let found = presented_tokens(&headers, Some("x=1&token=gw%5Fb&token=gw_x&y=2"));
        let found: Vec<&str> = found.iter().map(|t| t.as_str()).collect();
        assert_eq!(found, ["gw_a", "gw_b", "gw_c"]);
        assert!(presented_tokens(&HeaderMap::new(), Some("token=")).is_empty());
    }
}
