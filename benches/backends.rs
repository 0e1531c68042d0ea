//! An agent's environment of 50 attached 64-byte secrets on `MemoryStore`,
//! once per AES-256-GCM backend compiled in, each against that backend's own
//! 50 raw opens with a prebuilt key, all in one run (issue #15 item 4): the
//! ratio to the backend's own raw opens and to the fastest raw opens.
//!
//! `cargo bench --features ring --bench backends -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::crypto::{Backend, Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{Attachable, Kind, Name, SecretValue, UserId, Vault, VaultConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::RngCore as _;
use secrecy::SecretString;
use zeroize::Zeroizing;

const SECRETS: usize = 50;
const VALUE_LEN: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// 50 sealed 64-byte values with their nonces and tags, and an AAD of the
/// length the crate builds for an item binding.
struct RawSet {
    key: [u8; 32],
    aad: Vec<u8>,
    sealed: Vec<([u8; 12], Vec<u8>, [u8; 16])>,
}

fn raw_set() -> RawSet {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let cipher = Aes256Gcm::new(&key.into());
    let aad = vec![0u8; 18 + 9 + 1 + 12 + 5 + 36 + 9];
    let sealed = (0..SECRETS)
        .map(|_| {
            let mut nonce = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut nonce);
            let mut body = vec![b'v'; VALUE_LEN];
            let tag = cipher
                .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut body)
                .expect("sealed");
            (nonce, body, tag.into())
        })
        .collect();
    RawSet { key, aad, sealed }
}

/// The backend's raw API: each open copies the ciphertext into a
/// `Zeroizing` buffer and decrypts it in place, as the crate must (values
/// are wiped on drop).
fn raw_opens(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    set: &RawSet,
) {
    let cipher = Aes256Gcm::new(&set.key.into());
    c.bench_function("aes-gcm/raw-50-opens", |b| {
        b.iter(|| {
            for (nonce, body, tag) in &set.sealed {
                let mut plain = Zeroizing::new(body.clone());
                cipher
                    .decrypt_in_place_detached(
                        Nonce::from_slice(nonce),
                        &set.aad,
                        &mut plain,
                        tag.into(),
                    )
                    .expect("opened");
                black_box(&plain);
            }
        })
    });
    #[cfg(feature = "ring")]
    {
        use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as RingNonce, Tag, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &set.key).expect("key"));
        c.bench_function("ring/raw-50-opens", |b| {
            b.iter(|| {
                for (nonce, body, tag) in &set.sealed {
                    let mut plain = Zeroizing::new(body.clone());
                    key.open_in_place_separate_tag(
                        RingNonce::assume_unique_for_key(*nonce),
                        Aad::from(&set.aad),
                        Tag::from(*tag),
                        &mut plain,
                        0..,
                    )
                    .expect("opened");
                    black_box(&plain);
                }
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("environment-50x64B");
    let set = raw_set();
    raw_opens(&mut group, &set);

    let user = UserId::parse("bench").expect("valid user");
    let key = MasterKey::generate();
    for backend in Backend::ALL {
        let config = VaultConfig::default().with_backend(*backend);
        let vault = Vault::with_config(MemoryStore::new(), Keyring::single(key.clone()), config);
        let (agent, _) = rt
            .block_on(vault.create_agent(&user, &"bot".parse().unwrap()))
            .expect("agent");
        let mut targets = Vec::new();
        for i in 0..SECRETS {
            let name = Name::parse(&format!("SECRET_{i:02}")).expect("valid name");
            let value =
                SecretValue::parse(SecretString::from("v".repeat(VALUE_LEN))).expect("valid value");
            rt.block_on(vault.create_item(&user, &name, Kind::Secret, value))
                .expect("created");
            targets.push(Attachable::Item(name));
        }
        rt.block_on(vault.attach(&user, agent.id, &targets))
            .expect("attached");
        // Warm the per-user cipher cache, as on a hot path.
        rt.block_on(vault.environment(&user, agent.id))
            .expect("environment");
        group.bench_function(format!("{}/vault.environment", backend.name()), |b| {
            b.iter(|| {
                let (env, receipt) = rt
                    .block_on(vault.environment(&user, agent.id))
                    .expect("environment");
                black_box((env.len(), receipt.entries.len()))
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = backends;
    config = config();
    targets = bench
}
criterion_main!(backends);
