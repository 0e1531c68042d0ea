//! Concurrency stress test of the vault over `PostgresStore`: the writers
//! are separate processes (this test binary run again, as
//! `stress_writer_process`, with its orders in an environment variable),
//! each with its own pool, on one throwaway server.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use agent_vault::Vault;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::PostgresStore;
use serde::{Deserialize, Serialize};
use support::pg::{self, PgServer};
use support::stress::{self, History, NAMES, OPS, PROVIDERS, WRITERS, World};

/// The variable that turns this binary into a writer process.
const WRITER_ENV: &str = "AGENT_VAULT_STRESS_WRITER";

/// A writer process's orders.
#[derive(Serialize, Deserialize)]
struct Orders {
    socket_dir: PathBuf,
    master_key: String,
    world: World,
    writer: usize,
    ops: usize,
    seed: u64,
    history: PathBuf,
}

/// The writer process's entry point. Run normally (without the variable)
/// it has nothing to do and passes.
#[test]
fn stress_writer_process() {
    let Ok(orders) = std::env::var(WRITER_ENV) else {
        return;
    };
    let orders: Orders = serde_json::from_str(&orders).expect("orders");
    let runtime = stress::runtime();
    let history = runtime.block_on(async {
        let store = PostgresStore::new(pg::pool_for(&orders.socket_dir, 4).await);
        let key = MasterKey::from_base64(&orders.master_key).expect("master key");
        let vault = Vault::new(store, Keyring::single(key));
        stress::run_writer(
            &vault,
            &orders.world,
            orders.writer,
            orders.ops,
            orders.seed,
        )
        .await
    });
    std::fs::write(
        &orders.history,
        serde_json::to_vec(&history).expect("encode history"),
    )
    .expect("write history");
}

#[test]
fn postgres_store_keeps_the_invariants_under_concurrent_writer_processes() {
    let started = Instant::now();
    let server = PgServer::start();
    let runtime = stress::runtime();
    let key = MasterKey::generate();
    let setup = runtime.block_on(async {
        let store = PostgresStore::new(server.pool(4).await);
        store.migrate().await.expect("migrate");
        Vault::new(store, Keyring::single(key.clone()))
    });
    let world = runtime.block_on(World::create(&setup, 2, 3, NAMES, PROVIDERS));
    let seed = stress::seed();
    let out = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("own test binary");
    let children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let history = out.path().join(format!("writer-{writer}.json"));
            let orders = Orders {
                socket_dir: server.socket_dir().to_path_buf(),
                master_key: key.to_base64().to_string(),
                world: world.clone(),
                writer,
                ops: OPS,
                seed,
                history: history.clone(),
            };
            let child = Command::new(&exe)
                .args([
                    "stress_writer_process",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WRITER_ENV, serde_json::to_string(&orders).expect("orders"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a writer process");
            (child, history)
        })
        .collect();
    let mut histories = Vec::new();
    for (child, path) in children {
        let output = child.wait_with_output().expect("wait for a writer process");
        assert!(
            output.status.success(),
            "a writer process failed: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let bytes = std::fs::read(&path).expect("read a writer's history");
        histories.push(serde_json::from_slice::<History>(&bytes).expect("decode history"));
    }
    let violations = runtime.block_on(stress::check(&setup, &world, &histories));
    stress::report("postgres", &histories, &violations);
    eprintln!(
        "postgres: {WRITERS} writer processes x {OPS} ops in {:?}",
        started.elapsed()
    );
}
