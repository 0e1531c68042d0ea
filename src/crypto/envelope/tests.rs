//! Everything about the envelope that exists only for tests: the
//! known-answer vectors in `tests/vectors/agent_vault_v1.json` (the
//! generator that wrote them, and a check that sealing with each vector's
//! nonce reproduces its envelope byte for byte), the fixed-nonce seal they
//! and the record vectors (`records/vectors.rs`) are made with, and the
//! associated data's layout.
//!
//! Regenerate (only when the case table changes, never the format) with
//! `AGENT_VAULT_WRITE_VECTORS=1 cargo test --lib vectors_file_matches_generator`.

use serde_json::{Value, json};

use super::*;
use crate::crypto::derive::user_key;
use crate::crypto::{MasterKey, SALT_LEN};

const VECTORS_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/agent_vault_v1.json"
);

const MASTER_A: &str = "208b6178f142d0a207f5f08a84a5bb362b5d6930082a5ba38396cb09038a8232";
const MASTER_B: &str = "750f0161d2fa4359266a10765f0d1d1ed2964ca21aed08e9f0268aa714db8f0c";
const SALT_1: &str = "56193efb8b25652aa2be08f8090b13b67e24c9e89cae88f827daaa8d1664fa02";
const SALT_2: &str = "a2d08f0f92d8e01d5fb4bc8189f5aba612a6499bd5568c8de0a9d5c050d900af";
const SALT_3: &str = "7dc2909eac58bfe076067e9b1ac1cf0f7988b5330e7cbca7c88d3891db91ef18";
const SALT_4: &str = "03cf85550f9ef772b8c845ac7e1842d05449de16935f650dbd8a86c998e97986";
const ITEM_1: &str = "caa89154-fcd0-400d-9ef9-8e2bd00c0484";
const ITEM_2: &str = "0a063778-a1f6-42e1-a54f-efcf2868df71";
const AGENT_1: &str = "8e7c7d11-4999-42d3-a41e-e0aca738992e";
/// A well-formed gateway token (`avgt_` + 44 base62 + 6 base62 CRC-32).
const TOKEN: &str = "avgt_uW5F7mD1O2VkZulUpBTM4wh4F5tfvGcsjpM4xcq61a0j1LIlEH";

/// Seals with a given nonce. Only the known-answer tests may do this: a
/// repeated nonce under one key breaks AES-GCM.
pub(crate) fn seal_with_nonce_for_vectors(
    key: &[u8; 32],
    key_id: KeyId,
    generation: u32,
    binding: &Binding<'_>,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let header = Header::new(key_id, generation);
    let sealed: Vec<Vec<u8>> = crate::crypto::Backend::ALL
        .iter()
        .map(|backend| {
            let cipher = Cipher::new(*backend, key);
            seal_with(&cipher, &header, nonce, binding, plaintext)
        })
        .collect();
    // Every backend must produce the very same bytes.
    assert!(sealed.windows(2).all(|w| w[0] == w[1]), "backends disagree");
    sealed.into_iter().next().unwrap_or_default()
}

impl Binding<'_> {
    /// The associated data as a vector.
    fn associated_data(&self, header: &[u8; HEADER_LEN]) -> Vec<u8> {
        self.with_associated_data(header, <[u8]>::to_vec)
    }
}

struct Case {
    id: &'static str,
    comment: &'static str,
    master: &'static str,
    key_id: u32,
    salt: &'static str,
    generation: u32,
    user: String,
    purpose: Purpose,
    record: String,
    name: String,
    nonce: &'static str,
    plaintext: Vec<u8>,
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Item => "item",
        Purpose::Connection => "connection",
        Purpose::GatewayToken => "gateway-token",
        Purpose::Receipt => "receipt",
        Purpose::PastItem => "past-item",
    }
}

fn purpose_from_name(name: &str) -> Purpose {
    match name {
        "item" => Purpose::Item,
        "connection" => Purpose::Connection,
        "gateway-token" => Purpose::GatewayToken,
        other => panic!("unknown purpose {other}"),
    }
}

fn long_user() -> String {
    let mut user = String::from("org.example:svc-account_");
    while user.len() < crate::MAX_USER_ID_LEN {
        user.push_str("0123456789abcdef");
    }
    user.truncate(crate::MAX_USER_ID_LEN);
    user
}

/// 5000 bytes covering every byte value, not valid UTF-8.
fn binary_plaintext() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect()
}

/// About 3 KiB of `.env`-like UTF-8 text, with non-ASCII characters.
fn text_plaintext() -> Vec<u8> {
    let mut text = String::new();
    for i in 0..80 {
        text.push_str(&format!("LINE_{i:02}=\"välue-{i} ✓ agent-vault/v1\"\n"));
    }
    text.into_bytes()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "item-basic",
            comment: "An item (secret value) for a short user id; key id 1, generation 1.",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_1,
            generation: 1,
            user: "alice".into(),
            purpose: Purpose::Item,
            record: ITEM_1.into(),
            name: "OPENAI_API_KEY".into(),
            nonce: "0daed824d47b3bcab8f8f543",
            plaintext: b"sk-test-0123456789abcdef".to_vec(),
        },
        Case {
            id: "item-empty-value",
            comment: "An empty plaintext: the envelope is header, nonce and tag only (37 bytes).",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_1,
            generation: 1,
            user: "alice".into(),
            purpose: Purpose::Item,
            record: ITEM_2.into(),
            name: "EMPTY".into(),
            nonce: "2a46beb73a39262f9cfbf5dd",
            plaintext: Vec::new(),
        },
        Case {
            id: "item-one-byte",
            comment: "A one-byte plaintext.",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_1,
            generation: 1,
            user: "alice".into(),
            purpose: Purpose::Item,
            record: ITEM_2.into(),
            name: "X".into(),
            nonce: "49675fc63ddcfb9b2da44b88",
            plaintext: b"1".to_vec(),
        },
        Case {
            id: "connection-user-with-colon-and-at",
            comment: "A provider connection; record id and name are both `provider:kind`; \
                      the user id contains ':' and '@'.",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_2,
            generation: 1,
            user: "oidc:bob@example.com".into(),
            purpose: Purpose::Connection,
            record: "openai:api-key".into(),
            name: "openai:api-key".into(),
            nonce: "24383e06c57cd27c1afa7b2f",
            plaintext: b"{\"api_key\":\"sk-proj-abc123\"}".to_vec(),
        },
        Case {
            id: "gateway-token-long-user",
            comment: "An agent's gateway token; record id is the agent UUID, name is \
                      `gateway-token`; the user id is 128 bytes, the longest allowed.",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_3,
            generation: 1,
            user: long_user(),
            purpose: Purpose::GatewayToken,
            record: AGENT_1.into(),
            name: "gateway-token".into(),
            nonce: "f94bc8f1ed20699c764d36e7",
            plaintext: TOKEN.as_bytes().to_vec(),
        },
        Case {
            id: "item-binary-5000-key7-gen3",
            comment: "5000 bytes of binary plaintext, master key id 7, user-key generation 3.",
            master: MASTER_B,
            key_id: 7,
            salt: SALT_4,
            generation: 3,
            user: "user_42".into(),
            purpose: Purpose::Item,
            record: ITEM_1.into(),
            name: "BLOB".into(),
            nonce: "df062518e0357f15a38c25dc",
            plaintext: binary_plaintext(),
        },
        Case {
            id: "item-text-3k-big-endian",
            comment: "About 3 KiB of UTF-8 text; key id 0x01020304 and generation \
                      0x0A0B0C0D show the big-endian header fields.",
            master: MASTER_B,
            key_id: 0x0102_0304,
            salt: SALT_2,
            generation: 0x0A0B_0C0D,
            user: "carol.d-1".into(),
            purpose: Purpose::Item,
            record: ITEM_2.into(),
            name: "DOTENV_BLOCK".into(),
            nonce: "afb5869ee1329a8fcca9212c",
            plaintext: text_plaintext(),
        },
        Case {
            id: "connection-same-record-as-item",
            comment: "A second record of item-basic's user (same master key and salt), \
                      this time a connection.",
            master: MASTER_A,
            key_id: 1,
            salt: SALT_1,
            generation: 1,
            user: "alice".into(),
            purpose: Purpose::Connection,
            record: "anthropic:api-key".into(),
            name: "anthropic:api-key".into(),
            nonce: "ad41a12aaaa3aab41012353b",
            plaintext: b"{\"api_key\":\"sk-ant-xyz\"}".to_vec(),
        },
    ]
}

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    hex::decode(text).unwrap().try_into().unwrap()
}

struct Sealed {
    user_key: [u8; 32],
    aad: Vec<u8>,
    envelope: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
fn seal_case(
    master: &str,
    key_id: u32,
    salt: &str,
    generation: u32,
    user: &str,
    purpose: Purpose,
    record: &str,
    name: &str,
    nonce: &str,
    plaintext: &[u8],
) -> Sealed {
    let master = MasterKey::from_bytes(unhex(master));
    let salt: [u8; SALT_LEN] = unhex(salt);
    let user = UserId::parse(user).unwrap();
    let key = user_key(&master, &salt, &user);
    let binding = Binding::new(&user, purpose, record, name);
    let header = Header::new(KeyId(key_id), generation);
    Sealed {
        user_key: *key,
        aad: binding.associated_data(&header.bytes),
        envelope: seal_with_nonce_for_vectors(
            &key,
            KeyId(key_id),
            generation,
            &binding,
            &unhex(nonce),
            plaintext,
        ),
    }
}

fn negative(id: &str, comment: &str, base: &Value, changes: Value, expected_error: &str) -> Value {
    let mut case = json!({
        "id": id,
        "comment": comment,
        "based_on": base["id"],
        "expected_error": expected_error,
    });
    for field in [
        "master_key_hex",
        "key_id",
        "salt_hex",
        "generation",
        "user_id",
        "purpose",
        "purpose_code",
        "record_id",
        "name",
        "envelope_hex",
    ] {
        case[field] = base[field].clone();
    }
    if let Value::Object(changes) = changes {
        for (field, value) in changes {
            case[field.as_str()] = value;
        }
    }
    case
}

fn envelope_with(base: &Value, change: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut bytes = hex::decode(base["envelope_hex"].as_str().unwrap()).unwrap();
    change(&mut bytes);
    json!(hex::encode(bytes))
}

fn build_vectors() -> Value {
    let positive: Vec<Value> = cases()
        .iter()
        .map(|c| {
            let sealed = seal_case(
                c.master,
                c.key_id,
                c.salt,
                c.generation,
                &c.user,
                c.purpose,
                &c.record,
                &c.name,
                c.nonce,
                &c.plaintext,
            );
            json!({
                "id": c.id,
                "comment": c.comment,
                "master_key_hex": c.master,
                "key_id": c.key_id,
                "salt_hex": c.salt,
                "generation": c.generation,
                "user_id": c.user,
                "user_key_hex": hex::encode(sealed.user_key),
                "purpose": purpose_name(c.purpose),
                "purpose_code": c.purpose.code(),
                "record_id": c.record,
                "name": c.name,
                "nonce_hex": c.nonce,
                "aad_hex": hex::encode(&sealed.aad),
                "plaintext_hex": hex::encode(&c.plaintext),
                "plaintext_utf8": std::str::from_utf8(&c.plaintext).ok(),
                "envelope_hex": hex::encode(&sealed.envelope),
            })
        })
        .collect();

    let basic = &positive[0];
    let token = &positive[4];
    let big = &positive[5];
    let connection = &positive[3];
    let body = HEADER_LEN + NONCE_LEN;
    let negative = vec![
        negative(
            "flip-ciphertext-bit",
            "The lowest bit of the first ciphertext byte (offset 21) is flipped.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[body] ^= 0x01) }),
            "DecryptionFailed",
        ),
        negative(
            "flip-tag-bit",
            "The highest bit of the last tag byte is flipped.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| {
                let last = b.len() - 1;
                b[last] ^= 0x80;
            }) }),
            "DecryptionFailed",
        ),
        negative(
            "flip-nonce-bit",
            "A bit of the nonce (offset 9) is flipped.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[HEADER_LEN] ^= 0x10) }),
            "DecryptionFailed",
        ),
        negative(
            "flip-bit-in-large-ciphertext",
            "A bit in the middle of a 5000-byte ciphertext is flipped.",
            big,
            json!({ "envelope_hex": envelope_with(big, |b| b[body + 2500] ^= 0x04) }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-user",
            "Opened as another user with the same salt: both the derived key and the \
             AAD differ.",
            basic,
            json!({ "user_id": "alicf" }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-user-case",
            "User ids are compared byte for byte: `Alice` is not `alice`.",
            basic,
            json!({ "user_id": "Alice" }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-name",
            "The same item opened under another name.",
            basic,
            json!({ "name": "OPENAI_API_KEY2" }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-record",
            "The same item opened as another item id.",
            basic,
            json!({ "record_id": ITEM_2 }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-purpose-token-as-item",
            "A gateway token opened as an item with the same record id and name.",
            token,
            json!({ "purpose": "item", "purpose_code": Purpose::Item.code() }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-purpose-connection-as-item",
            "A connection opened as an item with the same record id and name.",
            connection,
            json!({ "purpose": "item", "purpose_code": Purpose::Item.code() }),
            "DecryptionFailed",
        ),
        negative(
            "length-prefix-boundary",
            "Record id and name re-split (`openai:api-key` + `openai:api-key` versus \
             `openai:api-keyo` + `penai:api-key`): the length prefixes keep the AAD apart.",
            connection,
            json!({ "record_id": "openai:api-keyo", "name": "penai:api-key" }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-master-key",
            "The right key id and salt but another master key.",
            basic,
            json!({ "master_key_hex": MASTER_B }),
            "DecryptionFailed",
        ),
        negative(
            "wrong-salt",
            "The right generation number but another salt (another user-key record).",
            basic,
            json!({ "salt_hex": SALT_2 }),
            "DecryptionFailed",
        ),
        negative(
            "truncated-below-minimum",
            "36 bytes: one short of header, nonce and tag.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b.truncate(36)) }),
            "DecryptionFailed",
        ),
        negative(
            "truncated-one-byte",
            "The last byte (part of the tag) is missing.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| { b.pop(); }) }),
            "DecryptionFailed",
        ),
        negative(
            "empty-envelope",
            "No bytes at all.",
            basic,
            json!({ "envelope_hex": "" }),
            "DecryptionFailed",
        ),
        negative(
            "extended-one-byte",
            "A zero byte appended.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b.push(0)) }),
            "DecryptionFailed",
        ),
        negative(
            "unknown-version-2",
            "Version byte 0x02: unknown versions are refused before any key is used.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[0] = 0x02) }),
            "DecryptionFailed",
        ),
        negative(
            "unknown-version-0",
            "Version byte 0x00.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[0] = 0x00) }),
            "DecryptionFailed",
        ),
        negative(
            "unknown-key-id",
            "The header names master key id 9, which the keyring (only key 1) lacks.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[4] = 9) }),
            "UnknownKey",
        ),
        negative(
            "unknown-generation",
            "The header names user-key generation 2, which the user's key record \
             (only generation 1) lacks.",
            basic,
            json!({ "envelope_hex": envelope_with(basic, |b| b[8] = 2) }),
            "UnknownGeneration",
        ),
        negative(
            "header-generation-rewritten",
            "The header's generation changed from 3 to 7 and the key record lists \
             generation 7 with the same salt, so the same key is derived; the header \
             is part of the AAD, so it still fails.",
            big,
            json!({
                "generation": 7,
                "envelope_hex": envelope_with(big, |b| b[8] = 7),
            }),
            "DecryptionFailed",
        ),
        negative(
            "header-key-id-rewritten",
            "The header's key id changed from 7 to 8 and the keyring holds the same \
             master key under id 8, so the same key is derived; the header is part of \
             the AAD, so it still fails.",
            big,
            json!({
                "key_id": 8,
                "envelope_hex": envelope_with(big, |b| b[4] = 8),
            }),
            "DecryptionFailed",
        ),
    ];

    json!({
        "format": "agent-vault envelope, version 1",
        "spec": "docs/FORMAT.md",
        "generator": "src/crypto/envelope.rs, tests::write_vectors",
        "positive": positive,
        "negative": negative,
    })
}

fn render() -> String {
    let mut text = serde_json::to_string_pretty(&build_vectors()).unwrap();
    text.push('\n');
    text
}

#[test]
fn vectors_file_matches_generator() {
    // Writing is opt-in and the comparison below still runs, so the
    // test checks the file whether or not it just wrote it.
    if std::env::var_os("AGENT_VAULT_WRITE_VECTORS").is_some() {
        std::fs::write(VECTORS_PATH, render()).unwrap();
    }
    let stored = std::fs::read_to_string(VECTORS_PATH).unwrap();
    assert!(
        stored == render(),
        "regenerate with AGENT_VAULT_WRITE_VECTORS=1 (see the module docs)"
    );
}

/// The AAD is the same bytes whether it is built on the stack or, when
/// longer than `INLINE_AAD_LEN`, on the heap.
#[test]
fn aad_layout_inline_and_heap() {
    let user = UserId::parse("oidc:bob@example.com").unwrap();
    let header = Header::new(KeyId(0x0102_0304), 5);
    // Either side of both stack limits (AAD_FIXED_LEN + 34 + name_len).
    let at_short = SHORT_AAD_LEN - AAD_FIXED_LEN - 34;
    let at_limit = INLINE_AAD_LEN - AAD_FIXED_LEN - 34;
    for name_len in [
        0,
        1,
        at_short,
        at_short + 1,
        400,
        at_limit,
        at_limit + 1,
        2000,
    ] {
        let name = "N".repeat(name_len);
        let binding = Binding::new(&user, Purpose::Connection, "openai:api-key", &name);
        let aad = binding.associated_data(&header.bytes);
        let mut expected = b"agent-vault/v1/aad".to_vec();
        expected.extend_from_slice(&[1, 1, 2, 3, 4, 0, 0, 0, 5, 2]);
        expected.extend_from_slice(&20u32.to_be_bytes());
        expected.extend_from_slice(b"oidc:bob@example.com");
        expected.extend_from_slice(&14u32.to_be_bytes());
        expected.extend_from_slice(b"openai:api-key");
        expected.extend_from_slice(&(name_len as u32).to_be_bytes());
        expected.extend_from_slice(name.as_bytes());
        assert_eq!(aad, expected, "name length {name_len}");
        assert_eq!(aad.len(), AAD_FIXED_LEN + 20 + 14 + name_len);
    }
}

/// Independent of the case table: reseal each stored vector from its
/// stored inputs and compare every derived value byte for byte.
#[test]
fn sealing_reproduces_each_vector() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(VECTORS_PATH).unwrap()).unwrap();
    let positive = stored["positive"].as_array().unwrap();
    assert!(positive.len() >= 8);
    for v in positive {
        let s = |field: &str| v[field].as_str().unwrap();
        let n = |field: &str| u32::try_from(v[field].as_u64().unwrap()).unwrap();
        let purpose = purpose_from_name(s("purpose"));
        assert_eq!(u32::from(purpose.code()), n("purpose_code"));
        let sealed = seal_case(
            s("master_key_hex"),
            n("key_id"),
            s("salt_hex"),
            n("generation"),
            s("user_id"),
            purpose,
            s("record_id"),
            s("name"),
            s("nonce_hex"),
            &hex::decode(s("plaintext_hex")).unwrap(),
        );
        let id = s("id");
        assert_eq!(hex::encode(sealed.user_key), s("user_key_hex"), "{id}");
        assert_eq!(hex::encode(&sealed.aad), s("aad_hex"), "{id}");
        assert_eq!(hex::encode(&sealed.envelope), s("envelope_hex"), "{id}");
    }
}
