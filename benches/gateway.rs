//! `Vault::verify_gateway_token`, the check on every request to an agent's
//! host, on `MemoryStore` and on `SqliteStore`, against one raw `aes-gcm`
//! open of a 55-byte token (the size of a gateway token) with a prebuilt
//! cipher, in the same run (issue #15 item 3; goal on memory: 3x or less).
//!
//! `verify-hit` is the steady state of a hosting service: the agent's
//! envelope was opened once, and each check reads the agent record and
//! compares a keyed hash. `verify-after-rotation` rotates the token before
//! every check, so each check opens the new envelope: the cost of the first
//! request after a rotation (the rotation itself is outside the timing).
//!
//! `cargo bench --features sqlite --bench gateway -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{MemoryStore, SqliteStore, Store};
use agent_vault::{AgentId, UserId, Vault};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::RngCore as _;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn bench_store<S: Store>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    label: &str,
    vault: Vault<S>,
) {
    let mut group = c.benchmark_group(format!("gateway/{label}"));
    let user = UserId::parse("bench").expect("valid user");
    let (agent, token) = rt
        .block_on(vault.create_agent(&user, &"bot".parse().unwrap()))
        .expect("agent");
    let agent: AgentId = agent.id;
    let token = token.expose_secret().to_owned();
    rt.block_on(vault.verify_gateway_token(&user, agent, &token))
        .expect("accepted");

    group.bench_function("verify-hit", |b| {
        b.iter(|| {
            rt.block_on(vault.verify_gateway_token(&user, agent, black_box(&token)))
                .expect("accepted")
        })
    });
    group.bench_function("verify-after-rotation", |b| {
        b.iter_batched(
            || {
                rt.block_on(vault.rotate_gateway_token(&user, agent))
                    .expect("rotated")
            },
            |token| {
                rt.block_on(vault.verify_gateway_token(&user, agent, token.expose_secret()))
                    .expect("accepted")
            },
            BatchSize::PerIteration,
        )
    });
    raw_open(&mut group);
    group.finish();
}

/// One raw AES-256-GCM open of a 55-byte token with a prebuilt cipher: the
/// cryptographic floor of a check without a cache.
fn raw_open(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let cipher = Aes256Gcm::new(&key.into());
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    // The associated data length the crate builds for a token binding.
    let aad = [0u8; 18 + 9 + 1 + 12 + 5 + 36 + 13];
    let mut sealed = vec![b't'; 55];
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut sealed)
        .expect("sealed");
    group.bench_function("raw-aes-gcm-open-55B", |b| {
        b.iter(|| {
            let mut plain = black_box(&sealed).clone();
            cipher
                .decrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut plain, &tag)
                .expect("opened");
            black_box(plain)
        })
    });
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let key = MasterKey::generate();
    let memory = Vault::new(MemoryStore::new(), Keyring::single(key.clone()));
    bench_store(c, &rt, "memory", memory);

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = rt
        .block_on(SqliteStore::open(dir.path().join("gateway.db")))
        .expect("open SQLite");
    bench_store(c, &rt, "sqlite", Vault::new(sqlite, Keyring::single(key)));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = gateway;
    config = config();
    targets = benches
}
criterion_main!(gateway);
