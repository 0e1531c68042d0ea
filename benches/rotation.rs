//! Rewrap of 10,000 records on `MemoryStore` against a baseline in the same
//! run: 10,000 raw AES-GCM open + seal pairs with a prebuilt cipher (the
//! cryptographic floor of re-sealing). Records per second = 10,000 / time.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{Kind, Name, RewrapOptions, SecretValue, UserId, Vault};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::RngCore;
use secrecy::SecretString;

const USERS: usize = 10;
const PER_USER: usize = 1_000;

fn bench_rewrap(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut keys = Keyring::empty();
    keys.add(KeyId(1), MasterKey::generate()).expect("new id");
    keys.add(KeyId(2), MasterKey::generate()).expect("new id");
    let vault = Vault::new(MemoryStore::new(), keys.clone());
    for u in 0..USERS {
        let user = UserId::parse(&format!("user{u}")).expect("valid user");
        for i in 0..PER_USER {
            let name = Name::parse(&format!("SECRET_{i}")).expect("valid name");
            let value = SecretValue::parse(SecretString::from("v".repeat(64))).expect("valid");
            rt.block_on(vault.create(&user, &name, Kind::Secret, value))
                .expect("created");
        }
    }

    let mut group = c.benchmark_group("rewrap-10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements((USERS * PER_USER) as u64));
    let mut primary = 1;
    group.bench_function("memory-store", |b| {
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
