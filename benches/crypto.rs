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
//! Each group runs once per backend compiled in (`aes-gcm`, and `ring` with
//! the feature of that name), each against that backend's own raw API.
//!
//! `cargo bench --features ring --bench crypto -- --measurement-time 3 --warm-up-time 1 64B`

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::UserId;
use agent_vault::crypto::{Backend, DEFAULT_CACHE_CAPACITY, Keyring, MasterKey};
use agent_vault::hazmat::{Binding, Crypto, Purpose, UserKeys};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rand::RngCore as _;
use zeroize::Zeroizing;

const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (16 * 1024, "16KiB")];

/// The same associated data length the crate builds for the binding below.
const AAD_LEN: usize = 18 + 9 + 1 + 12 + 7 + 36 + 14;

fn nonce() -> [u8; 12] {
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

/// Which operation a group times.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Seal,
    Open,
}

/// The raw API of `aes-gcm`: seal with a fresh nonce into a new vector,
/// open into a new vector, and open into a `Zeroizing` one.
fn raw_aes_gcm(group: &mut BenchmarkGroup<'_, WallTime>, op: Op, value: &[u8]) {
    let raw = Aes256Gcm::new(&[0x42u8; 32].into());
    let aad = [0u8; AAD_LEN];
    let fixed = nonce();
    let sealed = raw
        .encrypt(
            Nonce::from_slice(&fixed),
            Payload {
                msg: value,
                aad: &aad,
            },
        )
        .expect("encrypts");
    let open_one = |sealed: &[u8]| {
        raw.decrypt(
            Nonce::from_slice(&fixed),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .expect("opens")
    };
    match op {
        Op::Seal => group.bench_function("aes-gcm/raw", |b| {
            b.iter(|| {
                let nonce = nonce();
                raw.encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: black_box(value),
                        aad: &aad,
                    },
                )
            })
        }),
        Op::Open => {
            group.bench_function("aes-gcm/raw", |b| b.iter(|| open_one(black_box(&sealed))));
            group.bench_function("aes-gcm/raw+zeroize", |b| {
                b.iter(|| Zeroizing::new(open_one(black_box(&sealed))))
            })
        }
    };
}

/// The raw API of `ring`, used as the crate must use it: seal a copy in
/// place and append the tag; open a copy in place.
#[cfg(feature = "ring")]
fn raw_ring(group: &mut BenchmarkGroup<'_, WallTime>, op: Op, value: &[u8]) {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as RingNonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42u8; 32]).expect("key"));
    let aad = [0u8; AAD_LEN];
    let fixed = nonce();
    let seal_one = |msg: &[u8], nonce: [u8; 12]| {
        let mut out = Vec::with_capacity(msg.len() + 16);
        out.extend_from_slice(msg);
        let tag = key
            .seal_in_place_separate_tag(
                RingNonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut out,
            )
            .expect("seals");
        out.extend_from_slice(tag.as_ref());
        out
    };
    let sealed = seal_one(value, fixed);
    let open_one = |sealed: &[u8]| {
        let mut plain = sealed.to_vec();
        let len = key
            .open_in_place(
                RingNonce::assume_unique_for_key(fixed),
                Aad::from(&aad),
                &mut plain,
            )
            .expect("opens")
            .len();
        plain.truncate(len);
        plain
    };
    match op {
        Op::Seal => group.bench_function("ring/raw", |b| {
            b.iter(|| seal_one(black_box(value), nonce()))
        }),
        Op::Open => {
            group.bench_function("ring/raw", |b| b.iter(|| open_one(black_box(&sealed))));
            group.bench_function("ring/raw+zeroize", |b| {
                b.iter(|| Zeroizing::new(open_one(black_box(&sealed))))
            })
        }
    };
}

fn bench(c: &mut Criterion) {
    let keys = UserKeys::generate();
    let user = UserId::parse("user_42").expect("valid");
    let binding = Binding::new(
        &user,
        Purpose::Item,
        "caa89154-fcd0-400d-9ef9-8e2bd00c0484",
        "OPENAI_API_KEY",
    );
    let key = MasterKey::generate();

    for (size, label) in SIZES {
        let value = vec![0xabu8; size];
        let cryptos: Vec<(Backend, Crypto, Vec<u8>)> = Backend::ALL
            .iter()
            .map(|backend| {
                let crypto = Crypto::with_backend(
                    Keyring::single(key.clone()),
                    DEFAULT_CACHE_CAPACITY,
                    *backend,
                );
                // Warm the cache: derive the user key once.
                let sealed = crypto.seal(&keys, &binding, &value).expect("seals");
                (*backend, crypto, sealed)
            })
            .collect();
        for (op, name) in [(Op::Seal, "seal"), (Op::Open, "open")] {
            let mut group = c.benchmark_group(format!("{name}/{label}"));
            group.throughput(Throughput::Bytes(size as u64));
            for (backend, crypto, sealed) in &cryptos {
                let id = format!("{}/crate", backend.name());
                match op {
                    Op::Seal => group.bench_function(id, |b| {
                        b.iter(|| crypto.seal(&keys, black_box(&binding), black_box(&value)))
                    }),
                    Op::Open => group.bench_function(id, |b| {
                        b.iter(|| crypto.open(&keys, black_box(&binding), black_box(sealed)))
                    }),
                };
            }
            raw_aes_gcm(&mut group, op, &value);
            #[cfg(feature = "ring")]
            raw_ring(&mut group, op, &value);
            group.finish();
        }
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
