//! Open arbitrary bytes as an envelope: `Crypto::open` must never panic and
//! may only fail with a `CryptoError`. The first bytes choose the binding's
//! record and name, so bindings vary too.
#![no_main]

use std::sync::OnceLock;

use agent_vault::UserId;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::hazmat::{Binding, Crypto, CryptoError, Purpose, UserKeys};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    crypto: Crypto,
    keys: UserKeys,
    user: UserId,
    sealed: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let crypto = Crypto::new(Keyring::single(MasterKey::from_bytes([7; 32])));
        let keys = UserKeys::from_salt(1, [9; 32]);
        let user = UserId::parse("fuzz").unwrap();
        let binding = Binding::new(&user, Purpose::Item, "r", "N");
        let sealed = crypto.seal(&keys, &binding, b"value").unwrap();
        Fixture {
            crypto,
            keys,
            user,
            sealed,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let (selector, envelope) = data.split_first().unwrap_or((&0, &[]));
    let purpose = match selector % 3 {
        0 => Purpose::Item,
        1 => Purpose::Connection,
        _ => Purpose::GatewayToken,
    };
    let binding = Binding::new(&f.user, purpose, "r", "N");
    // Arbitrary bytes as they are.
    check(
        f.crypto.open(&f.keys, &binding, envelope),
        envelope,
        &f.sealed,
        purpose,
    );
    // The same bytes spliced into a real envelope (after its header), so the
    // fuzzer also explores near-valid envelopes under a known key.
    let mut spliced = f.sealed.clone();
    let at = usize::from(*selector) % spliced.len();
    for (slot, byte) in spliced[at..].iter_mut().zip(envelope) {
        *slot ^= byte;
    }
    check(
        f.crypto.open(&f.keys, &binding, &spliced),
        &spliced,
        &f.sealed,
        purpose,
    );
});

fn check<T: std::ops::Deref<Target = Vec<u8>>>(
    result: Result<T, CryptoError>,
    input: &[u8],
    sealed: &[u8],
    purpose: Purpose,
) {
    match result {
        // Only the one real envelope, under its own binding, opens.
        Ok(plain) => {
            assert_eq!(input, sealed);
            assert_eq!(purpose, Purpose::Item);
            assert_eq!(&plain[..], b"value");
        }
        Err(
            CryptoError::DecryptionFailed
            | CryptoError::UnknownKey(_)
            | CryptoError::UnknownGeneration(_)
            | CryptoError::NotConfigured,
        ) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
}
