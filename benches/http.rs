//! The HTTP API over loopback (issue: the product's HTTP API): a
//! gateway-token-authenticated `GET /v0/agents/{id}` and an attach, against
//! a trivial axum handler served the same way, in the same run, on the
//! in-memory store (goal: the GET within 2x of the trivial handler) and on
//! SQLite (reported).
//!
//! cargo bench --bench http --features http,sqlite

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::http::{self, ApiKeys};
use agent_vault::store::{MemoryStore, SqliteStore, Store};
use agent_vault::{Kind, Name, SecretValue, UserId, Vault};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use serde_json::json;

const API_KEY: &str = "bench-api-key-0000000000";

/// Serves `app` on a fresh loopback port in the background.
fn serve(server: &tokio::runtime::Runtime, app: axum::Router) -> String {
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bound");
    let address = listener.local_addr().expect("an address");
    server.spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// An agent with its token and a secret not yet attached to it.
struct Fixture {
    base: String,
    agent: String,
    token: String,
    spare: String,
}

fn fixture<S: Store + 'static>(server: &tokio::runtime::Runtime, store: S) -> Fixture {
    let vault = Arc::new(Vault::new(store, Keyring::single(MasterKey::generate())));
    let user = UserId::parse("bench").expect("a user");
    let (agent, token, spare) = server.block_on(async {
        let value = |text: &str| SecretValue::parse(SecretString::from(text)).expect("a value");
        let mut targets = Vec::new();
        for i in 0..5 {
            let name = Name::parse(&format!("SECRET_{i}")).expect("a name");
            vault
                .create_item(&user, &name, Kind::Secret, value(&"v".repeat(64)))
                .await
                .expect("created");
            targets.push(agent_vault::Attachable::Item(name));
        }
        let spare = vault
            .create_item(
                &user,
                &Name::parse("SPARE").expect("a name"),
                Kind::Secret,
                value("s"),
            )
            .await
            .expect("created");
        let (agent, token) = vault
            .create_agent_with(&user, &"bench-bot".parse().unwrap(), &targets)
            .await
            .expect("an agent");
        (
            agent.id.to_string(),
            token.expose_secret().to_owned(),
            spare.id.to_string(),
        )
    });
    let keys = ApiKeys::parse(&format!("{API_KEY}=bench")).expect("keys");
    let base = serve(server, http::router(vault, keys));
    Fixture {
        base,
        agent,
        token,
        spare,
    }
}

fn bench(c: &mut Criterion) {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a server runtime");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a client runtime");
    let client = reqwest::Client::new();

    let trivial = serve(
        &server,
        axum::Router::new().route(
            "/trivial",
            axum::routing::get(|| async { axum::Json(json!({"ok": true})) }),
        ),
    );
    let memory = fixture(&server, MemoryStore::new());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite_store = server
        .block_on(SqliteStore::open(dir.path().join("bench.db")))
        .expect("opened");
    let sqlite = fixture(&server, sqlite_store);

    let mut group = c.benchmark_group("http");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    group.bench_function("trivial-axum-get", |b| {
        b.iter(|| {
            client_rt.block_on(async {
                let answer = client
                    .get(format!("{trivial}/trivial"))
                    .send()
                    .await
                    .expect("sent");
                assert!(answer.status().is_success());
                answer.bytes().await.expect("read")
            })
        })
    });

    for (label, fx) in [("memory", &memory), ("sqlite", &sqlite)] {
        let url = format!("{}/v0/agents/{}", fx.base, fx.agent);
        group.bench_function(format!("{label}/gateway-get-agent"), |b| {
            b.iter(|| {
                client_rt.block_on(async {
                    let answer = client
                        .get(&url)
                        .bearer_auth(&fx.token)
                        .send()
                        .await
                        .expect("sent");
                    assert!(answer.status().is_success());
                    answer.bytes().await.expect("read")
                })
            })
        });
        let attach = format!("{}/v0/agents/{}/secrets", fx.base, fx.agent);
        let detach = format!("{}/v0/agents/{}/secrets/{}", fx.base, fx.agent, fx.spare);
        group.bench_function(format!("{label}/gateway-attach"), |b| {
            // Only the attach is timed; the detach that undoes it is not.
            b.iter_custom(|iterations| {
                client_rt.block_on(async {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let start = Instant::now();
                        let answer = client
                            .post(&attach)
                            .bearer_auth(&fx.token)
                            .json(&json!({"secretIds": [fx.spare]}))
                            .send()
                            .await
                            .expect("sent");
                        assert!(answer.status().is_success());
                        answer.bytes().await.expect("read");
                        spent += start.elapsed();
                        let undone = client
                            .delete(&detach)
                            .bearer_auth(&fx.token)
                            .send()
                            .await
                            .expect("sent");
                        assert!(undone.status().is_success());
                        undone.bytes().await.expect("read");
                    }
                    spent
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
