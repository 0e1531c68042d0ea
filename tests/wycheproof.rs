//! External vectors against the primitives exactly as the crate uses them:
//! Project Wycheproof AES-GCM and HKDF-SHA256, and RFC 5869 Appendix A.
//! The AES-GCM cases run against `aes-gcm` directly and against every
//! backend compiled into the crate ([`Backend::ALL`]), through the very
//! calls envelopes make.

use aes_gcm::aead::{Aead as _, AeadInPlace as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use agent_vault::crypto::Backend;
use agent_vault::fuzzing::{aead_open, aead_seal};
use hkdf::Hkdf;
use serde_json::Value;
use sha2::Sha256;

fn load(text: &str) -> Value {
    serde_json::from_str(text).expect("vector file is JSON")
}

fn hex_field(test: &Value, field: &str) -> Vec<u8> {
    hex::decode(test[field].as_str().expect("a hex string")).expect("hex")
}

fn tc_id(test: &Value) -> u64 {
    test["tcId"].as_u64().expect("tcId")
}

#[test]
fn wycheproof_aes_256_gcm() {
    let file = load(include_str!("vectors/wycheproof/aes_gcm_test.json"));
    let (mut valid, mut invalid, mut skipped) = (0, 0, 0);
    let mut backend_checks = 0;
    let mut ids = Vec::new();
    for group in file["testGroups"].as_array().expect("groups") {
        let tests = group["tests"].as_array().expect("tests");
        let fits = group["keySize"] == 256 && group["ivSize"] == 96 && group["tagSize"] == 128;
        if !fits {
            skipped += tests.len();
            continue;
        }
        let mut cipher_for_key: Option<(Vec<u8>, Aes256Gcm)> = None;
        for test in tests {
            let id = tc_id(test);
            ids.push(id);
            let key = hex_field(test, "key");
            let (iv, aad, msg) = (
                hex_field(test, "iv"),
                hex_field(test, "aad"),
                hex_field(test, "msg"),
            );
            let (ct, tag) = (hex_field(test, "ct"), hex_field(test, "tag"));
            assert_eq!((key.len(), iv.len(), tag.len()), (32, 12, 16), "tcId {id}");
            // A prebuilt cipher per key, as the crate caches them.
            if cipher_for_key.as_ref().is_none_or(|(k, _)| *k != key) {
                let cipher = Aes256Gcm::new_from_slice(&key).expect("32-byte key");
                cipher_for_key = Some((key.clone(), cipher));
            }
            let cipher = &cipher_for_key.as_ref().expect("just set").1;
            let nonce = Nonce::from_slice(&iv);
            let mut ct_tag = ct.clone();
            ct_tag.extend_from_slice(&tag);

            // Detached, in place: the calls the envelope makes.
            let mut buffer = ct.clone();
            let detached =
                cipher.decrypt_in_place_detached(nonce, &aad, &mut buffer, Tag::from_slice(&tag));
            // Combined ciphertext ‖ tag: the same check through the other API.
            let combined = cipher.decrypt(
                nonce,
                Payload {
                    msg: &ct_tag,
                    aad: &aad,
                },
            );

            // The crate's own backends, through the calls envelopes make.
            let key32: [u8; 32] = key.as_slice().try_into().expect("32-byte key");
            let iv12: [u8; 12] = iv.as_slice().try_into().expect("12-byte nonce");
            let tag16: [u8; 16] = tag.as_slice().try_into().expect("16-byte tag");
            for backend in Backend::ALL {
                let opened = aead_open(*backend, &key32, &iv12, &aad, &ct, &tag16);
                let name = backend.name();
                match test["result"].as_str() {
                    Some("valid") => {
                        assert_eq!(opened.as_deref(), Some(&msg[..]), "tcId {id} on {name}");
                        let sealed = aead_seal(*backend, &key32, &iv12, &aad, &msg);
                        assert_eq!(sealed, ct_tag, "tcId {id} on {name}");
                    }
                    _ => assert!(opened.is_none(), "tcId {id} must fail on {name}"),
                }
                backend_checks += 1;
            }

            match test["result"].as_str() {
                Some("valid") => {
                    valid += 1;
                    detached.unwrap_or_else(|_| panic!("tcId {id} must decrypt"));
                    assert_eq!(buffer, msg, "tcId {id}");
                    assert_eq!(combined.as_deref(), Ok(&msg[..]), "tcId {id}");
                    let mut sealed = msg.clone();
                    let got = cipher
                        .encrypt_in_place_detached(nonce, &aad, &mut sealed)
                        .expect("encrypts");
                    sealed.extend_from_slice(&got);
                    assert_eq!(sealed, ct_tag, "tcId {id}");
                }
                Some("invalid") => {
                    invalid += 1;
                    assert!(detached.is_err(), "tcId {id} must fail");
                    assert!(combined.is_err(), "tcId {id} must fail");
                }
                other => panic!("tcId {id}: unexpected result {other:?}"),
            }
        }
    }
    assert_eq!((valid, invalid), (39, 27));
    assert_eq!(backend_checks, 66 * Backend::ALL.len(), "every backend ran");
    assert_eq!(valid + invalid, 66, "run");
    assert_eq!(skipped, 250, "skipped");
    assert_eq!(ids, (91..=156).collect::<Vec<_>>());
}

#[test]
fn wycheproof_hkdf_sha256() {
    let file = load(include_str!("vectors/wycheproof/hkdf_sha256_test.json"));
    let (mut valid, mut invalid, mut maximal) = (0, 0, 0);
    for group in file["testGroups"].as_array().expect("groups") {
        for test in group["tests"].as_array().expect("tests") {
            let id = tc_id(test);
            let (ikm, salt, info) = (
                hex_field(test, "ikm"),
                hex_field(test, "salt"),
                hex_field(test, "info"),
            );
            let size = usize::try_from(test["size"].as_u64().expect("size")).expect("usize");
            // Wycheproof's empty salt is a zero-length salt, which HKDF treats
            // like an absent one; pass it as given.
            let hkdf = Hkdf::<Sha256>::new(Some(&salt), &ikm);
            let mut okm = vec![0u8; size];
            let result = hkdf.expand(&info, &mut okm);
            match test["result"].as_str() {
                Some("valid") => {
                    valid += 1;
                    result.unwrap_or_else(|_| panic!("tcId {id} must expand"));
                    assert_eq!(okm, hex_field(test, "okm"), "tcId {id}");
                    if size == 255 * 32 {
                        maximal += 1;
                    }
                }
                Some("invalid") => {
                    invalid += 1;
                    assert_eq!(size, 8161, "tcId {id}");
                    assert!(result.is_err(), "tcId {id} must be an error");
                }
                other => panic!("tcId {id}: unexpected result {other:?}"),
            }
        }
    }
    assert_eq!((valid, invalid, maximal), (83, 3, 3));
}

/// Checks one RFC 5869 case with hash `$hash`: PRK from extract, OKM from
/// expand, and the one-step `new` + `expand` path the crate uses.
macro_rules! check_rfc5869 {
    ($hash:ty, $test:expr) => {{
        let test: &Value = $test;
        let id = tc_id(test);
        let ikm = hex_field(test, "ikm");
        let info = hex_field(test, "info");
        let salt = match &test["salt"] {
            Value::Null => None,
            _ => Some(hex_field(test, "salt")),
        };
        let len = usize::try_from(test["L"].as_u64().expect("L")).expect("usize");
        let (prk, hkdf) = Hkdf::<$hash>::extract(salt.as_deref(), &ikm);
        assert_eq!(prk.to_vec(), hex_field(test, "prk"), "tcId {id} PRK");
        let mut okm = vec![0u8; len];
        hkdf.expand(&info, &mut okm).expect("L is in range");
        assert_eq!(okm, hex_field(test, "okm"), "tcId {id} OKM");
        let mut again = vec![0u8; len];
        Hkdf::<$hash>::new(salt.as_deref(), &ikm)
            .expand(&info, &mut again)
            .expect("L is in range");
        assert_eq!(again, okm, "tcId {id} new+expand");
    }};
}

#[test]
fn rfc5869_sha256_and_sha1() {
    let file = load(include_str!("vectors/rfc5869/hkdf_rfc5869.json"));
    let (mut sha256, mut sha1) = (0, 0);
    for test in file["tests"].as_array().expect("tests") {
        match test["hash"].as_str() {
            Some("SHA-256") => {
                check_rfc5869!(Sha256, test);
                sha256 += 1;
            }
            Some("SHA-1") => {
                check_rfc5869!(sha1::Sha1, test);
                sha1 += 1;
            }
            other => panic!("unexpected hash {other:?}"),
        }
    }
    assert_eq!((sha256, sha1), (3, 4));
}
