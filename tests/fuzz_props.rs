//! Bounded, always-on versions of the fuzz targets in `fuzz/`: arbitrary
//! bytes through the `.env` parser, the envelope opener and the record
//! decoder. None may panic; each may only answer with its own typed error.
//! (`RUSTC_BOOTSTRAP=1 cargo fuzz run <target>` explores much further.)

use agent_vault::UserId;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::dotenv::{self, ParseErrorKind};
use agent_vault::hazmat::{Binding, Crypto, CryptoError, Purpose, UserKeys};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that look a little like `.env` text more often than uniform bytes
/// would.
fn dotenv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            "A", "_b", "=", "\"", "'", "\\", "\n", "\r\n", "#", " ", "export ", "${", "}", "$A",
            ":-", "\\n", "\u{feff}", "é", "\0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dotenv_parse_never_panics_and_round_trips(data in dotenv_bytes()) {
        match dotenv::parse(&data) {
            Ok(env) => {
                let pairs: Vec<(&str, &str)> =
                    env.entries().iter().map(|e| (e.name(), e.value())).collect();
                let text = dotenv::to_string(pairs.iter().copied()).expect("parsed pairs serialise");
                let again = dotenv::parse(text.as_bytes()).expect("serialised text parses");
                let round: Vec<(&str, &str)> =
                    again.entries().iter().map(|e| (e.name(), e.value())).collect();
                prop_assert_eq!(pairs, round);
            }
            Err(error) => {
                if !matches!(error.kind(), ParseErrorKind::FileTooLarge { .. }) {
                    prop_assert!(error.line() >= 1 && error.column() >= 1);
                }
            }
        }
    }

    #[test]
    fn envelope_open_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..128),
        splice_at in 0usize..64,
        purpose in prop::sample::select(vec![Purpose::Item, Purpose::Connection, Purpose::GatewayToken]),
    ) {
        let crypto = Crypto::new(Keyring::single(MasterKey::from_bytes([7; 32])));
        let keys = UserKeys::from_salt(1, [9; 32]);
        let user = UserId::parse("fuzz").unwrap();
        let binding = Binding::new(&user, purpose, "r", "N");
        let sealed = crypto
            .seal(&keys, &Binding::new(&user, Purpose::Item, "r", "N"), b"value")
            .unwrap();
        let mut spliced = sealed.clone();
        let at = splice_at % spliced.len();
        for (slot, byte) in spliced[at..].iter_mut().zip(&data) {
            *slot ^= byte;
        }
        for input in [&data, &spliced] {
            match crypto.open(&keys, &binding, input) {
                Ok(plain) => {
                    prop_assert_eq!(input, &sealed);
                    prop_assert_eq!(purpose, Purpose::Item);
                    prop_assert_eq!(&plain[..], b"value");
                }
                Err(
                    CryptoError::DecryptionFailed
                    | CryptoError::UnknownKey(_)
                    | CryptoError::UnknownGeneration(_),
                ) => {}
                Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            }
        }
    }

    #[test]
    fn record_decode_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..256),
        format_byte in prop::option::of(1u8..=2),
    ) {
        let mut body = data;
        if let Some(format) = format_byte {
            // Most bytes after a known format byte (0.1.0's or the
            // current one) reach postcard itself.
            body.insert(0, format);
        }
        let _ = agent_vault::fuzzing::decode_any_record(&body);
    }
}

#[test]
fn record_decode_refuses_empty_and_unknown_formats() {
    assert!(!agent_vault::fuzzing::decode_any_record(&[]));
    assert!(!agent_vault::fuzzing::decode_any_record(&[0]));
    assert!(!agent_vault::fuzzing::decode_any_record(&[3, 0, 0]));
    assert!(!agent_vault::fuzzing::decode_any_record(&[u8::MAX, 0, 0]));
}
