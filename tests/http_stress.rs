//! Two `agent-vault serve` replicas on one PostgreSQL database, eight
//! concurrent clients spread over both, each creating, updating, attaching,
//! detaching and deleting at random. At the end the invariants hold when
//! read back through the API: nothing attached was deleted, no agent holds
//! two credentials for one provider, and names are unique.

#[path = "http/server.rs"]
mod server;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use server::{Client, Db, Server, unique_user};

const CLIENTS: usize = 8;
const STEPS: usize = 40;

/// Names drawn from a small pool so that clients collide: three of them
/// carry the OpenAI credential, so attaching two is a conflict.
const NAMES: [&str; 8] = [
    "OPENAI_API_KEY",
    "OPENAI_OAUTH_TOKEN",
    "openai_api_key",
    "ANTHROPIC_API_KEY",
    "TELEGRAM_BOT_TOKEN",
    "SLACK_BOT_TOKEN",
    "SITE_URL",
    "LOG_LEVEL",
];

/// What the clients have seen exist (it may be gone by the time it is used).
#[derive(Default)]
struct Seen {
    secrets: Vec<String>,
    agents: Vec<String>,
}

fn pick(rng: &mut StdRng, list: &[String]) -> Option<String> {
    list.choose(rng).cloned()
}

/// One client's random walk; returns the statuses it got per operation.
/// Each client's choices come from its own seeded generator, so a failure
/// replays the same walk (the interleaving between clients still varies).
async fn walk(client: Client, seen: Arc<Mutex<Seen>>, seed: u64) -> BTreeMap<String, usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcomes = BTreeMap::new();
    for step in 0..STEPS {
        let op = rng.gen_range(0..7);
        let (secret, agent, other) = {
            let seen = seen.lock().unwrap();
            (
                pick(&mut rng, &seen.secrets),
                pick(&mut rng, &seen.agents),
                pick(&mut rng, &seen.secrets),
            )
        };
        let (what, answer) = match (op, secret, agent) {
            (0, ..) | (_, None, _) => {
                let name = NAMES[rng.gen_range(0..NAMES.len())];
                let kind = if name.ends_with("URL") {
                    "variable"
                } else {
                    "secret"
                };
                let answer = client
                    .post(
                        "/v0/secrets",
                        json!({"name": name, "value": format!("v{step}"), "type": kind}),
                    )
                    .await;
                if answer.status == 201 {
                    let id = answer.body["secret"]["id"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().secrets.push(id);
                }
                ("create-secret", answer)
            }
            (1, Some(secret), _) => (
                "update",
                client
                    .put(
                        &format!("/v0/secrets/{secret}"),
                        json!({"value": format!("u{step}")}),
                    )
                    .await,
            ),
            (2, Some(secret), _) => (
                "delete-secret",
                client.delete(&format!("/v0/secrets/{secret}")).await,
            ),
            (3, Some(secret), _) | (_, Some(secret), None) => {
                let ids: Vec<String> = [Some(secret), other].into_iter().flatten().collect();
                let answer = client
                    .post(
                        "/v0/agents",
                        json!({"name": format!("agent-{step}"), "secretIds": ids}),
                    )
                    .await;
                if answer.status == 201 {
                    let id = answer.body["agent"]["id"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().agents.push(id);
                }
                ("create-agent", answer)
            }
            (4, Some(secret), Some(agent)) => {
                let ids: Vec<String> = [Some(secret), other].into_iter().flatten().collect();
                (
                    "attach",
                    client
                        .post(
                            &format!("/v0/agents/{agent}/secrets"),
                            json!({"secretIds": ids}),
                        )
                        .await,
                )
            }
            (5, Some(secret), Some(agent)) => (
                "detach",
                client
                    .delete(&format!("/v0/agents/{agent}/secrets/{secret}"))
                    .await,
            ),
            (_, Some(_), Some(agent)) => (
                "delete-agent",
                client.delete(&format!("/v0/agents/{agent}")).await,
            ),
        };
        let status = answer.status.as_u16();
        assert!(
            matches!(status, 200 | 201 | 404 | 409)
                || (status == 503 && answer.body["error"] == "Busy, try again"),
            "{what}: unexpected {status}: {}",
            answer.text
        );
        *outcomes.entry(format!("{what} {status}")).or_default() += 1;
    }
    outcomes
}

/// The provider a name's value is a credential for, as the vault's
/// variable table says (only the names of the pool).
fn provider_of(name: &str) -> Option<&'static str> {
    match name.to_ascii_uppercase().as_str() {
        "OPENAI_API_KEY" | "OPENAI_OAUTH_TOKEN" => Some("openai"),
        "ANTHROPIC_API_KEY" => Some("anthropic"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_behave_as_one_vault() {
    let db = Db::postgres();
    let user = unique_user("stress");
    let api_key = format!("key-{user}");
    let keys = format!("{api_key}={user}");
    let replicas = [
        Server::start(&db, Some(&db.key), &keys),
        Server::start(&db, Some(&db.key), &keys),
    ];
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for index in 0..CLIENTS {
        let client = replicas[index % 2].client(Some(&api_key));
        tasks.push(tokio::spawn(walk(client, Arc::clone(&seen), index as u64)));
    }
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (outcome, count) in task.await.unwrap() {
            *totals.entry(outcome).or_default() += count;
        }
    }
    // The walk did collide: some refusals, and plenty of successes.
    let count = |prefix: &str| -> usize {
        totals
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert!(
        count("create-secret 201") > 0 && count("create-secret 409") > 0,
        "{totals:?}"
    );
    assert!(count("create-agent 201") > 0, "{totals:?}");

    // The invariants, read through either replica.
    let client = replicas[1].client(Some(&api_key));
    let secrets = client.get("/v0/secrets").await.expect(200)["secrets"].clone();
    let secrets = secrets.as_array().unwrap();
    let names: Vec<String> = secrets
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_ascii_uppercase())
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "names are unique: {names:?}");
    let by_id: BTreeMap<&str, &Value> = secrets
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s))
        .collect();

    let agents = client.get("/v0/agents").await.expect(200)["agents"].clone();
    let mut attached_pairs = BTreeSet::new();
    for agent in agents.as_array().unwrap() {
        let id = agent["id"].as_str().unwrap();
        let detail = replicas[0]
            .client(Some(&api_key))
            .get(&format!("/v0/agents/{id}"))
            .await
            .expect(200);
        let attached = detail["agent"]["attached"].as_array().unwrap();
        assert_eq!(
            attached.len(),
            detail["secrets"].as_array().unwrap().len(),
            "every attached item exists: {detail}"
        );
        let mut providers = BTreeSet::new();
        for secret in detail["secrets"].as_array().unwrap() {
            let secret_id = secret["id"].as_str().unwrap();
            assert!(
                by_id.contains_key(secret_id),
                "an attached secret was deleted: {detail}"
            );
            if let Some(provider) = provider_of(secret["name"].as_str().unwrap()) {
                assert!(
                    providers.insert(provider),
                    "two {provider} credentials: {detail}"
                );
            }
            attached_pairs.insert((secret_id.to_owned(), id.to_owned()));
        }
    }
    // And each secret's own list of agents says the same.
    let listed_pairs: BTreeSet<(String, String)> = secrets
        .iter()
        .flat_map(|s| {
            let id = s["id"].as_str().unwrap().to_owned();
            s["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| (id.clone(), a["agentId"].as_str().unwrap().to_owned()))
        })
        .collect();
    assert_eq!(listed_pairs, attached_pairs);
    for replica in replicas {
        assert_eq!(replica.stop().code(), Some(0));
    }
}
