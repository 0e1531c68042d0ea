//! Property tests of the crypto layer through the public API (`docs/FORMAT.md`
//! §3–§4, invariant I6): round trips, fresh nonces, tamper detection,
//! bindings, key ids, and redacted `Debug`.

use std::sync::OnceLock;

use agent_vault::UserId;
use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::hazmat::{Binding, Crypto, CryptoError, Purpose, UserKeys};
use base64::Engine as _;
use proptest::prelude::*;

const MASTER: [u8; 32] = [0x5a; 32];

fn crypto() -> &'static Crypto {
    static CRYPTO: OnceLock<Crypto> = OnceLock::new();
    CRYPTO.get_or_init(|| Crypto::new(Keyring::single(MasterKey::from_bytes(MASTER))))
}

fn keys() -> &'static UserKeys {
    static KEYS: OnceLock<UserKeys> = OnceLock::new();
    KEYS.get_or_init(UserKeys::generate)
}

fn alice() -> UserId {
    UserId::parse("alice").expect("valid")
}

fn purposes() -> impl Strategy<Value = Purpose> {
    prop_oneof![
        Just(Purpose::Item),
        Just(Purpose::Connection),
        Just(Purpose::GatewayToken),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seal_open_round_trip(
        value in proptest::collection::vec(any::<u8>(), 0..=4096),
        purpose in purposes(),
        record in "[a-z0-9:-]{0,40}",
        name in "[A-Z_]{1,30}",
    ) {
        let user = alice();
        let binding = Binding::new(&user, purpose, &record, &name);
        let sealed = crypto().seal(keys(), &binding, &value).expect("seals");
        prop_assert_eq!(sealed.len(), 37 + value.len());
        let opened = crypto().open(keys(), &binding, &sealed).expect("opens");
        prop_assert_eq!(&opened[..], &value[..]);
    }

    #[test]
    fn two_seals_of_the_same_value_differ(
        value in proptest::collection::vec(any::<u8>(), 0..=256),
    ) {
        let user = alice();
        let binding = Binding::new(&user, Purpose::Item, "record", "NAME");
        let a = crypto().seal(keys(), &binding, &value).expect("seals");
        let b = crypto().seal(keys(), &binding, &value).expect("seals");
        prop_assert_ne!(&a[9..21], &b[9..21], "nonces differ");
        prop_assert_ne!(a, b);
    }

    #[test]
    fn moved_ciphertexts_do_not_open(
        value in proptest::collection::vec(any::<u8>(), 0..=512),
        purpose in purposes(),
        other_purpose in purposes(),
        record in "[a-z0-9-]{1,36}",
        other_record in "[a-z0-9-]{1,36}",
        name in "[A-Z_]{1,20}",
        other_name in "[A-Z_]{1,20}",
        other_user in "[a-z0-9_.:@-]{1,40}",
    ) {
        let user = alice();
        let binding = Binding::new(&user, purpose, &record, &name);
        let sealed = crypto().seal(keys(), &binding, &value).expect("seals");
        let failed = Err(CryptoError::DecryptionFailed);

        let other_user = UserId::parse(&other_user).expect("valid");
        if other_user != user {
            // Same key record (salt) and binding, but another user.
            let moved = Binding::new(&other_user, purpose, &record, &name);
            prop_assert_eq!(crypto().open(keys(), &moved, &sealed).map(|_| ()), failed.clone());
        }
        if other_record != record {
            let moved = Binding::new(&user, purpose, &other_record, &name);
            prop_assert_eq!(crypto().open(keys(), &moved, &sealed).map(|_| ()), failed.clone());
        }
        if other_name != name {
            let moved = Binding::new(&user, purpose, &record, &other_name);
            prop_assert_eq!(crypto().open(keys(), &moved, &sealed).map(|_| ()), failed.clone());
        }
        if other_purpose != purpose {
            let moved = Binding::new(&user, other_purpose, &record, &name);
            prop_assert_eq!(crypto().open(keys(), &moved, &sealed).map(|_| ()), failed.clone());
        }
        // Another user's key record (another salt) with the same binding.
        let other_keys = UserKeys::generate();
        prop_assert_eq!(crypto().open(&other_keys, &binding, &sealed).map(|_| ()), failed);
    }
}

#[test]
fn every_single_bit_flip_fails() {
    let user = alice();
    let binding = Binding::new(&user, Purpose::Item, "0b7c-item", "API_KEY");
    for size in [0usize, 1, 16, 33, 200] {
        let value: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let sealed = crypto().seal(keys(), &binding, &value).expect("seals");
        for bit in 0..sealed.len() * 8 {
            let mut flipped = sealed.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let result = crypto().open(keys(), &binding, &flipped);
            // Bytes 1..9 name the key id and generation: a flip there may
            // name a key or generation that does not exist, which is its own
            // (documented) error; everywhere else it is DecryptionFailed.
            match (bit / 8, result) {
                (_, Ok(_)) => panic!("size {size}: flipping bit {bit} still opens"),
                (1..=4, Err(CryptoError::UnknownKey(_))) => {}
                (5..=8, Err(CryptoError::UnknownGeneration(_))) => {}
                (_, Err(CryptoError::DecryptionFailed)) => {}
                (byte, Err(other)) => panic!("size {size}: bit {bit} (byte {byte}): {other:?}"),
            }
        }
        assert!(crypto().open(keys(), &binding, &sealed).is_ok());
    }
}

#[test]
fn key_ids_select_the_master_key() {
    let user = alice();
    let keys = UserKeys::generate();
    let binding = Binding::new(
        &user,
        Purpose::Connection,
        "openai:api-key",
        "openai:api-key",
    );
    let (one, two) = (MasterKey::generate(), MasterKey::generate());

    // Seal under key 2 (primary of its own ring).
    let mut ring2 = Keyring::empty();
    ring2.add(KeyId(2), two.clone()).expect("added");
    let sealed = Crypto::new(ring2)
        .seal(&keys, &binding, b"value")
        .expect("seals");
    assert_eq!(Crypto::key_id_of(&sealed), Ok(KeyId(2)));

    // Keys 1 and 2, primary 1: opens with key 2.
    let mut both = Keyring::single(one.clone());
    both.add(KeyId(2), two).expect("added");
    assert_eq!(both.primary_id(), Some(KeyId(1)));
    let crypto = Crypto::new(both);
    assert_eq!(
        &crypto.open(&keys, &binding, &sealed).expect("opens")[..],
        b"value"
    );
    // New seals there use the primary, key 1.
    let resealed = crypto.seal(&keys, &binding, b"value").expect("seals");
    assert_eq!(Crypto::key_id_of(&resealed), Ok(KeyId(1)));

    // A ring without key 2.
    let only_one = Crypto::new(Keyring::single(one));
    assert_eq!(
        only_one.open(&keys, &binding, &sealed).map(|_| ()),
        Err(CryptoError::UnknownKey(KeyId(2)))
    );
}

#[test]
fn empty_keyring_is_not_configured() {
    let user = alice();
    let keys = UserKeys::generate();
    let binding = Binding::new(&user, Purpose::Item, "r", "N");
    let empty = Crypto::new(Keyring::empty());
    assert_eq!(
        empty.seal(&keys, &binding, b"v"),
        Err(CryptoError::NotConfigured)
    );
    let sealed = crypto().seal(&keys, &binding, b"v").expect("seals");
    assert_eq!(
        empty.open(&keys, &binding, &sealed).map(|_| ()),
        Err(CryptoError::NotConfigured)
    );
    // Even bytes that are no envelope at all: without a key nothing can be
    // opened, and the service should say so rather than blame the data.
    assert_eq!(
        empty.open(&keys, &binding, b"garbage").map(|_| ()),
        Err(CryptoError::NotConfigured)
    );
}

/// Every rendering of key bytes a careless `Debug` could leak.
fn renderings(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = vec![
        hex::encode(bytes),
        hex::encode_upper(bytes),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        format!("{bytes:?}"),
        format!("{bytes:x?}"),
    ];
    // A prefix long enough to be a leak, not a coincidence.
    out.push(hex::encode(&bytes[..8]));
    out
}

#[test]
fn debug_never_shows_key_bytes() {
    // Distinctive bytes so that a match cannot be a coincidence.
    let master_bytes: [u8; 32] = std::array::from_fn(|i| 0x90 ^ (i as u8).wrapping_mul(37));
    let master = MasterKey::from_bytes(master_bytes);
    let mut ring = Keyring::single(master.clone());
    ring.add(KeyId(9), MasterKey::from_bytes(master_bytes))
        .expect("added");
    let crypto = Crypto::new(ring.clone());
    let keys = UserKeys::from_salt(4, [0xc3; 32]);
    let user = alice();
    let binding = Binding::new(&user, Purpose::Item, "r", "N");
    // Fill the cache so a derived key exists inside `crypto`.
    crypto.seal(&keys, &binding, b"v").expect("seals");
    let user_key = agent_vault::hazmat::derive_user_key(&master, &[0xc3; 32], &user);

    let debugs = [
        format!("{master:?}"),
        format!("{master:#?}"),
        format!("{ring:?}"),
        format!("{ring:#?}"),
        format!("{crypto:?}"),
        format!("{crypto:#?}"),
        format!("{keys:?}"),
        format!("{keys:#?}"),
    ];
    let mut secrets = renderings(&master_bytes);
    secrets.extend(renderings(&user_key[..]));
    secrets.extend(renderings(&[0xc3; 32]));
    for debug in &debugs {
        for secret in &secrets {
            assert!(
                !debug.contains(secret.as_str()),
                "{debug} contains {secret}"
            );
        }
    }
    assert!(debugs[0].contains("REDACTED"));
    assert!(debugs[2].contains("Keyring"));
    assert!(debugs[4].contains("Crypto"));
    assert!(debugs[6].contains("UserKeys"));
}
