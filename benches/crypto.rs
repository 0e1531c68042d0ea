//! The crate's seal/open against raw AES-256-GCM with a prebuilt cipher, in
//! one group per operation and size so the ratio is visible. The user key is
//! cached (one call before measuring), so the difference is the envelope:
//! header, associated data, cache lookup and allocation.
//!
//! `Crypto::open` returns the plaintext in a `Zeroizing<Vec<u8>>` (invariant
//! I4), and dropping it wipes the buffer byte by byte with volatile writes,
//! which costs time in proportion to the size. The open groups therefore also
//! time `raw+zeroize`: the raw `decrypt` with the same wipe on drop, which
//! isolates the layer's own overhead from the price of zeroisation.
//!
//! `cargo bench --bench crypto`

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::UserId;
use agent_vault::crypto::{Binding, Crypto, Keyring, MasterKey, Purpose, UserKeys};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::RngCore as _;
use zeroize::Zeroizing;

const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (16 * 1024, "16KiB")];

fn bench(c: &mut Criterion) {
    let crypto = Crypto::new(Keyring::single(MasterKey::generate()));
    let keys = UserKeys::generate();
    let user = UserId::parse("user_42").expect("valid");
    let binding = Binding::new(
        &user,
        Purpose::Item,
        "caa89154-fcd0-400d-9ef9-8e2bd00c0484",
        "OPENAI_API_KEY",
    );
    let raw = Aes256Gcm::new(&[0x42u8; 32].into());
    // The same associated data length the crate builds for this binding.
    let aad = vec![0u8; 18 + 9 + 1 + 12 + 7 + 36 + 14];

    for (size, label) in SIZES {
        let value = vec![0xabu8; size];
        // Warm the cache: derive the user key once.
        let sealed = crypto.seal(&keys, &binding, &value).expect("seals");
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let raw_sealed = raw
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &value,
                    aad: &aad,
                },
            )
            .expect("encrypts");

        let mut group = c.benchmark_group(format!("seal/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("crate", |b| {
            b.iter(|| crypto.seal(&keys, black_box(&binding), black_box(&value)))
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                let mut nonce = [0u8; 12];
                rand::thread_rng().fill_bytes(&mut nonce);
                raw.encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: black_box(&value),
                        aad: &aad,
                    },
                )
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("open/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("crate", |b| {
            b.iter(|| crypto.open(&keys, black_box(&binding), black_box(&sealed)))
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                raw.decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: black_box(&raw_sealed),
                        aad: &aad,
                    },
                )
            })
        });
        group.bench_function("raw+zeroize", |b| {
            b.iter(|| {
                raw.decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: black_box(&raw_sealed),
                        aad: &aad,
                    },
                )
                .map(Zeroizing::new)
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
