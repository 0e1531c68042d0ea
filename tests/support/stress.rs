//! The concurrency workload and its checker, shared by every backend's
//! stress test.
//!
//! Writers run random operations through the public [`Vault`] API on a few
//! shared users, agents and item names, and record every operation that
//! succeeded (with the versions it returned). [`check`] then reads the final
//! state and verifies the invariants against the histories:
//!
//! - no deleted item attached: every item or connection an agent lists
//!   exists and lists the agent back, and every agent an item or connection
//!   lists exists and lists it back;
//! - never two credentials for one provider on one agent;
//! - no lost update: an item's final version is 1 + the updates recorded for
//!   that incarnation (item id), and no two updates returned one version;
//! - every record opens: `environment()` succeeds for every agent, holds
//!   exactly the attached variables plus the gateway token, and each value
//!   is the one written at the item's final version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use agent_vault::store::{Store, StoreError};
use agent_vault::{
    AgentId, Attachable, ConnectionId, Credential, Error, Kind, Name, Provider, SecretValue,
    UserId, Vault,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

/// The shared users and agents the writers work on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct World {
    /// Per user, its agents.
    pub users: Vec<(String, Vec<String>)>,
    /// The item names writers pick from.
    pub names: Vec<String>,
    /// The providers writers connect.
    pub providers: Vec<Provider>,
}

impl World {
    /// Creates `users` users with `agents` agents each through `vault`.
    pub async fn create<S: Store>(
        vault: &Vault<S>,
        users: usize,
        agents: usize,
        names: &[&str],
        providers: &[Provider],
    ) -> World {
        let mut out = Vec::new();
        for u in 0..users {
            let user = UserId::parse(&format!("stress-{u}-{}", uuid::Uuid::new_v4().simple()))
                .expect("user id");
            let mut ids = Vec::new();
            for a in 0..agents {
                let (info, _token) = vault
                    .create_agent(&user, &format!("agent {a}").parse().unwrap())
                    .await
                    .expect("create agent");
                ids.push(info.id.to_string());
            }
            out.push((user.as_str().to_owned(), ids));
        }
        World {
            users: out,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            providers: providers.to_vec(),
        }
    }

    fn user(&self, index: usize) -> (UserId, Vec<AgentId>) {
        let (user, agents) = &self.users[index];
        (
            UserId::parse(user).expect("user id"),
            agents
                .iter()
                .map(|a| AgentId::parse(a).expect("agent id"))
                .collect(),
        )
    }
}

/// What a successful operation did, as far as the checker needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// An item was created (version 1) with this value.
    Created {
        user: String,
        id: String,
        value: String,
    },
    /// An item was updated to this version with this value.
    Updated {
        user: String,
        id: String,
        version: u64,
        value: String,
    },
    /// A provider was connected with this API key.
    Connected {
        user: String,
        connection: String,
        key: String,
    },
    /// Another operation succeeded.
    Other { op: String },
}

/// One writer's record: successful events and the outcome counts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct History {
    /// Successful operations, in order.
    pub events: Vec<Event>,
    /// `op: outcome` → count, for the report.
    pub outcomes: BTreeMap<String, usize>,
    /// Errors that no operation may end with (store faults, failed
    /// decryption, ...), as text.
    pub unexpected: Vec<String>,
}

impl History {
    fn outcome(&mut self, op: &str, result: &Result<(), Error>) {
        let label = match result {
            Ok(()) => "ok",
            Err(Error::AlreadyExists { .. }) => "already-exists",
            Err(Error::Attached { .. }) => "attached",
            Err(Error::Contention { .. }) => "contention",
            Err(Error::DuplicateVariable { .. }) => "duplicate-variable",
            Err(Error::NotFound { .. }) => "not-found",
            Err(Error::ProviderConflict { .. }) => "provider-conflict",
            Err(other) => {
                self.unexpected.push(format!("{op}: {other:?}"));
                "UNEXPECTED"
            }
        };
        *self.outcomes.entry(format!("{op}: {label}")).or_default() += 1;
    }
}

/// Merged outcome counts of several histories.
pub fn outcome_totals(histories: &[History]) -> BTreeMap<String, usize> {
    let mut totals = BTreeMap::new();
    for history in histories {
        for (k, v) in &history.outcomes {
            *totals.entry(k.clone()).or_default() += v;
        }
    }
    totals
}

fn secret(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).expect("value")
}

/// Runs `ops` random operations as writer number `writer`.
pub async fn run_writer<S: Store>(
    vault: &Vault<S>,
    world: &World,
    writer: usize,
    ops: usize,
    seed: u64,
) -> History {
    let mut rng = StdRng::seed_from_u64(seed ^ (writer as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut history = History::default();
    for i in 0..ops {
        let (user, agents) = world.user(rng.gen_range(0..world.users.len()));
        let name = Name::parse(&world.names[rng.gen_range(0..world.names.len())]).expect("name");
        let provider = world.providers[rng.gen_range(0..world.providers.len())];
        let value = format!("w{writer}-op{i}-{}", rng.r#gen::<u32>());
        let roll = rng.gen_range(0..100);
        let (op, result) = if roll < 18 {
            let kind = if rng.gen_bool(0.5) {
                Kind::Secret
            } else {
                Kind::Variable
            };
            let result = vault.create_item(&user, &name, kind, secret(&value)).await;
            let result = result.map(|info| {
                history.events.push(Event::Created {
                    user: user.to_string(),
                    id: info.id.to_string(),
                    value: value.clone(),
                });
            });
            ("create", result)
        } else if roll < 43 {
            let result = vault.update_item(&user, &name, secret(&value)).await;
            let result = result.map(|info| {
                history.events.push(Event::Updated {
                    user: user.to_string(),
                    id: info.id.to_string(),
                    version: info.version,
                    value: value.clone(),
                });
            });
            ("update", result)
        } else if roll < 53 {
            (
                "delete",
                vault
                    .delete_item(&user, &name)
                    .await
                    .map(|()| other("delete", &mut history)),
            )
        } else if roll < 57 {
            let id = ConnectionId::default_for(provider);
            let result = vault.delete_connection(&user, id).await;
            (
                "disconnect",
                result.map(|()| other("disconnect", &mut history)),
            )
        } else if roll < 65 {
            let key = format!("sk-{value}");
            let credential = Credential::api_key(
                provider,
                SecretValue::parse(SecretString::from(key.as_str())).unwrap(),
            )
            .unwrap();
            let result = vault
                .create_connection(&user, &credential)
                .await
                .map(|info| {
                    history.events.push(Event::Connected {
                        user: user.to_string(),
                        connection: info.id.to_string(),
                        key: key.clone(),
                    });
                });
            ("connect", result)
        } else {
            let agent = agents[rng.gen_range(0..agents.len())];
            let target = if rng.gen_bool(0.7) {
                Attachable::Item(name)
            } else {
                Attachable::Connection(ConnectionId::default_for(provider))
            };
            if roll >= 95 {
                let result = vault.environment(&user, agent).await;
                ("environment", result.map(|_| ()))
            } else if roll < 85 {
                let mut targets = vec![target];
                if rng.gen_bool(0.3) {
                    let second = &world.names[rng.gen_range(0..world.names.len())];
                    let second = Attachable::Item(Name::parse(second).expect("name"));
                    if !targets.contains(&second) {
                        targets.push(second);
                    }
                }
                let result = vault.attach(&user, agent, &targets).await;
                ("attach", result.map(|_| other("attach", &mut history)))
            } else {
                let result = vault.detach(&user, agent, &[target]).await;
                ("detach", result.map(|_| other("detach", &mut history)))
            }
        };
        history.outcome(op, &result);
    }
    history
}

fn other(op: &str, history: &mut History) {
    history.events.push(Event::Other { op: op.to_owned() });
}

/// A broken invariant.
#[derive(Clone, Debug)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the final state reachable through `vault` against the writers'
/// histories; returns every violation found (empty when all is well).
pub async fn check<S: Store>(
    vault: &Vault<S>,
    world: &World,
    histories: &[History],
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut bad = |text: String| violations.push(Violation(text));

    for history in histories {
        for unexpected in &history.unexpected {
            bad(format!("an operation failed unexpectedly: {unexpected}"));
        }
    }

    // Per item incarnation: the value at each version, and update counts.
    let mut values: HashMap<(String, u64), String> = HashMap::new();
    let mut updates: HashMap<String, usize> = HashMap::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut keys: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for history in histories {
        for event in &history.events {
            match event {
                Event::Created { id, value, .. } => {
                    created.insert(id.clone());
                    values.insert((id.clone(), 1), value.clone());
                }
                Event::Updated {
                    id, version, value, ..
                } => {
                    *updates.entry(id.clone()).or_default() += 1;
                    if values
                        .insert((id.clone(), *version), value.clone())
                        .is_some()
                    {
                        bad(format!(
                            "lost update: two writes of item {id} both returned version {version}"
                        ));
                    }
                }
                Event::Connected {
                    user,
                    connection,
                    key,
                } => {
                    keys.entry((user.clone(), connection.clone()))
                        .or_default()
                        .insert(key.clone());
                }
                Event::Other { .. } => {}
            }
        }
    }

    for (user_text, _) in &world.users {
        let user = UserId::parse(user_text).expect("user id");
        let items = match vault.items(&user).await {
            Ok(items) => items,
            Err(e) => {
                bad(format!("{user}: listing items failed: {e:?}"));
                continue;
            }
        };
        let connections = match vault.connections(&user).await {
            Ok(c) => c,
            Err(e) => {
                bad(format!("{user}: listing connections failed: {e:?}"));
                continue;
            }
        };
        let agents = match vault.agents(&user).await {
            Ok(a) => a,
            Err(e) => {
                bad(format!("{user}: listing agents failed: {e:?}"));
                continue;
            }
        };
        let agent_ids: BTreeSet<AgentId> = agents.iter().map(|a| a.id).collect();

        for item in &items {
            let id = item.id.to_string();
            if !created.contains(&id) {
                bad(format!(
                    "{user}: item {} ({id}) was never created",
                    item.name
                ));
            }
            let expected = 1 + updates.get(&id).copied().unwrap_or(0) as u64;
            if item.version != expected {
                bad(format!(
                    "lost update: item {} ({id}) is at version {} after 1 create and {} updates",
                    item.name,
                    item.version,
                    expected - 1
                ));
            }
            for agent in &item.agents {
                let listed = agents
                    .iter()
                    .find(|a| a.id == *agent)
                    .is_some_and(|a| a.attached.iter().any(|l| l == item.name.as_str()));
                if !listed {
                    bad(format!(
                        "{user}: item {} lists agent {agent}, which does not list it back",
                        item.name
                    ));
                }
                if !agent_ids.contains(agent) {
                    bad(format!("{user}: item {} lists a missing agent", item.name));
                }
            }
        }
        for connection in &connections {
            for agent in &connection.agents {
                let listed = agents
                    .iter()
                    .find(|a| a.id == *agent)
                    .is_some_and(|a| a.attached.iter().any(|l| *l == connection.id.to_string()));
                if !listed {
                    bad(format!(
                        "{user}: connection {} lists agent {agent}, which does not list it back",
                        connection.id
                    ));
                }
            }
        }

        for agent in &agents {
            let mut providers: BTreeMap<Provider, Vec<&str>> = BTreeMap::new();
            let mut expected_vars: BTreeMap<String, Option<String>> = BTreeMap::new();
            let labels: BTreeSet<&String> = agent.attached.iter().collect();
            if labels.len() != agent.attached.len() {
                bad(format!("{user}: agent {} lists a target twice", agent.id));
            }
            for label in &agent.attached {
                if let Ok(id) = ConnectionId::parse(label) {
                    providers.entry(id.provider()).or_default().push(label);
                    match connections.iter().find(|c| c.id == id) {
                        Some(c) if c.agents.contains(&agent.id) => {
                            for var in &c.variables {
                                expected_vars.insert(var.clone(), None);
                            }
                        }
                        Some(_) => bad(format!(
                            "{user}: agent {} has {label} attached, which does not list it",
                            agent.id
                        )),
                        None => bad(format!(
                            "deleted item attached: agent {} has missing connection {label}",
                            agent.id
                        )),
                    }
                } else {
                    if let Some(provider) = Provider::owning_variable(label) {
                        providers.entry(provider).or_default().push(label);
                    }
                    match items.iter().find(|i| i.name.as_str() == label) {
                        Some(item) if item.agents.contains(&agent.id) => {
                            let value = values.get(&(item.id.to_string(), item.version)).cloned();
                            if value.is_none() {
                                bad(format!(
                                    "{user}: no recorded write gave item {label} version {}",
                                    item.version
                                ));
                            }
                            expected_vars.insert(label.clone(), value);
                        }
                        Some(_) => bad(format!(
                            "deleted item attached: agent {} has {label} attached, but the item \
                             named so does not list it (the attached incarnation is gone)",
                            agent.id
                        )),
                        None => bad(format!(
                            "deleted item attached: agent {} has missing item {label}",
                            agent.id
                        )),
                    }
                }
            }
            for (provider, labels) in &providers {
                if labels.len() > 1 {
                    bad(format!(
                        "two credentials for {provider} on agent {}: {labels:?}",
                        agent.id
                    ));
                }
            }
            match vault.environment(&user, agent.id).await {
                Ok((env, _receipt)) => {
                    let token_var = vault.config().gateway_token_var.as_str().to_owned();
                    let mut names: BTreeSet<String> = expected_vars.keys().cloned().collect();
                    names.insert(token_var);
                    let got: BTreeSet<String> = env.names().map(str::to_owned).collect();
                    if got != names {
                        bad(format!(
                            "{user}: agent {} environment has {got:?}, attachments say {names:?}",
                            agent.id
                        ));
                    }
                    for (name, value) in &expected_vars {
                        let actual = env.get(name).map(|v| v.expose_secret().to_owned());
                        match value {
                            Some(value) if actual.as_deref() != Some(value.as_str()) => {
                                bad(format!(
                                    "{user}: agent {} gets a value for {name} that is not the \
                                     one written at its current version",
                                    agent.id
                                ))
                            }
                            _ => {}
                        }
                        if value.is_none() {
                            // A connection variable: one of the keys ever
                            // connected for it.
                            let known = connections
                                .iter()
                                .filter(|c| c.variables.contains(name))
                                .any(|c| {
                                    keys.get(&(user_text.clone(), c.id.to_string()))
                                        .is_some_and(|ks| {
                                            actual.as_ref().is_some_and(|a| ks.contains(a))
                                        })
                                });
                            if !known {
                                bad(format!(
                                    "{user}: agent {} gets a key for {name} no writer connected",
                                    agent.id
                                ));
                            }
                        }
                    }
                }
                Err(e) => bad(format!(
                    "{user}: agent {} does not open: environment() failed with {e:?}",
                    agent.id
                )),
            }
        }
    }
    violations
}

/// How many concurrent writers each backend's stress test runs.
pub const WRITERS: usize = 8;
/// Operations per writer.
pub const OPS: usize = 500;
/// Item names: few, so writers collide; one is OpenAI's variable, so it
/// competes with the OpenAI connection for the provider slot.
pub const NAMES: &[&str] = &[
    "OPENAI_API_KEY",
    "DATABASE_URL",
    "FEATURE_FLAG",
    "API_TOKEN",
];
/// Providers writers connect.
pub const PROVIDERS: &[Provider] = &[Provider::OpenAi, Provider::Anthropic];

/// The seed of this run: `STRESS_SEED` if set, else random (printed, so a
/// failure can be replayed).
pub fn seed() -> u64 {
    let seed = std::env::var("STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("stress seed: {seed} (set STRESS_SEED to replay)");
    seed
}

/// Runs `writers` writers at once on `threads` threads, each thread with its
/// own tokio runtime running its share of the writers as local tasks, each
/// writer with its own vault (made by `make`, so each can have its own
/// connections); collects the histories in writer order.
///
/// Threads and local tasks rather than `tokio::spawn`: the futures of the
/// vault's writing methods are not `Send` (see the branch report).
pub fn run_writer_threads<S, F, Fut>(
    threads: usize,
    writers: usize,
    world: &World,
    ops: usize,
    seed: u64,
    make: F,
) -> Vec<History>
where
    S: Store + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Vault<S>> + 'static,
{
    let make = std::sync::Arc::new(make);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let world = world.clone();
            let make = make.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("writer runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async {
                    let mine: Vec<usize> = (thread..writers).step_by(threads).collect();
                    let mut vaults = Vec::new();
                    for &writer in &mine {
                        vaults.push((writer, std::rc::Rc::new(make(writer).await)));
                    }
                    barrier.wait();
                    let tasks: Vec<_> = vaults
                        .into_iter()
                        .map(|(writer, vault)| {
                            let world = world.clone();
                            let task = tokio::task::spawn_local(async move {
                                run_writer(&vault, &world, writer, ops, seed).await
                            });
                            (writer, task)
                        })
                        .collect();
                    let mut out = Vec::new();
                    for (writer, task) in tasks {
                        out.push((writer, task.await.expect("a writer panicked")));
                    }
                    out
                })
            })
        })
        .collect();
    let mut histories: Vec<(usize, History)> = handles
        .into_iter()
        .flat_map(|t| t.join().expect("a writer thread panicked"))
        .collect();
    histories.sort_by_key(|(writer, _)| *writer);
    histories.into_iter().map(|(_, h)| h).collect()
}

/// A multi-thread runtime for a stress test's setup and check.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Violation counts by kind, for reports.
pub fn violation_kinds(violations: &[Violation]) -> BTreeMap<&'static str, usize> {
    let mut kinds = BTreeMap::new();
    for v in violations {
        let kind = [
            "lost update",
            "deleted item attached",
            "two credentials",
            "does not list it back",
            "does not open",
            "environment has",
            "not the one written",
            "no recorded write",
            "failed unexpectedly",
        ]
        .into_iter()
        .find(|k| v.0.contains(k))
        .unwrap_or("other");
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// Prints the outcome counts and violations, then fails if there is any
/// violation.
pub fn report(backend: &str, histories: &[History], violations: &[Violation]) {
    eprintln!("{backend}: outcomes of {} writers:", histories.len());
    for (outcome, count) in outcome_totals(histories) {
        eprintln!("  {outcome}: {count}");
    }
    for violation in violations.iter().take(20) {
        eprintln!("  VIOLATION {violation}");
    }
    assert!(
        violations.is_empty(),
        "{backend}: {} invariant violations (first: {})",
        violations.len(),
        violations[0]
    );
}
