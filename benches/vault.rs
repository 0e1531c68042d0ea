//! Vault operations on `MemoryStore`, each against a baseline in the same run:
//! create-secret and list-100 against one raw 64-byte AES-GCM seal (issue:
//! vault core), and an agent's
//! environment with 50 attached 64-byte secrets against 50 raw AES-GCM opens
//! with a prebuilt cipher (issue: agents; target within 1.5x); and a create
//! with the store-backed audit log against one without (goal 1.3x).

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{Attachable, Kind, Name, SecretValue, UserId, Vault, VaultConfig};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::RngCore;
use secrecy::SecretString;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

fn value(len: usize) -> SecretValue {
    SecretValue::parse(SecretString::from("v".repeat(len))).expect("valid value")
}

fn bench_items(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("items");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let user = UserId::parse("bench").expect("valid user");
    let mut n = 0u64;
    group.bench_function("create-secret", |b| {
        b.iter(|| {
            n += 1;
            let name = Name::parse(&format!("SECRET_{n}")).expect("valid name");
            rt.block_on(vault.create_item(&user, &name, Kind::Secret, value(64)))
                .expect("created")
        })
    });

    let listed = UserId::parse("lister").expect("valid user");
    for i in 0..100 {
        let name = Name::parse(&format!("ITEM_{i:03}")).expect("valid name");
        let kind = if i % 2 == 0 {
            Kind::Secret
        } else {
            Kind::Variable
        };
        rt.block_on(vault.create_item(&listed, &name, kind, value(64)))
            .expect("created");
    }
    group.bench_function("list-100", |b| {
        b.iter(|| rt.block_on(vault.items(&listed)).expect("listed").len())
    });

    // The baseline: what sealing one 64-byte value costs with a prebuilt
    // cipher, the cryptographic floor of create-secret.
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let cipher = Aes256Gcm::new(&key.into());
    group.bench_function("raw-aes-gcm-seal-64B", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut nonce);
            black_box(
                cipher
                    .encrypt(Nonce::from_slice(&nonce), [b'v'; 64].as_slice())
                    .expect("sealed"),
            )
        })
    });
    group.finish();
}

fn bench_environment(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("environment-50x64B");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let user = UserId::parse("bench").expect("valid user");
    let (agent, _) = rt
        .block_on(vault.create_agent(&user, &"bot".parse().unwrap()))
        .expect("agent");
    let mut targets = Vec::new();
    for i in 0..50 {
        let name = Name::parse(&format!("SECRET_{i:02}")).expect("valid name");
        rt.block_on(vault.create_item(&user, &name, Kind::Secret, value(64)))
            .expect("created");
        targets.push(Attachable::Item(name));
    }
    rt.block_on(vault.attach(&user, agent.id, &targets))
        .expect("attached");
    // Warm the per-user cipher cache, as on a hot path.
    rt.block_on(vault.environment(&user, agent.id))
        .expect("environment");

    group.bench_function("vault.environment", |b| {
        b.iter(|| {
            let (env, receipt) = rt
                .block_on(vault.environment(&user, agent.id))
                .expect("environment");
            black_box((env.len(), receipt.entries.len()))
        })
    });

    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let cipher = Aes256Gcm::new(&key.into());
    let sealed: Vec<([u8; 12], Vec<u8>)> = (0..50)
        .map(|_| {
            let mut nonce = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut nonce);
            let ct = cipher
                .encrypt(Nonce::from_slice(&nonce), [b'v'; 64].as_slice())
                .expect("sealed");
            (nonce, ct)
        })
        .collect();
    group.bench_function("raw-aes-gcm-50-opens", |b| {
        b.iter(|| {
            for (nonce, ct) in &sealed {
                black_box(
                    cipher
                        .decrypt(Nonce::from_slice(nonce), ct.as_slice())
                        .expect("opened"),
                );
            }
        })
    });
    group.finish();
}

/// A create with the store-backed audit log (its event in the same commit)
/// against the same create without it (issue: audit; goal 1.3x or less).
/// Each batch of 500 creates starts from a fresh vault, so both sides are
/// measured on stores of the same size rather than on ever-growing ones.
fn bench_audit(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let key = MasterKey::generate();
    let user = UserId::parse("bench").expect("valid user");
    let names: Vec<Name> = (0..500)
        .map(|n| Name::parse(&format!("SECRET_{n}")).expect("valid name"))
        .collect();
    for (label, audited) in [
        ("create-secret-no-audit", false),
        ("create-secret-audit-log", true),
    ] {
        let fresh = || {
            let config = VaultConfig::default().with_audit_log(audited);
            let vault =
                Vault::with_config(MemoryStore::new(), Keyring::single(key.clone()), config);
            // The first write of a vault stores the key check value and the
            // user's salts: done here, outside the measurement.
            rt.block_on(vault.create_item(
                &user,
                &Name::parse("WARM").expect("valid"),
                Kind::Secret,
                value(64),
            ))
            .expect("created");
            (vault, 0usize)
        };
        group.bench_function(label, |b| {
            b.iter_batched_ref(
                fresh,
                |(vault, n)| {
                    let name = &names[*n % names.len()];
                    *n += 1;
                    rt.block_on(vault.create_item(&user, name, Kind::Secret, value(64)))
                        .expect("created")
                },
                BatchSize::NumIterations(names.len() as u64),
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_items, bench_environment, bench_audit);
criterion_main!(benches);
