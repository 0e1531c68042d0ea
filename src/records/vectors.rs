//! The golden record vectors in `tests/vectors/records_v2.json`: one entry
//! per body kind, with its key, its exact bytes, its decoded fields and the
//! plaintext of whatever it seals, so that another implementation can check
//! its decoder (and `tests/vectors/crosscheck.py` does, from
//! `docs/FORMAT.md` alone).
//!
//! The bytes come from the encoder, the fields from decoding those bytes:
//! the file can only match if the encoder writes exactly these bytes and the
//! decoder reads them back as these fields. Regenerate (only when a case is
//! added, never to change the format) with
//! `AGENT_VAULT_WRITE_VECTORS=1 cargo test --lib records_vectors_file_matches_generator`.

use serde_json::{Value, json};
use uuid::Uuid;

use super::codes::Code as _;
use super::*;
use crate::crypto::derive::derive_user_key;
use crate::crypto::envelope::tests::seal_with_nonce_for_vectors;
use crate::crypto::{Binding, MasterKey, Purpose};
use crate::{Credential, CredentialKind, DeployedEntry};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/records_v2.json");

/// The envelope vectors' `MASTER_A`, under key id 1, and `SALT_1`.
const MASTER: &str = "208b6178f142d0a207f5f08a84a5bb362b5d6930082a5ba38396cb09038a8232";
const SALT: &str = "56193efb8b25652aa2be08f8090b13b67e24c9e89cae88f827daaa8d1664fa02";
const SALT_2: &str = "7dc2909eac58bfe076067e9b1ac1cf0f7988b5330e7cbca7c88d3891db91ef18";
const KEY_ID: u32 = 1;
const USER: &str = "alice";
const ITEM_SECRET: &str = "caa89154-fcd0-400d-9ef9-8e2bd00c0484";
const ITEM_VARIABLE: &str = "0a063778-a1f6-42e1-a54f-efcf2868df71";
const AGENT: &str = "8e7c7d11-4999-42d3-a41e-e0aca738992e";
const AGENT_NEW: &str = "2f1d0c57-2d6b-4e38-9b0e-5b8f3f1b7a10";
const INSTANCE: &str = "5b1f8a52-7c7e-4d0b-8f5e-2a9c3d4e6f70";
const INSTANCE_CODEX: &str = "d3e9b6a1-0f4c-4e2b-9a8d-7c6b5a493827";
const TOKEN: &str = "avgt_uW5F7mD1O2VkZulUpBTM4wh4F5tfvGcsjpM4xcq61a0j1LIlEH";
/// 2026-11-28T15:18:07.123Z and later instants, in milliseconds.
const T0: i64 = 1_795_879_087_123;

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn at(offset: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + offset)
}

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

fn user() -> UserId {
    UserId::parse(USER).unwrap()
}

/// Seals `plaintext` for `alice` under generation 1 with a fixed nonce
/// (vectors only: never reuse a nonce).
fn seal(purpose: Purpose, record: &str, name: &str, nonce_byte: u8, plaintext: &[u8]) -> Vec<u8> {
    let master = MasterKey::from_bytes(unhex(MASTER));
    let key = derive_user_key(&master, &unhex(SALT), &user());
    let user = user();
    let binding = Binding::new(&user, purpose, record, name);
    seal_with_nonce_for_vectors(
        &key,
        crate::crypto::KeyId(KEY_ID),
        1,
        &binding,
        &[nonce_byte; 12],
        plaintext,
    )
}

fn connection_id(id: ConnectionId) -> Value {
    json!({
        "provider": id.provider().as_str(),
        "provider_code": id.provider().code(),
        "kind": id.kind().as_str(),
        "kind_code": id.kind().code(),
    })
}

fn target(target: &Target) -> Value {
    match target {
        Target::Item(id) => {
            json!({"tag": "item", "tag_code": codes::TargetTag::Item.code(), "item": id.to_string()})
        }
        Target::Connection(id) => json!({
            "tag": "connection",
            "tag_code": codes::TargetTag::Connection.code(),
            "connection": connection_id(*id),
        }),
    }
}

fn millis(at: Timestamp) -> Value {
    json!(at.unix_millis())
}

fn agents(ids: &[AgentId]) -> Value {
    json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
}

/// The fields of a body, decoded from `bytes` as the record kind says.
fn fields(kind: RecordKind, bytes: &[u8]) -> Value {
    match kind {
        RecordKind::Item => {
            let body: ItemBody = decode_bytes(bytes).unwrap();
            let (value, key) = match &body.value {
                StoredValue::Sealed(sealed) => (hex(sealed), "value_hex"),
                StoredValue::Plain(text) => (text.clone(), "value_utf8"),
            };
            let history: Vec<Value> = body
                .history
                .iter()
                .map(|past| {
                    let value = match body.kind {
                        Kind::Secret => ("value_hex", json!(hex(&past.value))),
                        Kind::Variable => (
                            "value_utf8",
                            json!(String::from_utf8(past.value.clone()).unwrap()),
                        ),
                    };
                    json!({"revision": past.revision, "since": millis(past.since), value.0: value.1})
                })
                .collect();
            json!({
                "name": body.name.as_str(),
                "kind": body.kind.as_str(),
                "kind_code": body.kind.code(),
                "created_at": millis(body.created_at),
                "updated_at": millis(body.updated_at),
                "revision": body.revision,
                "agents": agents(&body.agents),
                key: value,
                "history": history,
            })
        }
        RecordKind::Name => {
            let body: NameBody = decode_bytes(bytes).unwrap();
            json!({"item": body.item.to_string()})
        }
        RecordKind::Connection => {
            let body: ConnectionBody = decode_bytes(bytes).unwrap();
            json!({
                "connection": connection_id(body.id),
                "instance": body.instance.to_string(),
                "connected_at": millis(body.connected_at),
                "updated_at": millis(body.updated_at),
                "revision": body.revision,
                "agents": agents(&body.agents),
                "variables": body.variables,
                "expires_at": body.expires_at.map(Timestamp::unix_millis),
                "sealed_hex": hex(&body.sealed),
            })
        }
        RecordKind::Agent => {
            let body: AgentBody = decode_bytes(bytes).unwrap();
            let attachments: Vec<Value> = body
                .attachments
                .iter()
                .map(|a| {
                    json!({
                        "target": target(&a.target),
                        "label": a.label,
                        "provider": a.provider.map(|p| json!({"provider": p.as_str(), "code": p.code()})),
                        "variables": a.variables,
                    })
                })
                .collect();
            let deployment = body.deployment.as_ref().map(|d| {
                let entries: Vec<Value> = d
                    .entries
                    .iter()
                    .map(|e| {
                        json!({
                            "target": target(&e.target),
                            "label": e.label,
                            "revision": e.revision,
                            "instance": e.instance.map(|i| i.to_string()),
                        })
                    })
                    .collect();
                json!({"at": millis(d.at), "token_revision": d.token_revision, "entries": entries})
            });
            json!({
                "name": body.name,
                "created_at": millis(body.created_at),
                "token_hex": hex(&body.token),
                "token_revision": body.token_revision,
                "attachments": attachments,
                "deployment": deployment,
            })
        }
        RecordKind::UserKeys => {
            let body: UserKeysBody = decode_bytes(bytes).unwrap();
            let salts: serde_json::Map<String, Value> = body
                .salts
                .iter()
                .map(|(generation, salt)| (generation.to_string(), json!(hex(salt))))
                .collect();
            json!({"current": body.current, "salts_hex": salts})
        }
        RecordKind::KeyCheck => {
            let body: KeyCheckBody = decode_bytes(bytes).unwrap();
            json!({"check_hex": hex(&body.check)})
        }
        RecordKind::AgentOwner => {
            let body: AgentOwnerBody = decode_bytes(bytes).unwrap();
            json!({"user": body.user})
        }
        RecordKind::Audit => {
            let event = crate::audit::decode(bytes).unwrap();
            serde_json::to_value(event).unwrap()
        }
    }
}

/// A connection's opened payload and the variables it reads as.
fn opened_payload(payload: &[u8]) -> Value {
    use secrecy::ExposeSecret as _;
    let variables: serde_json::Map<String, Value> = crate::provider::decode_payload(payload)
        .unwrap()
        .into_iter()
        .map(|(name, value)| (name, json!(value.expose_secret())))
        .collect();
    json!({"payload_hex": hex(payload), "variables": variables})
}

struct Case {
    id: &'static str,
    comment: &'static str,
    key: RecordKey,
    body: Vec<u8>,
    /// What the sealed part opens to, as the vault reads it.
    opened: Value,
}

fn cases() -> Vec<Case> {
    let user = user();
    let secret_id = ItemId::from(uuid(ITEM_SECRET));
    let variable_id = ItemId::from(uuid(ITEM_VARIABLE));
    let agent_id = AgentId::from(uuid(AGENT));
    let openai = ConnectionId::new(Provider::OpenAi, CredentialKind::ApiKey).unwrap();
    let codex = ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription).unwrap();
    let mut salts = BTreeMap::new();
    salts.insert(1, unhex(SALT));
    salts.insert(2, unhex(SALT_2));

    let secret_value = "sk-test-0123456789abcdef";
    let previous_value = "sk-test-previous";
    let secret = ItemBody {
        name: Name::parse("OPENAI_PROJECT_KEY").unwrap(),
        kind: Kind::Secret,
        created_at: at(0),
        updated_at: at(60_000),
        revision: 2,
        agents: vec![agent_id],
        value: StoredValue::Sealed(seal(
            Purpose::Item,
            ITEM_SECRET,
            "OPENAI_PROJECT_KEY",
            0x11,
            secret_value.as_bytes(),
        )),
        history: vec![PastValue {
            revision: 1,
            since: at(0),
            value: seal(
                Purpose::PastItem,
                &format!("{ITEM_SECRET}@1"),
                "OPENAI_PROJECT_KEY",
                0x12,
                previous_value.as_bytes(),
            ),
        }],
    };
    let variable = ItemBody {
        name: Name::parse("LOG_LEVEL").unwrap(),
        kind: Kind::Variable,
        created_at: at(1_000),
        updated_at: at(1_000),
        revision: 2,
        agents: Vec::new(),
        value: StoredValue::Plain("debug".to_owned()),
        history: vec![PastValue {
            revision: 1,
            since: at(500),
            value: b"info".to_vec(),
        }],
    };
    let api_key = Credential::api_key(
        Provider::OpenAi,
        crate::SecretValue::parse("sk-openai-vector".into()).unwrap(),
    )
    .unwrap();
    let payload = api_key.to_payload().unwrap();
    let connection = ConnectionBody {
        id: openai,
        instance: uuid(INSTANCE),
        connected_at: at(2_000),
        updated_at: at(2_000),
        revision: 1,
        agents: vec![agent_id],
        variables: vec!["OPENAI_API_KEY".to_owned()],
        expires_at: None,
        sealed: seal(
            Purpose::Connection,
            &openai.record_id(),
            &openai.record_id(),
            0x22,
            &payload,
        ),
    };
    let bundle = crate::CodexTokens::from_json(
        r#"{"access_token":"codex-access","refresh_token":"codex-refresh","expires_at":"2027-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let codex_payload = Credential::CodexSubscription(bundle).to_payload().unwrap();
    let codex_connection = ConnectionBody {
        id: codex,
        instance: uuid(INSTANCE_CODEX),
        connected_at: at(3_000),
        updated_at: at(4_000),
        revision: 2,
        agents: Vec::new(),
        variables: vec!["OPENAI_OAUTH_TOKEN".to_owned()],
        expires_at: Some(Timestamp::from_unix_millis(1_798_761_600_000)),
        sealed: seal(
            Purpose::Connection,
            &codex.record_id(),
            &codex.record_id(),
            0x33,
            &codex_payload,
        ),
    };
    let agent = AgentBody {
        name: "support-bot".to_owned(),
        created_at: at(5_000),
        token: seal(
            Purpose::GatewayToken,
            AGENT,
            "gateway-token",
            0x44,
            TOKEN.as_bytes(),
        ),
        token_revision: 1,
        attachments: vec![
            Attachment {
                target: Target::Item(secret_id),
                label: "OPENAI_PROJECT_KEY".to_owned(),
                provider: None,
                variables: vec!["OPENAI_PROJECT_KEY".to_owned()],
            },
            Attachment {
                target: Target::Connection(openai),
                label: "openai:api-key".to_owned(),
                provider: Some(Provider::OpenAi),
                variables: vec!["OPENAI_API_KEY".to_owned()],
            },
        ],
        deployment: Some(Deployment {
            at: at(6_000),
            token_revision: 1,
            entries: vec![
                DeployedEntry {
                    target: Target::Item(secret_id),
                    label: "OPENAI_PROJECT_KEY".to_owned(),
                    revision: 1,
                    instance: None,
                },
                DeployedEntry {
                    target: Target::Connection(openai),
                    label: "openai:api-key".to_owned(),
                    revision: 1,
                    instance: Some(uuid(INSTANCE)),
                },
            ],
        }),
    };
    let new_agent = AgentBody {
        name: "Ünïcode bot".to_owned(),
        created_at: at(7_000),
        token: seal(
            Purpose::GatewayToken,
            AGENT_NEW,
            "gateway-token",
            0x55,
            TOKEN.as_bytes(),
        ),
        token_revision: 3,
        attachments: vec![Attachment {
            target: Target::Item(variable_id),
            label: "LOG_LEVEL".to_owned(),
            provider: None,
            variables: vec!["LOG_LEVEL".to_owned()],
        }],
        deployment: None,
    };
    let check = crate::crypto::check::key_check_value(
        &MasterKey::from_bytes(unhex(MASTER)),
        crate::crypto::KeyId(KEY_ID),
    );
    vec![
        Case {
            id: "user-keys",
            comment: "a user's key record with two generations, the second current",
            key: user_keys_key(&user),
            body: encode(&UserKeysBody { current: 2, salts }),
            opened: Value::Null,
        },
        Case {
            id: "item-secret",
            comment: "a secret, attached to one agent, updated once; its value is an envelope (purpose 1) sealed under generation 1, its earlier value one of purpose 5 bound to revision 1",
            key: item_key(&user, secret_id),
            body: encode(&secret),
            opened: json!({"value_utf8": secret_value, "history_utf8": {"1": previous_value}}),
        },
        Case {
            id: "item-variable",
            comment: "a variable changed once: its value and its history are plaintext UTF-8",
            key: item_key(&user, variable_id),
            body: encode(&variable),
            opened: Value::Null,
        },
        Case {
            id: "name",
            comment: "the name index entry of the secret above: its key is the name in ASCII upper case",
            key: name_key(&user, &secret.name),
            body: encode(&NameBody { item: secret_id }),
            opened: Value::Null,
        },
        Case {
            id: "connection-api-key",
            comment: "an OpenAI API-key connection; its credential is an envelope (purpose 2) of the payload (§6.4)",
            key: connection_key(&user, openai),
            body: encode(&connection),
            opened: opened_payload(&payload),
        },
        Case {
            id: "connection-codex",
            comment: "a Codex-subscription connection with its expiry kept in the clear",
            key: connection_key(&user, codex),
            body: encode(&codex_connection),
            opened: opened_payload(&codex_payload),
        },
        Case {
            id: "agent-deployed",
            comment: "an agent with a secret and a connection attached and a recorded deployment; its gateway token is an envelope (purpose 3)",
            key: agent_key(&user, agent_id),
            body: encode(&agent),
            opened: json!({"token": TOKEN}),
        },
        Case {
            id: "agent-never-deployed",
            comment: "an agent with a non-ASCII name, a rotated token and no deployment",
            key: agent_key(&user, AgentId::from(uuid(AGENT_NEW))),
            body: encode(&new_agent),
            opened: json!({"token": TOKEN}),
        },
        Case {
            id: "audit",
            comment: "a store-backed audit log entry: format byte 02, then the event as JSON (§6.10)",
            key: RecordKey::new(&user, RecordKind::Audit, AUDIT_ID),
            body: crate::audit::encode(&audit_event(&user, agent_id, secret_id)),
            opened: Value::Null,
        },
        Case {
            id: "agent-owner",
            comment: "the owner index entry of the deployed agent (§6.13), under the reserved user",
            key: agent_owner_key(agent_id),
            body: encode(&AgentOwnerBody {
                user: user.as_str().to_owned(),
            }),
            opened: Value::Null,
        },
        Case {
            id: "key-check",
            comment: "the check value of master key 1 (§9), under the reserved user",
            key: key_check_key(crate::crypto::KeyId(KEY_ID)),
            body: encode(&KeyCheckBody { check }),
            opened: Value::Null,
        },
    ]
}

/// The id of the vectors' audit entry (FORMAT.md §6.1).
const AUDIT_ID: &str = "000001a222bc4b53-0000000000000007-5d1c9b2a7e3f4c81";

fn audit_event(user: &UserId, agent: AgentId, item: ItemId) -> crate::audit::AuditEvent {
    use crate::audit::{AuditAction, AuditEvent, AuditSubject};
    let subjects = vec![
        AuditSubject::agent(agent, Some("support-bot")),
        AuditSubject::item(item, &Name::parse("OPENAI_PROJECT_KEY").unwrap()),
    ];
    let mut event = AuditEvent::done(user, AuditAction::Attached, subjects);
    event.at = at(8_000);
    event
}

fn build() -> Value {
    let records: Vec<Value> = cases()
        .into_iter()
        .map(|case| {
            json!({
                "id": case.id,
                "comment": case.comment,
                "key": {
                    "user": case.key.user.as_str(),
                    "kind": case.key.kind.as_str(),
                    "id": case.key.id,
                },
                "body_hex": hex(&case.body),
                "fields": fields(case.key.kind, &case.body),
                "opened": case.opened,
            })
        })
        .collect();
    json!({
        "format": FORMAT,
        "spec": "docs/FORMAT.md §6",
        "generator": "src/records/vectors.rs",
        "master_key_hex": MASTER,
        "key_id": KEY_ID,
        "records": records,
    })
}

fn render() -> String {
    let mut text = serde_json::to_string_pretty(&build()).unwrap();
    text.push('\n');
    text
}

#[test]
fn records_vectors_file_matches_generator() {
    // Writing is opt-in and the comparison below still runs.
    if std::env::var_os("AGENT_VAULT_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, render()).unwrap();
    }
    let stored = std::fs::read_to_string(PATH).unwrap();
    assert!(
        stored == render(),
        "regenerate with AGENT_VAULT_WRITE_VECTORS=1 (see the module docs)"
    );
}

/// Every committed body decodes to its committed fields and re-encodes to
/// the same bytes; one byte more or less, or a flipped format byte, does not
/// decode.
#[test]
fn committed_bodies_decode_to_their_fields_and_back() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let records = stored["records"].as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["key"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        RecordKind::ALL.map(RecordKind::as_str),
        "one entry per record kind at least"
    );
    for record in records {
        let kind = RecordKind::parse(record["key"]["kind"].as_str().unwrap()).unwrap();
        let text = record["body_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(fields(kind, &bytes), record["fields"], "{}", record["id"]);
        let reencoded = match kind {
            RecordKind::Item => encode(&decode_bytes::<ItemBody>(&bytes).unwrap()),
            RecordKind::Name => encode(&decode_bytes::<NameBody>(&bytes).unwrap()),
            RecordKind::Connection => encode(&decode_bytes::<ConnectionBody>(&bytes).unwrap()),
            RecordKind::Agent => encode(&decode_bytes::<AgentBody>(&bytes).unwrap()),
            RecordKind::UserKeys => encode(&decode_bytes::<UserKeysBody>(&bytes).unwrap()),
            RecordKind::KeyCheck => encode(&decode_bytes::<KeyCheckBody>(&bytes).unwrap()),
            RecordKind::AgentOwner => encode(&decode_bytes::<AgentOwnerBody>(&bytes).unwrap()),
            RecordKind::Audit => crate::audit::encode(&crate::audit::decode(&bytes).unwrap()),
        };
        assert_eq!(reencoded, bytes, "{}", record["id"]);
        let record_ok = |b: &[u8]| match kind {
            RecordKind::Item => decode_bytes::<ItemBody>(b).is_some(),
            RecordKind::Name => decode_bytes::<NameBody>(b).is_some(),
            RecordKind::Connection => decode_bytes::<ConnectionBody>(b).is_some(),
            RecordKind::Agent => decode_bytes::<AgentBody>(b).is_some(),
            RecordKind::UserKeys => decode_bytes::<UserKeysBody>(b).is_some(),
            RecordKind::Audit => crate::audit::decode(b).is_some(),
            RecordKind::AgentOwner => decode_bytes::<AgentOwnerBody>(b).is_some(),
            _ => decode_bytes::<KeyCheckBody>(b).is_some(),
        };
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!record_ok(&longer), "{}: trailing byte", record["id"]);
        assert!(
            !record_ok(&bytes[..bytes.len() - 1]),
            "{}: truncated",
            record["id"]
        );
        let mut other_format = bytes.clone();
        other_format[0] = 3;
        assert!(
            !record_ok(&other_format),
            "{}: unknown format",
            record["id"]
        );
    }
}

/// The borrowed views read every committed item, connection and agent body
/// to the same fields as the owned decode, and accept exactly the bodies it
/// accepts: each truncation, a trailing byte, and every byte of the body
/// flipped (two ways) are refused by both or read by both.
#[test]
fn borrowed_views_agree_with_the_owned_decode() {
    use super::view::{AgentView, ConnectionView, ItemView};

    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let mut checked = std::collections::BTreeSet::new();
    for record in stored["records"].as_array().unwrap() {
        let kind = RecordKind::parse(record["key"]["kind"].as_str().unwrap()).unwrap();
        let text = record["body_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect();
        let id = &record["id"];
        // Whether the view and the owned decode agree on a body.
        let agree: fn(&[u8]) -> bool = match kind {
            RecordKind::Item => {
                let owned = decode_bytes::<ItemBody>(&bytes).unwrap();
                let view = ItemView::read_bytes(&bytes).unwrap();
                assert_eq!(&*view.name, owned.name.as_str(), "{id}");
                assert_eq!(view.kind, owned.kind, "{id}");
                assert_eq!(view.revision, owned.revision, "{id}");
                assert_eq!(&*view.value, owned.value.bytes(), "{id}");
                |b| {
                    let view = ItemView::read_bytes(b).is_some();
                    view == decode_bytes::<ItemBody>(b).is_some()
                }
            }
            RecordKind::Connection => {
                let owned = decode_bytes::<ConnectionBody>(&bytes).unwrap();
                let view = ConnectionView::read_bytes(&bytes).unwrap();
                assert_eq!(view.instance, owned.instance, "{id}");
                assert_eq!(view.revision, owned.revision, "{id}");
                assert_eq!(&*view.sealed, owned.sealed.as_slice(), "{id}");
                |b| {
                    let view = ConnectionView::read_bytes(b).is_some();
                    view == decode_bytes::<ConnectionBody>(b).is_some()
                }
            }
            RecordKind::Agent => {
                let owned = decode_bytes::<AgentBody>(&bytes).unwrap();
                let view = AgentView::read_bytes(&bytes).unwrap();
                assert_eq!(&*view.token, owned.token.as_slice(), "{id}");
                assert_eq!(view.token_revision, owned.token_revision, "{id}");
                let targets: Vec<(Target, &str)> = view
                    .attachments
                    .iter()
                    .map(|a| (a.target, &*a.label))
                    .collect();
                let owned_targets: Vec<(Target, &str)> = owned
                    .attachments
                    .iter()
                    .map(|a| (a.target, a.label.as_str()))
                    .collect();
                assert_eq!(targets, owned_targets, "{id}");
                |b| {
                    let view = AgentView::read_bytes(b).is_some();
                    view == decode_bytes::<AgentBody>(b).is_some()
                }
            }
            _ => continue,
        };
        checked.insert(kind);
        let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        let mut longer = bytes.clone();
        longer.push(0);
        variants.push(longer);
        for position in 0..bytes.len() {
            for flip in [0x01, 0xff] {
                let mut flipped = bytes.clone();
                flipped[position] ^= flip;
                variants.push(flipped);
            }
        }
        for variant in &variants {
            assert!(agree(variant), "{id}: {}", hex(variant));
        }
    }
    assert_eq!(
        checked.len(),
        3,
        "items, connections and agents were checked"
    );
}
