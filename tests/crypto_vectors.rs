//! The known-answer vectors in `tests/vectors/agent_vault_v1.json`, checked
//! through the public API only (`docs/FORMAT.md` §7), against every
//! AES-256-GCM backend compiled in ([`Backend::ALL`]): each vector is opened
//! by each backend, and all must agree.

use agent_vault::crypto::{Backend, DEFAULT_CACHE_CAPACITY, KeyId, Keyring, MasterKey};
use agent_vault::hazmat::{Binding, Crypto, CryptoError, Purpose, UserKeys, derive_user_key};
use agent_vault::{GatewayToken, UserId};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("vectors/agent_vault_v1.json");
    serde_json::from_str(text).expect("vectors file is JSON")
}

/// The typed fields of one vector entry.
struct Entry<'a> {
    raw: &'a Value,
}

impl<'a> Entry<'a> {
    fn str(&self, field: &str) -> &'a str {
        self.raw[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is a string"))
    }

    fn u32(&self, field: &str) -> u32 {
        let n = self.raw[field].as_u64().expect("a number");
        u32::try_from(n).expect("fits in u32")
    }

    fn bytes(&self, field: &str) -> Vec<u8> {
        hex::decode(self.str(field)).expect("hex")
    }

    fn array32(&self, field: &str) -> [u8; 32] {
        self.bytes(field).try_into().expect("32 bytes")
    }

    fn id(&self) -> &'a str {
        self.str("id")
    }

    fn master(&self) -> MasterKey {
        MasterKey::from_bytes(self.array32("master_key_hex"))
    }

    fn crypto(&self, backend: Backend) -> Crypto {
        let mut ring = Keyring::empty();
        ring.add(KeyId(self.u32("key_id")), self.master())
            .expect("one key");
        Crypto::with_backend(ring, DEFAULT_CACHE_CAPACITY, backend)
    }

    fn keys(&self) -> UserKeys {
        UserKeys::from_salt(self.u32("generation"), self.array32("salt_hex"))
    }

    fn user(&self) -> UserId {
        UserId::parse(self.str("user_id")).expect("valid user id")
    }

    fn purpose(&self) -> Purpose {
        let purpose = match self.str("purpose") {
            "item" => Purpose::Item,
            "connection" => Purpose::Connection,
            "gateway-token" => Purpose::GatewayToken,
            other => panic!("{}: unknown purpose {other}", self.id()),
        };
        assert_eq!(
            u32::from(purpose.code()),
            self.u32("purpose_code"),
            "{}",
            self.id()
        );
        purpose
    }

    fn binding_parts(&self) -> (UserId, Purpose) {
        (self.user(), self.purpose())
    }

    /// Opens the vector's envelope with every backend; they must all give
    /// the same plaintext or the same error.
    fn open(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        let (user, purpose) = self.binding_parts();
        let binding = Binding::new(&user, purpose, self.str("record_id"), self.str("name"));
        let envelope = self.bytes("envelope_hex");
        let mut results = Backend::ALL.iter().map(|backend| {
            self.crypto(*backend)
                .open(&self.keys(), &binding, &envelope)
        });
        let first = results.next().expect("at least one backend");
        for (backend, other) in Backend::ALL[1..].iter().zip(results) {
            assert_eq!(other, first, "{}: {} disagrees", self.id(), backend.name());
        }
        first
    }
}

fn entries<'a>(vectors: &'a Value, kind: &str) -> Vec<Entry<'a>> {
    vectors[kind]
        .as_array()
        .expect("an array")
        .iter()
        .map(|raw| Entry { raw })
        .collect()
}

#[test]
fn vector_counts() {
    let vectors = vectors();
    assert_eq!(entries(&vectors, "positive").len(), 8);
    assert_eq!(entries(&vectors, "negative").len(), 23);
}

/// Each backend feature adds its backend to the run: a CI line with
/// `--features ring` really runs `ring`.
#[test]
fn every_backend_compiled_in_is_tested() {
    let expected = 1 + usize::from(cfg!(feature = "ring"));
    assert_eq!(Backend::ALL.len(), expected);
    assert_eq!(Backend::ALL[0], Backend::RustCrypto);
    let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
    assert!(names.contains(&Backend::default().name()));
}

/// What one backend seals (with a fresh nonce), every other opens, for each
/// vector's key, binding and plaintext.
#[test]
fn backends_open_each_others_envelopes() {
    let vectors = vectors();
    for v in entries(&vectors, "positive") {
        let (user, purpose) = v.binding_parts();
        let binding = Binding::new(&user, purpose, v.str("record_id"), v.str("name"));
        let plaintext = v.bytes("plaintext_hex");
        for sealer in Backend::ALL {
            let sealed = v
                .crypto(*sealer)
                .seal(&v.keys(), &binding, &plaintext)
                .expect("seals");
            for opener in Backend::ALL {
                let opened = v.crypto(*opener).open(&v.keys(), &binding, &sealed);
                let what = format!("{}: {} -> {}", v.id(), sealer.name(), opener.name());
                assert_eq!(
                    opened.as_deref().map(|p| &p[..]),
                    Ok(&plaintext[..]),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn derived_user_keys_match() {
    let vectors = vectors();
    for v in entries(&vectors, "positive") {
        let salt = v.array32("salt_hex");
        let key = derive_user_key(&v.master(), &salt, &v.user());
        assert_eq!(hex::encode(*key), v.str("user_key_hex"), "{}", v.id());
    }
}

#[test]
fn positive_vectors_open_to_their_plaintext() {
    let vectors = vectors();
    for v in entries(&vectors, "positive") {
        let opened = v.open().unwrap_or_else(|e| panic!("{}: {e:?}", v.id()));
        assert_eq!(&opened[..], &v.bytes("plaintext_hex")[..], "{}", v.id());
        if let Some(text) = v.raw["plaintext_utf8"].as_str() {
            assert_eq!(&opened[..], text.as_bytes(), "{}", v.id());
        }
    }
}

#[test]
fn positive_vector_headers_and_lengths() {
    let vectors = vectors();
    for v in entries(&vectors, "positive") {
        let envelope = v.bytes("envelope_hex");
        assert_eq!(
            envelope[0],
            agent_vault::hazmat::FORMAT_VERSION,
            "{}",
            v.id()
        );
        assert_eq!(
            Crypto::key_id_of(&envelope),
            Ok(KeyId(v.u32("key_id"))),
            "{}",
            v.id()
        );
        assert_eq!(
            &envelope[5..9],
            &v.u32("generation").to_be_bytes(),
            "{}",
            v.id()
        );
        assert_eq!(&envelope[9..21], &v.bytes("nonce_hex")[..], "{}", v.id());
        assert_eq!(
            envelope.len(),
            37 + v.bytes("plaintext_hex").len(),
            "{}",
            v.id()
        );
    }
}

#[test]
fn vectors_cover_the_brief() {
    let vectors = vectors();
    let positive = entries(&vectors, "positive");
    for purpose in ["item", "connection", "gateway-token"] {
        assert!(
            positive.iter().any(|v| v.str("purpose") == purpose),
            "{purpose}"
        );
    }
    assert!(
        positive
            .iter()
            .any(|v| v.str("user_id").len() == agent_vault::MAX_USER_ID_LEN)
    );
    assert!(
        positive
            .iter()
            .any(|v| v.str("user_id").contains(':') && v.str("user_id").contains('@'))
    );
    assert!(positive.iter().any(|v| v.bytes("plaintext_hex").is_empty()));
    assert!(
        positive
            .iter()
            .any(|v| v.bytes("plaintext_hex").len() > 4096)
    );
    assert!(
        positive
            .iter()
            .any(|v| v.u32("key_id") != 1 && v.u32("generation") != 1)
    );
    // The gateway-token vector carries a well-formed token.
    for v in positive
        .iter()
        .filter(|v| v.str("purpose") == "gateway-token")
    {
        assert!(
            GatewayToken::looks_valid(v.str("plaintext_utf8")),
            "{}",
            v.id()
        );
        assert_eq!(v.str("name"), "gateway-token");
    }
}

#[test]
fn negative_vectors_fail_with_the_expected_error() {
    let vectors = vectors();
    for v in entries(&vectors, "negative") {
        let envelope = v.bytes("envelope_hex");
        let expected = match v.str("expected_error") {
            "DecryptionFailed" => CryptoError::DecryptionFailed,
            "UnknownKey" => CryptoError::UnknownKey(KeyId(u32::from_be_bytes(
                envelope[1..5].try_into().expect("4 bytes"),
            ))),
            "UnknownGeneration" => CryptoError::UnknownGeneration(u32::from_be_bytes(
                envelope[5..9].try_into().expect("4 bytes"),
            )),
            other => panic!("{}: unknown expected_error {other}", v.id()),
        };
        match v.open() {
            Ok(_) => panic!("{}: opened but must not", v.id()),
            Err(error) => assert_eq!(error, expected, "{}", v.id()),
        }
    }
}

/// `tests/vectors/key_check_v1.json`: key check values computed from
/// `docs/FORMAT.md` §9 by Python's standard library.
#[test]
fn key_check_values_match_the_independent_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/key_check_v1.json"
    ))
    .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file["label_hex"].as_str().unwrap(),
        hex::encode(agent_vault::hazmat::KEY_CHECK_LABEL)
    );
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        let master: [u8; 32] = hex::decode(vector["master_key_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let id = agent_vault::crypto::KeyId(vector["key_id"].as_u64().unwrap() as u32);
        let check = agent_vault::hazmat::key_check_value(&MasterKey::from_bytes(master), id);
        assert_eq!(hex::encode(check), vector["check_hex"].as_str().unwrap());
    }
}
