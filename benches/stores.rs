//! Vault operations on SQLite and PostgreSQL against a baseline of one raw
//! single-row query through the same driver and pool, plus the store round
//! trips each operation makes.
//!
//! ```text
//! cargo bench --bench stores --features sqlite,postgres
//! ```
//!
//! It also lists one user's 100 items with 1,000 and then 100,000 other
//! users' records in the table (written straight into it, one multi-row
//! `INSERT` per 1,000 rows), both sizes in one run, prints the ratio (goal:
//! within 1.2x) and the query plan, and checks on SQLite that the list
//! searches the primary key by its `(user_id, kind)` prefix:
//!
//! ```text
//! cargo bench --bench stores --features sqlite,postgres -- list-100-of-one-user
//! ```
//!
//! The PostgreSQL server is a throwaway one on a Unix socket (the tests'
//! helper), tuned for tests (`fsync = off`), so its figures show the
//! library's and the protocol's costs, not a disk's. SQLite runs on a file
//! in WAL mode with `synchronous = FULL`.

#[path = "../tests/support/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{
    PostgresStore, Record, RecordKey, RecordKind, SqliteStore, Store, StoreError, Write,
};
use agent_vault::{AgentId, Attachable, Kind, Name, SecretValue, UserId, Vault};
use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use tokio::runtime::Runtime;

/// Counts the store calls (round trips) and the writes per commit.
#[derive(Default)]
struct Counters {
    get: AtomicU64,
    get_many: AtomicU64,
    list: AtomicU64,
    commit: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    fn reset(&self) {
        for c in [
            &self.get,
            &self.get_many,
            &self.list,
            &self.commit,
            &self.writes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> [u64; 5] {
        [
            &self.get,
            &self.get_many,
            &self.list,
            &self.commit,
            &self.writes,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A wrapper counting every call into the store it wraps.
struct Counting<S> {
    inner: S,
    counters: std::sync::Arc<Counters>,
}

#[async_trait]
impl<S: Store> Store for Counting<S> {
    async fn get(&self, key: &RecordKey) -> Result<Option<Record>, StoreError> {
        self.counters.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
        self.counters.get_many.fetch_add(1, Ordering::Relaxed);
        self.inner.get_many(keys).await
    }

    async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
        self.counters.list.fetch_add(1, Ordering::Relaxed);
        self.inner.list(user, kind).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.users().await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.counters.commit.fetch_add(1, Ordering::Relaxed);
        self.counters
            .writes
            .fetch_add(writes.len() as u64, Ordering::Relaxed);
        self.inner.commit(writes).await
    }
}

/// The raw single-row query the operations are compared with.
type Baseline = Box<dyn Fn(&Runtime, &RecordKey)>;

/// One backend's vault, a user with an agent holding 50 secrets, and its
/// baseline query.
struct Setup {
    name: &'static str,
    vault: Vault<Counting<Box<dyn Store>>>,
    counters: std::sync::Arc<Counters>,
    user: UserId,
    agent50: AgentId,
    probe: RecordKey,
    baseline: Baseline,
    next: AtomicU64,
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).expect("value")
}

impl Setup {
    fn new(
        runtime: &Runtime,
        name: &'static str,
        store: Box<dyn Store>,
        baseline: Baseline,
    ) -> Self {
        let counters = std::sync::Arc::new(Counters::default());
        let vault = Vault::new(
            Counting {
                inner: store,
                counters: counters.clone(),
            },
            Keyring::single(MasterKey::generate()),
        );
        let user =
            UserId::parse(&format!("bench-{}", uuid::Uuid::new_v4().simple())).expect("user");
        let agent50 = runtime.block_on(async {
            let (agent, _) = vault
                .create_agent(&user, &"fifty".parse().unwrap())
                .await
                .expect("agent");
            let mut targets = Vec::new();
            for i in 0..50 {
                let item = Name::parse(&format!("SECRET_{i:02}")).expect("name");
                vault
                    .create_item(&user, &item, Kind::Secret, value(&format!("value {i}")))
                    .await
                    .expect("create");
                targets.push(Attachable::Item(item));
            }
            vault
                .attach(&user, agent.id, &targets)
                .await
                .expect("attach");
            agent.id
        });
        let probe = RecordKey::new(&user, RecordKind::Agent, agent50.to_string());
        Self {
            name,
            vault,
            counters,
            user,
            agent50,
            probe,
            baseline,
            next: AtomicU64::new(0),
        }
    }

    fn fresh_name(&self) -> Name {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Name::parse(&format!("ITEM_{n}")).expect("name")
    }

    async fn create_secret(&self) {
        let name = self.fresh_name();
        self.vault
            .create_item(&self.user, &name, Kind::Secret, value("a secret value"))
            .await
            .expect("create");
    }

    /// An item and an agent to attach it to (untimed preparation): a new
    /// agent every 25 attaches keeps the agent's record small.
    async fn prepare_attach(&self, agent: &mut Option<(AgentId, u32)>) -> (AgentId, Name) {
        let name = self.fresh_name();
        self.vault
            .create_item(&self.user, &name, Kind::Secret, value("to attach"))
            .await
            .expect("create");
        let id = match agent {
            Some((id, n)) if *n < 25 => {
                *n += 1;
                *id
            }
            _ => {
                let (info, _) = self
                    .vault
                    .create_agent(&self.user, &"attach target".parse().unwrap())
                    .await
                    .expect("agent");
                *agent = Some((info.id, 1));
                info.id
            }
        };
        (id, name)
    }

    async fn attach(&self, agent: AgentId, name: Name) {
        self.vault
            .attach(&self.user, agent, &[Attachable::Item(name)])
            .await
            .expect("attach");
    }

    async fn environment(&self) {
        let (env, _) = self
            .vault
            .environment(&self.user, self.agent50)
            .await
            .expect("environment");
        assert_eq!(env.len(), 51);
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_backend(c: &mut Criterion, runtime: &Runtime, setup: &Setup) {
    let mut group = c.benchmark_group(setup.name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("baseline: raw single-row select", |b| {
        b.iter(|| (setup.baseline)(runtime, &setup.probe))
    });
    group.bench_function("create secret", |b| {
        b.iter(|| runtime.block_on(setup.create_secret()))
    });
    group.bench_function("attach", |b| {
        b.iter_custom(|iters| {
            let mut agent = None;
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (id, name) = runtime.block_on(setup.prepare_attach(&mut agent));
                let started = Instant::now();
                runtime.block_on(setup.attach(id, name));
                total += started.elapsed();
            }
            total
        })
    });
    group.bench_function("environment of 50 items", |b| {
        b.iter(|| runtime.block_on(setup.environment()))
    });
    group.finish();
}

/// Mean latency of `op` over `n` runs after a warm-up, and the store calls
/// per run.
fn measure(setup: &Setup, n: u32, mut op: impl FnMut() -> Duration) -> (Duration, [f64; 5]) {
    for _ in 0..5 {
        op();
    }
    setup.counters.reset();
    let mut total = Duration::ZERO;
    for _ in 0..n {
        total += op();
    }
    let counts = setup.counters.snapshot().map(|c| c as f64 / f64::from(n));
    (total / n, counts)
}

fn summary(runtime: &Runtime, setup: &Setup) {
    const N: u32 = 100;
    let timed = |f: &dyn Fn()| {
        let started = Instant::now();
        f();
        started.elapsed()
    };
    let (baseline, _) = measure(setup, N, || {
        timed(&|| (setup.baseline)(runtime, &setup.probe))
    });
    let (create, create_calls) = measure(setup, N, || {
        timed(&|| runtime.block_on(setup.create_secret()))
    });
    let mut agent = None;
    let mut attach_total = Duration::ZERO;
    let mut attach_calls = [0.0; 5];
    for round in 0..N + 5 {
        let (id, name) = runtime.block_on(setup.prepare_attach(&mut agent));
        if round == 5 {
            setup.counters.reset();
            attach_total = Duration::ZERO;
        }
        let before = setup.counters.snapshot();
        let started = Instant::now();
        runtime.block_on(setup.attach(id, name));
        attach_total += started.elapsed();
        if round >= 5 {
            let after = setup.counters.snapshot();
            for i in 0..5 {
                attach_calls[i] += (after[i] - before[i]) as f64 / f64::from(N);
            }
        }
    }
    let attach = attach_total / N;
    let (env, env_calls) = measure(setup, N, || {
        timed(&|| runtime.block_on(setup.environment()))
    });
    println!();
    println!(
        "== {}: mean of {N} runs; store calls per operation (get / get_many / list / commit; writes per commit; SQL statements = writes + BEGIN + COMMIT)",
        setup.name
    );
    println!("  baseline raw select      {baseline:>10.1?}   1.0x");
    for (label, time, calls) in [
        ("create secret", create, create_calls),
        ("attach", attach, attach_calls),
        ("environment (50 items)", env, env_calls),
    ] {
        let [get, get_many, list, commit, writes] = calls;
        let per_commit = if commit > 0.0 { writes / commit } else { 0.0 };
        println!(
            "  {label:<24} {time:>10.1?} {:>6.1}x   get {get:.1} / get_many {get_many:.1} / list {list:.1} / commit {commit:.1}; {per_commit:.1} writes per commit; {:.1} round trips",
            time.as_secs_f64() / baseline.as_secs_f64(),
            get + get_many
                + list
                + if commit > 0.0 {
                    commit * (2.0 + per_commit)
                } else {
                    0.0
                },
        );
    }
}

/// Other users' records, written straight into the table: `count` rows
/// from row `start` on, one multi-row `INSERT` per 1,000 rows, all in one
/// transaction.
type Filler = Box<dyn Fn(&Runtime, u64, u64)>;

/// The query plan of a list of one user's items, as the backend explains it.
type Explain = Box<dyn Fn(&Runtime, &UserId) -> String>;

/// The `VALUES` rows of filler records `start..start + count`, in chunks of
/// 1,000: one record each of as many other users, whose ids (UUIDs) sort
/// before and after the measured user's alike.
fn filler_chunks(start: u64, count: u64, body: &str) -> Vec<String> {
    let rows: Vec<String> = (start..start + count)
        .map(|i| {
            let user = uuid::Uuid::from_u64_pair(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i);
            let id = uuid::Uuid::from_u64_pair(i, i);
            format!("('{}', 'item', '{id}', 1, {body})", user.simple())
        })
        .collect();
    rows.chunks(1000).map(|chunk| chunk.join(", ")).collect()
}

/// Listing one user's 100 items with 1,000 and then 100,000 other users'
/// records in the table: the cost must not grow with other users' data
/// (goal: within 1.2x). Prints the two means, their ratio and the plan.
fn bench_isolation(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    store: Box<dyn Store>,
    keyring: Keyring,
    fill: Filler,
    explain: Explain,
) {
    // The keyring of the vault that shares the table: a store has one.
    let vault = Vault::new(store, keyring);
    let user = UserId::parse(&format!("list-{}", uuid::Uuid::new_v4().simple())).expect("user");
    let text: String = (0..100)
        .map(|i| format!("ITEM_{i:03}=value {i}\n"))
        .collect();
    runtime
        .block_on(vault.import_dotenv(&user, text.as_bytes(), &Default::default()))
        .expect("import 100 items");
    let list = || {
        let items = runtime.block_on(vault.items(&user)).expect("list");
        assert_eq!(items.len(), 100);
    };
    // The median, not the mean: the machine is shared, and one stalled run
    // must not decide the ratio.
    let median = |runs: usize| {
        for _ in 0..10 {
            list();
        }
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                list();
                started.elapsed()
            })
            .collect();
        times.sort();
        times[runs / 2]
    };
    let mut group = c.benchmark_group(format!("{name}-list-100-of-one-user"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut means = Vec::new();
    let mut filled = 0;
    for others in [1_000u64, 100_000] {
        let started = Instant::now();
        fill(runtime, filled, others - filled);
        filled = others;
        let setup = started.elapsed();
        let plan = explain(runtime, &user);
        group.bench_function(format!("with {others} other users' records"), |b| {
            b.iter(&list)
        });
        means.push(median(200));
        println!("  {name}: {others} other records written in {setup:.1?}; plan: {plan}");
    }
    group.finish();
    println!(
        "== {name}: list of one user's 100 items, median of 200: {:.1?} with 1,000 other users' records, {:.1?} with 100,000: {:.2}x (goal within 1.2x)",
        means[0],
        means[1],
        means[1].as_secs_f64() / means[0].as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let runtime = runtime();

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = runtime
        .block_on(SqliteStore::open(dir.path().join("bench.db")))
        .expect("open SQLite");
    let pool = sqlite.pool().clone();
    let sqlite_baseline: Baseline = Box::new(move |runtime, key| {
        runtime.block_on(async {
            let body: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT body FROM agent_vault_records WHERE user_id = ? AND kind = ? AND id = ? LIMIT 1",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .fetch_optional(&pool)
            .await
            .expect("select");
            assert!(body.is_some());
        })
    });
    let sqlite = Setup::new(&runtime, "sqlite", Box::new(sqlite), sqlite_baseline);
    bench_backend(c, &runtime, &sqlite);

    let path = dir.path().join("bench.db");
    let second = runtime
        .block_on(SqliteStore::open(&path))
        .expect("open SQLite again");
    let pool = second.pool().clone();
    let fill_pool = pool.clone();
    let sqlite_fill: Filler = Box::new(move |runtime, start, count| {
        runtime.block_on(async {
            let mut tx = fill_pool.begin().await.expect("begin");
            for values in filler_chunks(start, count, "zeroblob(100)") {
                let sql = format!(
                    "INSERT INTO agent_vault_records (user_id, kind, id, version, body) VALUES {values}"
                );
                sqlx::query(&sql).execute(&mut *tx).await.expect("insert");
            }
            tx.commit().await.expect("commit");
            // One transaction this large leaves a large write-ahead log that
            // every later read consults; in service, the automatic
            // checkpoint (every 1,000 pages) keeps it small.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&fill_pool)
                .await
                .expect("checkpoint");
        })
    });
    let sqlite_explain: Explain = Box::new(move |runtime, user| {
        runtime.block_on(async {
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
                "EXPLAIN QUERY PLAN SELECT id, version, body FROM agent_vault_records WHERE user_id = ? AND kind = ?",
            )
            .bind(user.as_str())
            .bind("item")
            .fetch_all(&pool)
            .await
            .expect("explain");
            let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
            let plan = plan.join("; ");
            assert!(
                plan.contains("PRIMARY KEY (user_id=? AND kind=?)"),
                "a list must search the primary key by its prefix: {plan}"
            );
            plan
        })
    });
    bench_isolation(
        c,
        &runtime,
        "sqlite",
        Box::new(second),
        sqlite.vault.keyring(),
        sqlite_fill,
        sqlite_explain,
    );

    let server = pg::PgServer::start();
    let pool = runtime.block_on(server.pool(8));
    let postgres = PostgresStore::new(pool.clone());
    runtime.block_on(postgres.migrate()).expect("migrate");
    let pg_baseline: Baseline = Box::new(move |runtime, key| {
        runtime.block_on(async {
            let body: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT body FROM agent_vault_records WHERE user_id = $1 AND kind = $2 AND id = $3 LIMIT 1",
            )
            .bind(key.user.as_str())
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .fetch_optional(&pool)
            .await
            .expect("select");
            assert!(body.is_some());
        })
    });
    let postgres = Setup::new(&runtime, "postgres", Box::new(postgres), pg_baseline);
    bench_backend(c, &runtime, &postgres);

    let list_pool = runtime.block_on(server.pool(8));
    let fill_pool = list_pool.clone();
    let pg_fill: Filler = Box::new(move |runtime, start, count| {
        runtime.block_on(async {
            let mut tx = fill_pool.begin().await.expect("begin");
            for values in filler_chunks(start, count, "decode(repeat('00', 100), 'hex')") {
                let sql = format!(
                    "INSERT INTO agent_vault_records (user_id, kind, id, version, body) VALUES {values}"
                );
                sqlx::query(&sql).execute(&mut *tx).await.expect("insert");
            }
            tx.commit().await.expect("commit");
            // Fresh statistics, as autovacuum would gather them in service.
            sqlx::query("ANALYZE agent_vault_records")
                .execute(&fill_pool)
                .await
                .expect("analyze");
        })
    });
    let explain_pool = list_pool.clone();
    let pg_explain: Explain = Box::new(move |runtime, user| {
        runtime.block_on(async {
            // The user id is generated here (hex), so inlining it is safe;
            // EXPLAIN of a statement with parameters is not portable.
            let rows: Vec<(String,)> = sqlx::query_as(&format!(
                "EXPLAIN SELECT id, version, body FROM agent_vault_records WHERE user_id = '{}' AND kind = 'item'",
                user.as_str()
            ))
            .fetch_all(&explain_pool)
            .await
            .expect("explain");
            let plan: Vec<String> = rows.into_iter().map(|r| r.0.trim().to_owned()).collect();
            plan.join("; ")
        })
    });
    bench_isolation(
        c,
        &runtime,
        "postgres",
        Box::new(PostgresStore::new(list_pool)),
        postgres.vault.keyring(),
        pg_fill,
        pg_explain,
    );

    summary(&runtime, &sqlite);
    summary(&runtime, &postgres);
    drop(postgres);
    drop(server);
}

criterion_group!(stores, benches);
criterion_main!(stores);
