//! Gateway tokens: generation, recognisable format, constant-time checks.

use std::fmt;

use rand::Rng as _;
use rand::distributions::Alphanumeric;
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;

/// Every gateway token starts with this, so secret scanners can spot one.
pub const TOKEN_PREFIX: &str = "avgt_";
/// Random base62 characters in a token: 44 × log2(62) ≈ 262 bits.
pub(crate) const TOKEN_RANDOM_LEN: usize = 44;
/// Base62 characters of the CRC-32 checksum at the end.
pub(crate) const TOKEN_CHECKSUM_LEN: usize = 6;
/// Total length of a token.
pub(crate) const TOKEN_LEN: usize = TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN + TOKEN_CHECKSUM_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An agent's gateway token: `avgt_` + 44 random base62 characters + a
/// 6-character base62 CRC-32 of the random part, like GitHub's tokens. The
/// checksum lets a scanner tell a real token from random text offline; it is
/// no part of the token's strength.
///
/// Redacted in `Debug`, no `Display` or `Serialize`, zeroised on drop.
///
/// ```
/// use agent_vault::GatewayToken;
/// let token = GatewayToken::generate();
/// assert!(token.expose_secret().starts_with("avgt_"));
/// assert!(GatewayToken::looks_valid(token.expose_secret()));
/// assert!(!GatewayToken::looks_valid("avgt_not-a-token"));
/// ```
pub struct GatewayToken(SecretString);

impl GatewayToken {
    /// A new token from the operating system's random source.
    pub fn generate() -> Self {
        let random: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
            rand::rngs::OsRng
                .sample_iter(&Alphanumeric)
                .take(TOKEN_RANDOM_LEN)
                .map(char::from)
                .collect(),
        );
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(TOKEN_PREFIX);
        token.push_str(&random);
        token.push_str(&checksum(&random));
        Self(SecretString::from(token))
    }

    pub(crate) fn from_secret(text: &str) -> Self {
        Self(SecretString::from(text))
    }

    /// Whether `text` has a token's shape and a correct checksum. Says
    /// nothing about whether the token belongs to an agent.
    pub fn looks_valid(text: &str) -> bool {
        let Some(body) = text.strip_prefix(TOKEN_PREFIX) else {
            return false;
        };
        if body.len() != TOKEN_RANDOM_LEN + TOKEN_CHECKSUM_LEN
            || !body.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return false;
        }
        let (random, sum) = body.split_at(TOKEN_RANDOM_LEN);
        checksum(random) == sum
    }

    /// The one door to the token text.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Compares with a presented token in constant time (for equal lengths).
    pub fn verify(&self, presented: &str) -> bool {
        self.expose_secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }
}

impl fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GatewayToken([REDACTED])")
    }
}

fn checksum(random: &str) -> String {
    let mut crc = crc32fast::hash(random.as_bytes());
    let mut out = [b'0'; TOKEN_CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_checksummed() {
        let a = GatewayToken::generate();
        let b = GatewayToken::generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), TOKEN_LEN);
        assert!(GatewayToken::looks_valid(a.expose_secret()));
        // Any single changed character breaks the checksum or the shape.
        let text = a.expose_secret().to_owned();
        for i in TOKEN_PREFIX.len()..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(!GatewayToken::looks_valid(&changed), "position {i}");
        }
        assert!(a.verify(&text));
        assert!(!a.verify(b.expose_secret()));
        assert!(!a.verify(""));
        assert_eq!(format!("{a:?}"), "GatewayToken([REDACTED])");
    }

    #[test]
    fn checksum_is_crc32_in_base62() {
        // CRC-32 of "123456789" is the standard check value 0xCBF43926;
        // reading the six base62 digits back must give it.
        let crc = 0xCBF4_3926u32 as u64;
        let digits = checksum("123456789");
        let value = digits.bytes().fold(0u64, |acc, b| {
            acc * 62 + BASE62.iter().position(|&c| c == b).unwrap() as u64
        });
        assert_eq!(value, crc);
    }
}
