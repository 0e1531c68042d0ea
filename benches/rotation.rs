//! Rewrap of 10,000 records on `MemoryStore` and (with `--features sqlite`)
//! on a SQLite file, against a baseline in the same run: 10,000 raw AES-GCM
//! open + seal pairs with a prebuilt cipher (the cryptographic floor of
//! re-sealing). Records per second = 10,000 / time.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{MemoryStore, Store};
use agent_vault::{ImportOptions, RewrapOptions, UserId, Vault};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rand::RngCore;

const USERS: usize = 10;
const PER_USER: usize = 1_000;

fn two_keys() -> Keyring {
    let mut keys = Keyring::empty();
    keys.add(KeyId(1), MasterKey::generate()).expect("new id");
    keys.add(KeyId(2), MasterKey::generate()).expect("new id");
    keys
}

/// Fills `vault` with 10,000 secrets, then measures rewraps of all of them.
fn bench_store<S: Store>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    label: &str,
    vault: Vault<S>,
) {
    for u in 0..USERS {
        let user = UserId::parse(&format!("user{u}")).expect("valid user");
        let values = (0..PER_USER).map(|i| format!("SECRET_{i}={}\n", "v".repeat(64)));
        let file: String = values.collect();
        rt.block_on(vault.import_dotenv(&user, file.as_bytes(), &ImportOptions::default()))
            .expect("imported");
    }
    let mut keys = vault.keyring();
    let mut primary = 1;
    group.bench_function(label, |b| {
        b.iter(|| {
            // Flip the primary so every record needs re-sealing each time.
            primary = 3 - primary;
            keys.promote(KeyId(primary)).expect("known id");
            vault.set_keyring(keys.clone());
            let report = rt
                .block_on(vault.rewrap(&RewrapOptions::default(), &mut |_| {}))
                .expect("rewrapped");
            assert_eq!(report.rewrapped, (USERS * PER_USER) as u64);
        })
    });
}

fn bench_rewrap(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("rewrap-10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements((USERS * PER_USER) as u64));

    bench_store(
        &mut group,
        &rt,
        "memory-store",
        Vault::new(MemoryStore::new(), two_keys()),
    );
    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = rt
            .block_on(agent_vault::store::SqliteStore::open(
                dir.path().join("bench.db"),
            ))
            .expect("opened");
        bench_store(
            &mut group,
            &rt,
            "sqlite-store",
            Vault::new(store, two_keys()),
        );
    }

    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let cipher = Aes256Gcm::new(&key.into());
    let sealed: Vec<([u8; 12], Vec<u8>)> = (0..USERS * PER_USER)
        .map(|_| {
            let mut nonce = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut nonce);
            let ct = cipher
                .encrypt(Nonce::from_slice(&nonce), [b'v'; 64].as_slice())
                .expect("sealed");
            (nonce, ct)
        })
        .collect();
    group.bench_function("raw-aes-gcm-open-seal", |b| {
        b.iter(|| {
            for (nonce, ct) in &sealed {
                let plain = cipher
                    .decrypt(Nonce::from_slice(nonce), ct.as_slice())
                    .expect("opened");
                let mut fresh = [0u8; 12];
                rand::thread_rng().fill_bytes(&mut fresh);
                black_box(
                    cipher
                        .encrypt(Nonce::from_slice(&fresh), plain.as_slice())
                        .expect("sealed"),
                );
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_rewrap);
criterion_main!(benches);
