//! A custom endpoint's base URL.

use crate::{Error, Input, Result};

/// `url` with its trailing `/` removed, if it is an `http(s)://` URL with a
/// host and no credentials, query, fragment, whitespace or control
/// characters, at most 2048 bytes.
pub(super) fn parse_base_url(url: &str) -> Result<String> {
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
