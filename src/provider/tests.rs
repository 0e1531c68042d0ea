use secrecy::{ExposeSecret as _, SecretString};

use super::base_url::parse_base_url;
use super::codex::jwt_expiry;
use super::credential::{CODEX, CUSTOM, PINATA};
use super::payload::decode_payload;
use super::*;
use crate::{Error, SecretValue, Timestamp};

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

#[test]
fn every_provider_has_a_connection_and_every_row_is_one() {
    for provider in Provider::ALL {
        let id = ConnectionId::default_for(provider);
        assert_eq!(id.provider(), provider);
        assert!(id.variables().count() >= 1, "{id}");
    }
    for row in VARIABLES {
        let id = ConnectionId::new(row.provider, row.kind).unwrap();
        assert!(variables_of(id).any(|name| name == row.name), "{row:?}");
        assert!(crate::Name::parse(row.name).is_ok(), "{row:?}");
    }
    for fixed in [CODEX, CUSTOM, PINATA] {
        assert_eq!(ConnectionId::new(fixed.provider(), fixed.kind()), Ok(fixed));
    }
}

#[test]
fn only_pairs_in_the_table_are_connections() {
    for provider in Provider::ALL {
        for kind in ["api-key", "codex-subscription", "custom", "hosted"] {
            let kind = CredentialKind::parse(kind).unwrap();
            let in_table = VARIABLES
                .iter()
                .any(|row| row.provider == provider && row.kind == kind);
            assert_eq!(
                ConnectionId::new(provider, kind).is_ok(),
                in_table,
                "{provider}:{kind}"
            );
        }
    }
}

#[test]
fn connection_ids_parse() {
    let codex = ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription).unwrap();
    assert_eq!(ConnectionId::parse("openai:codex-subscription"), Ok(codex));
    assert_eq!("OPENAI:Codex-Subscription".parse(), Ok(codex));
    assert_eq!(
        ConnectionId::parse("OpenAI").map(ConnectionId::kind),
        Ok(CredentialKind::ApiKey)
    );
    for bad in [
        "anthropic:hosted",
        "nope",
        "nope:api-key",
        "openai:nope",
        "",
    ] {
        let err = ConnectionId::parse(bad).unwrap_err();
        // Parsed text is never repeated: it may be a pasted secret.
        assert_eq!(err.given(), None);
        assert!(
            err.to_string()
                .contains(&format!("({} characters", bad.len()))
        );
    }
    let err = ConnectionId::parse("sk-canary").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("canary"));
}

#[test]
fn parse_errors_list_the_spellings_from_the_table() {
    assert_eq!(
        Provider::parse("gemini").unwrap_err().to_string(),
        "unknown provider (6 characters, not shown): expected one of \
         anthropic, openai, openrouter, venice, pinata, custom"
    );
    assert_eq!(
        "oauth".parse::<CredentialKind>().unwrap_err().to_string(),
        "unknown credential kind (5 characters, not shown): expected one of \
         api-key, codex-subscription, hosted, custom"
    );
    assert_eq!(
        ConnectionId::parse("anthropic:hosted")
            .unwrap_err()
            .to_string(),
        "unknown connection (16 characters, not shown): expected one of \
         anthropic:api-key, openai:api-key, openai:codex-subscription, openrouter:api-key, \
         venice:api-key, pinata:hosted, custom:custom (or a provider alone, for its first kind)"
    );
    assert_eq!(Provider::parse("Venice"), Ok(Provider::Venice));
    assert_eq!("venice".parse(), Ok(Provider::Venice));
}

#[test]
fn connection_ids_deserialize_only_when_the_table_has_them() {
    let ok: ConnectionId =
        serde_json::from_str(r#"{"provider":"openai","kind":"codex-subscription"}"#).unwrap();
    assert_eq!(ok.to_string(), "openai:codex-subscription");
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"provider":"openai","kind":"codex-subscription"}"#
    );
    let refused = serde_json::from_str::<ConnectionId>(r#"{"provider":"pinata","kind":"api-key"}"#);
    assert!(refused.is_err());
}

#[test]
fn an_api_key_for_a_provider_without_one_is_refused_when_built() {
    for provider in [Provider::Pinata, Provider::Custom] {
        let err = Credential::api_key(provider, value("CANARY-key")).unwrap_err();
        assert_eq!(err.given(), Some(format!("{provider}:api-key").as_str()));
        assert!(!format!("{err} {err:?}").contains("CANARY"));
        assert!(ApiKey::new(provider, value("CANARY-key")).is_err());
    }
    for provider in [
        Provider::Anthropic,
        Provider::OpenAi,
        Provider::OpenRouter,
        Provider::Venice,
    ] {
        let credential = Credential::api_key(provider, value("CANARY-key")).unwrap();
        assert_eq!(
            credential.connection_id(),
            ConnectionId::new(provider, CredentialKind::ApiKey).unwrap()
        );
        assert!(!format!("{credential:?}").contains("CANARY"));
        let payload = credential.to_payload().unwrap();
        let vars = decode_payload(&payload).unwrap();
        assert_eq!(vars.len(), 1);
        assert_eq!(
            Provider::owning_variable(&vars[0].0),
            Some(provider),
            "{provider}"
        );
        assert_eq!(vars[0].1.expose_secret(), "CANARY-key");
    }
}

#[test]
fn payload_round_trips_and_rejects_garbage() {
    let cred = Credential::Custom(
        CustomEndpoint::new(
            "https://llm.example.com/v1/",
            Some(value("k")),
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
    let err =
        CodexTokens::from_json(r#"{"access_token":"CANARY-1234","refresh_token":1}"#).unwrap_err();
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
    // What the agent gets is the product's bundle, whatever was read.
    let bundle = tokens.to_json().unwrap();
    let fields: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    assert_eq!(fields["access_token"], access.as_str());
    assert_eq!(fields["refresh_token"], "CANARY-rt");
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
