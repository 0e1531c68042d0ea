//! The HTTP API, black box: `agent-vault serve` on `127.0.0.1:0` over a
//! SQLite file and over PostgreSQL, driven by an HTTP client. Every route,
//! every status, isolation between users, gateway-token scoping and
//! rotation, and the synced indicator after `agents exec` on the same
//! database.

#[path = "http/server.rs"]
mod server;
mod support;

use std::io::{Read as _, Write as _};

use reqwest::Method;
use serde_json::json;

use server::{Client, Db, Server, cli, unique_user};

/// A server with two users, alice and bob, each with an API key.
struct Setup {
    server: Server,
    alice: Client,
    bob: Client,
    alice_id: String,
    key: String,
    db: Db,
}

fn setup(db: Db) -> Setup {
    let key = db.key.clone();
    let alice_id = unique_user("alice");
    let bob_id = unique_user("bob");
    let alice_key = format!("key-{alice_id}");
    let bob_key = format!("key-{bob_id}");
    let server = Server::start(
        &db,
        Some(&key),
        &format!("{alice_key}={alice_id},{bob_key}={bob_id}"),
    );
    let alice = server.client(Some(&alice_key));
    let bob = server.client(Some(&bob_key));
    Setup {
        server,
        alice,
        bob,
        alice_id,
        key,
        db,
    }
}

/// The values these tests store: none may appear in any answer that is not
/// a variable's listing, nor in any log.
const SECRET_VALUES: [&str; 3] = [
    "sk-live-canary-111",
    "oauth-canary-222",
    "rotated-canary-333",
];

fn assert_no_secret_in(what: &str, text: &str) {
    for value in SECRET_VALUES {
        assert!(
            !text.contains(value),
            "{what} carries a secret value: {text}"
        );
    }
}

async fn secrets_routes_answer_the_product_shapes_and_statuses(db: Db) {
    let s = setup(db);
    let alice = &s.alice;
    assert_eq!(
        alice.get("/v0/secrets").await.expect(200),
        json!({"secrets": []})
    );

    let created = alice
        .post(
            "/v0/secrets",
            json!({"name": "OPENAI_API_KEY", "value": SECRET_VALUES[0]}),
        )
        .await;
    assert_no_secret_in("create", &created.text);
    let created = created.expect(201);
    assert_eq!(created["success"], true);
    let secret = &created["secret"];
    for field in [
        "id",
        "userId",
        "name",
        "type",
        "createdAt",
        "updatedAt",
        "agents",
    ] {
        assert!(secret.get(field).is_some(), "no {field} in {secret}");
    }
    assert_eq!(secret["userId"], s.alice_id.as_str());
    assert_eq!(secret["type"], "secret");
    assert!(secret.get("value").is_none());
    let id = secret["id"].as_str().unwrap().to_owned();

    let variable = alice
        .post(
            "/v0/secrets",
            json!({"name": "SITE_URL", "value": "https://example.com", "type": "variable"}),
        )
        .await
        .expect(201);
    assert_eq!(variable["secret"]["value"], "https://example.com");

    // 400: empty name, empty value, invalid name, unknown type, malformed JSON.
    alice
        .post("/v0/secrets", json!({"name": "", "value": "x"}))
        .await
        .expect(400);
    alice
        .post("/v0/secrets", json!({"name": "EMPTY", "value": ""}))
        .await
        .expect(400);
    alice
        .post("/v0/secrets", json!({"name": "1BAD NAME", "value": "x"}))
        .await
        .expect(400);
    alice
        .post(
            "/v0/secrets",
            json!({"name": "KIND", "value": "x", "type": "password"}),
        )
        .await
        .expect(400);
    let malformed = alice
        .http
        .post(format!("{}/v0/secrets", alice.base))
        .bearer_auth(alice.auth.as_deref().unwrap())
        .header("content-type", "application/json")
        .body("{\"name\": \"X\", \"value\": ")
        .send()
        .await
        .unwrap();
    server::answer(malformed)
        .await
        .expect_error(400, "Malformed JSON");
    // A value of the wrong type is refused without being quoted.
    let wrong_type = alice
        .post("/v0/secrets", json!({"name": "NUMBER", "value": 987654321}))
        .await;
    assert!(
        !wrong_type.text.contains("987654321"),
        "{}",
        wrong_type.text
    );
    wrong_type.expect(400);

    // 409: the name is taken, whatever its case.
    alice
        .post(
            "/v0/secrets",
            json!({"name": "openai_api_key", "value": "other"}),
        )
        .await
        .expect_error(409, "Duplicate secret name");

    // 413: a body over 1 MiB, answered in JSON.
    let huge = "x".repeat(1024 * 1024 + 1);
    alice
        .post("/v0/secrets", json!({"name": "HUGE", "value": huge}))
        .await
        .expect_error(413, "Request body too large");

    // PUT: a new value, version 2; unknown and malformed ids are 404.
    let updated = alice
        .put(
            &format!("/v0/secrets/{id}"),
            json!({"value": SECRET_VALUES[2]}),
        )
        .await;
    assert_no_secret_in("update", &updated.text);
    assert_eq!(updated.expect(200)["secret"]["version"], 2);
    let unknown = uuid::Uuid::new_v4();
    alice
        .put(&format!("/v0/secrets/{unknown}"), json!({"value": "v"}))
        .await
        .expect(404);
    alice
        .put("/v0/secrets/not-an-id", json!({"value": "v"}))
        .await
        .expect(404);
    alice
        .put(&format!("/v0/secrets/{id}"), json!({"value": ""}))
        .await
        .expect(400);

    // The listing never shows a secret's value, and shows the variable's.
    let listed = alice.get("/v0/secrets").await;
    assert_no_secret_in("listing", &listed.text);
    let listed = listed.expect(200);
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 2);

    // DELETE.
    alice.delete(&format!("/v0/secrets/{id}")).await.expect(200);
    alice.delete(&format!("/v0/secrets/{id}")).await.expect(404);
    assert_no_secret_in("logs", &s.server.logs());
}

async fn every_error_is_json_and_callers_must_authenticate(db: Db) {
    let s = setup(db);
    let anonymous = s.alice.with_auth(None);
    anonymous.get("/v0/secrets").await.expect(401);
    anonymous.get("/v0/agents").await.expect(401);
    s.alice
        .with_auth(Some("not-a-known-key-0000"))
        .get("/v0/secrets")
        .await
        .expect(401);
    s.alice
        .get("/v0/nothing-here")
        .await
        .expect_error(404, "No such route");
    s.alice
        .send(Method::PATCH, "/v0/secrets", None)
        .await
        .expect_error(405, "Method not allowed");
    s.alice.get("/v0/agents/not-a-uuid").await.expect(404);
    assert_eq!(
        anonymous.get("/healthz").await.expect(200),
        json!({"ok": true})
    );
}

async fn without_a_master_key_secrets_answer_503_and_variables_still_work(db: Db) {
    let user = unique_user("nokey");
    let api_key = format!("key-{user}");
    let server = Server::start(&db, None, &format!("{api_key}={user}"));
    let client = server.client(Some(&api_key));
    client
        .post("/v0/secrets", json!({"name": "TOKEN", "value": "v"}))
        .await
        .expect_error(503, "Secrets not configured");
    client
        .post(
            "/v0/secrets",
            json!({"name": "PLAIN", "value": "v", "type": "variable"}),
        )
        .await
        .expect(201);
}

async fn agents_routes_follow_the_rules_and_the_product_shapes(db: Db) {
    let s = setup(db);
    let alice = &s.alice;
    let api_key = alice
        .secret("OPENAI_API_KEY", SECRET_VALUES[0], "secret")
        .await;
    let oauth = alice
        .secret("OPENAI_OAUTH_TOKEN", SECRET_VALUES[1], "secret")
        .await;
    let site = alice
        .secret("SITE_URL", "https://example.com", "variable")
        .await;

    // Creating with two credentials for one provider creates nothing.
    alice
        .post(
            "/v0/agents",
            json!({"name": "bot", "secretIds": [api_key, oauth]}),
        )
        .await
        .expect_error(409, "Conflicting secrets");
    assert_eq!(
        alice.get("/v0/agents").await.expect(200)["agents"],
        json!([])
    );
    // An unknown id creates nothing either.
    let unknown = uuid::Uuid::new_v4().to_string();
    alice
        .post(
            "/v0/agents",
            json!({"name": "bot", "secretIds": [api_key, unknown]}),
        )
        .await
        .expect(404);
    alice
        .post("/v0/agents", json!({"name": ""}))
        .await
        .expect(400);
    alice
        .post("/v0/agents", json!({"name": "x".repeat(101)}))
        .await
        .expect(400);

    // Created with an attachment, in one commit; the token comes back once.
    let created = alice
        .post("/v0/agents", json!({"name": "bot", "secretIds": [api_key]}))
        .await
        .expect(201);
    let agent = created["agent"]["id"].as_str().unwrap().to_owned();
    let token = created["agent"]["gatewayToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created["agent"]["attached"], json!(["OPENAI_API_KEY"]));
    let listed = alice.get("/v0/agents").await;
    assert!(
        !listed.text.contains(&token),
        "a listing shows a gateway token"
    );
    assert_eq!(listed.expect(200)["agents"][0]["id"], agent.as_str());

    // GET: the agent and its secrets, none synced before any deployment.
    let detail = alice.get(&format!("/v0/agents/{agent}")).await;
    assert!(!detail.text.contains(&token));
    let detail = detail.expect(200);
    assert_eq!(detail["agent"]["name"], "bot");
    let secrets = detail["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1);
    for field in ["id", "name", "createdAt", "updatedAt", "synced"] {
        assert!(
            secrets[0].get(field).is_some(),
            "no {field} in {}",
            secrets[0]
        );
    }
    assert_eq!(secrets[0]["synced"], false);

    // The product's own conflict example.
    alice
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": [oauth]}),
        )
        .await
        .expect_error(409, "Conflicting secrets");
    let attached = alice
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": [site, site]}),
        )
        .await
        .expect(200);
    assert_eq!(attached, json!({"success": true, "attached": 1}));
    alice
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": ["nonsense"]}),
        )
        .await
        .expect(400);

    // A secret still attached can't be deleted: 409 naming the agent.
    let refused = alice
        .delete(&format!("/v0/secrets/{api_key}"))
        .await
        .expect_error(409, "Secret is attached to agents");
    assert_eq!(
        refused["agents"],
        json!([{"agentId": agent, "name": "bot"}])
    );

    // Detach, then the delete goes through.
    alice
        .delete(&format!("/v0/agents/{agent}/secrets/{api_key}"))
        .await
        .expect(200);
    alice
        .delete(&format!("/v0/agents/{agent}/secrets/{api_key}"))
        .await
        .expect(404);
    alice
        .delete(&format!("/v0/secrets/{api_key}"))
        .await
        .expect(200);

    // The gateway token: read by the owner, rotated by the owner.
    let read = alice
        .get(&format!("/v0/agents/{agent}/gateway-token"))
        .await
        .expect(200);
    assert_eq!(read["gatewayToken"], token.as_str());
    let rotated = alice
        .post(
            &format!("/v0/agents/{agent}/gateway-token/rotate"),
            json!({}),
        )
        .await
        .expect(200);
    assert_ne!(rotated["gatewayToken"], token.as_str());

    // Delete the agent: it and its id are gone.
    alice
        .delete(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    alice.get(&format!("/v0/agents/{agent}")).await.expect(404);
    alice
        .delete(&format!("/v0/agents/{agent}"))
        .await
        .expect(404);
    alice
        .delete(&format!("/v0/secrets/{site}"))
        .await
        .expect(200);
    assert_no_secret_in("logs", &s.server.logs());
}

async fn another_users_ids_answer_404_and_never_their_data(db: Db) {
    let s = setup(db);
    let secret = s.alice.secret("PRIVATE", SECRET_VALUES[0], "secret").await;
    let (agent, _) = s.alice.agent("alice-bot", &[&secret]).await;
    let (bobs_agent, _) = s.bob.agent("bob-bot", &[]).await;
    let bob = &s.bob;
    assert_eq!(
        bob.get("/v0/secrets").await.expect(200),
        json!({"secrets": []})
    );
    assert_eq!(
        bob.get("/v0/agents").await.expect(200)["agents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    bob.get(&format!("/v0/agents/{agent}")).await.expect(404);
    bob.delete(&format!("/v0/agents/{agent}")).await.expect(404);
    bob.get(&format!("/v0/agents/{agent}/gateway-token"))
        .await
        .expect(404);
    bob.post(
        &format!("/v0/agents/{agent}/gateway-token/rotate"),
        json!({}),
    )
    .await
    .expect(404);
    bob.put(&format!("/v0/secrets/{secret}"), json!({"value": "x"}))
        .await
        .expect(404);
    bob.delete(&format!("/v0/secrets/{secret}"))
        .await
        .expect(404);
    bob.post(
        &format!("/v0/agents/{agent}/secrets"),
        json!({"secretIds": []}),
    )
    .await
    .expect(404);
    bob.delete(&format!("/v0/agents/{agent}/secrets/{secret}"))
        .await
        .expect(404);
    // Alice's secret id on bob's own agent is not found either.
    bob.post(
        &format!("/v0/agents/{bobs_agent}/secrets"),
        json!({"secretIds": [secret]}),
    )
    .await
    .expect(404);
    // Nothing of alice's changed.
    let detail = s
        .alice
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    assert_eq!(detail["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.alice.get("/v0/agents").await.expect(200)["agents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn a_gateway_token_acts_on_its_own_agent_only_until_rotated(db: Db) {
    let s = setup(db);
    let alice = &s.alice;
    let secret = alice
        .secret("TELEGRAM_BOT_TOKEN", SECRET_VALUES[0], "secret")
        .await;
    let (agent, token) = alice.agent("bot", &[]).await;
    let (other, other_token) = alice.agent("other", &[]).await;
    let gateway = alice.with_auth(Some(&token));

    // The three places a token may come from.
    gateway
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    let by_query = alice.with_auth(None);
    by_query
        .get(&format!("/v0/agents/{agent}?token={token}"))
        .await
        .expect(200);
    let by_cookie = alice
        .http
        .get(format!("{}/v0/agents/{agent}", alice.base))
        .header("cookie", format!("theme=dark; gw_token={token}"))
        .send()
        .await
        .unwrap();
    server::answer(by_cookie).await.expect(200);

    // Attach and detach its own secrets.
    let attached = gateway
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": [secret]}),
        )
        .await
        .expect(200);
    assert_eq!(attached["attached"], 1);
    gateway
        .delete(&format!("/v0/agents/{agent}/secrets/{secret}"))
        .await
        .expect(200);

    // Nothing else: other agents, the vault, the owner-only routes.
    gateway
        .get(&format!("/v0/agents/{other}"))
        .await
        .expect(401);
    gateway
        .post(
            &format!("/v0/agents/{other}/secrets"),
            json!({"secretIds": [secret]}),
        )
        .await
        .expect(401);
    gateway.get("/v0/secrets").await.expect(401);
    gateway.get("/v0/agents").await.expect(401);
    gateway
        .delete(&format!("/v0/agents/{agent}"))
        .await
        .expect(401);
    gateway
        .get(&format!("/v0/agents/{agent}/gateway-token"))
        .await
        .expect(401);
    gateway
        .post(
            &format!("/v0/agents/{agent}/gateway-token/rotate"),
            json!({}),
        )
        .await
        .expect(401);
    // Another user's key does not reach the agent, nor does a made-up agent id.
    s.bob.get(&format!("/v0/agents/{agent}")).await.expect(404);
    gateway
        .get(&format!("/v0/agents/{}", uuid::Uuid::new_v4()))
        .await
        .expect(401);

    // Rotation: the old token gets 401 at once, on a second replica too.
    let replica = Server::start(&s.db, Some(&s.key), "unused-key-000000000=nobody");
    let on_replica = replica.client(Some(&token));
    on_replica
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    let rotated = alice
        .post(
            &format!("/v0/agents/{agent}/gateway-token/rotate"),
            json!({}),
        )
        .await
        .expect(200);
    let fresh = rotated["gatewayToken"].as_str().unwrap();
    gateway
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(401);
    on_replica
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(401);
    by_query
        .get(&format!("/v0/agents/{agent}?token={token}"))
        .await
        .expect(401);
    on_replica
        .with_auth(Some(fresh))
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    // The other agent's token is untouched.
    alice
        .with_auth(Some(&other_token))
        .get(&format!("/v0/agents/{other}"))
        .await
        .expect(200);

    // Another user's agent, a detach elsewhere, a deleted agent: 401.
    let (bobs_agent, _) = s.bob.agent("bob-bot", &[]).await;
    on_replica
        .with_auth(Some(fresh))
        .get(&format!("/v0/agents/{bobs_agent}"))
        .await
        .expect(401);
    alice
        .post(
            &format!("/v0/agents/{other}/secrets"),
            json!({"secretIds": [secret]}),
        )
        .await
        .expect(200);
    alice
        .with_auth(Some(fresh))
        .delete(&format!("/v0/agents/{other}/secrets/{secret}"))
        .await
        .expect(401);
    alice
        .delete(&format!("/v0/agents/{other}"))
        .await
        .expect(200);
    alice
        .with_auth(Some(&other_token))
        .get(&format!("/v0/agents/{other}"))
        .await
        .expect(401);

    // `?token=` never reaches a log.
    let logs = s.server.logs() + &replica.logs();
    assert!(
        logs.contains("/v0/agents/{agent}"),
        "no request was logged: {logs}"
    );
    for secret in [token.as_str(), fresh, other_token.as_str()] {
        assert!(!logs.contains(secret), "a gateway token was logged");
    }
    assert_no_secret_in("logs", &logs);
}

async fn a_thousand_guessed_tokens_in_one_request_cost_one_check(db: Db) {
    let s = setup(db);
    let (agent, token) = s.alice.agent("bot", &[]).await;
    // Well-formed tokens (a valid shape and checksum), none of them the
    // agent's: made by rotating another agent's token many times.
    let (decoy, _) = s.alice.agent("decoy", &[]).await;
    let mut guesses = Vec::new();
    for _ in 0..3 {
        let rotated = s
            .alice
            .post(
                &format!("/v0/agents/{decoy}/gateway-token/rotate"),
                json!({}),
            )
            .await
            .expect(200);
        guesses.push(rotated["gatewayToken"].as_str().unwrap().to_owned());
    }
    let mut query: Vec<String> = (0..1000)
        .map(|i| format!("token={}", guesses[i % guesses.len()]))
        .collect();
    query.push(format!("token={token}"));
    let cookies: Vec<String> = guesses.iter().map(|g| format!("gw_token={g}")).collect();
    let answer = s
        .alice
        .http
        .get(format!(
            "{}/v0/agents/{agent}?{}",
            s.alice.base,
            query.join("&")
        ))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    // The agent's real token is the 1001st candidate: never reached.
    server::answer(answer).await.expect(401);
    let audit = cli(&s.db, &s.key, &s.alice_id, &["audit", "--json"]);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let events: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let rejected = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "token-rejected")
        .count();
    assert_eq!(rejected, 1, "{events}");
}

async fn path_segments_that_name_nothing_answer_404_in_json(db: Db) {
    let s = setup(db);
    for path in [
        "/v0/agents/%FF",
        "/v0/agents/%FF/secrets/%FE",
        "/v0/secrets/%C3%28",
        "/v0/providers/%FF",
    ] {
        let answer = s.alice.send(Method::DELETE, path, None).await;
        answer.expect_error(404, "Not found");
    }
}

async fn a_server_with_another_master_key_writes_nothing(db: Db) {
    let s = setup(db.clone());
    s.alice.secret("FIRST", "v", "secret").await;
    let (agent, _) = s.alice.agent("bot", &[]).await;
    let user = s.alice_id.clone();
    let api_key = s.alice.auth.clone().unwrap();
    let wrong = Server::start(&db, Some(&server::keygen()), &format!("{api_key}={user}"));
    let intruder = wrong.client(Some(&api_key));
    intruder
        .post("/v0/secrets", json!({"name": "SECOND", "value": "v"}))
        .await
        .expect_error(503, "Secrets misconfigured");
    intruder
        .post("/v0/agents", json!({"name": "other"}))
        .await
        .expect(503);
    intruder
        .post(
            &format!("/v0/agents/{agent}/gateway-token/rotate"),
            json!({}),
        )
        .await
        .expect(503);
    // Through the right server, nothing changed.
    let agents = s.alice.get("/v0/agents").await.expect(200);
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1, "{agents}");
    let secrets = s.alice.get("/v0/secrets").await.expect(200);
    assert_eq!(secrets["secrets"].as_array().unwrap().len(), 1, "{secrets}");
}

async fn synced_turns_true_after_agents_exec_on_the_same_database(db: Db) {
    let s = setup(db);
    let secret = s
        .alice
        .secret("TELEGRAM_BOT_TOKEN", SECRET_VALUES[0], "secret")
        .await;
    let (agent, _) = s.alice.agent("bot", &[&secret]).await;
    let before = s
        .alice
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    assert_eq!(before["secrets"][0]["synced"], false);
    assert_eq!(before["restartNeeded"], true);

    let exec = cli(
        &s.db,
        &s.key,
        &s.alice_id,
        &["agents", "exec", &agent, "--", "true"],
    );
    assert!(
        exec.status.success(),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );

    let after = s
        .alice
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    assert_eq!(after["secrets"][0]["synced"], true, "{after}");
    assert_eq!(after["restartNeeded"], false);
    // A new value makes it stale again until the next start.
    s.alice
        .put(
            &format!("/v0/secrets/{secret}"),
            json!({"value": SECRET_VALUES[2]}),
        )
        .await
        .expect(200);
    let stale = s
        .alice
        .get(&format!("/v0/agents/{agent}"))
        .await
        .expect(200);
    assert_eq!(stale["secrets"][0]["synced"], false);
}

async fn provider_connections_have_routes_and_ids_usable_as_secret_ids(db: Db) {
    let s = setup(db);
    let alice = &s.alice;
    let connected = alice
        .post(
            "/v0/providers",
            json!({"provider": "openai", "apiKey": SECRET_VALUES[0]}),
        )
        .await;
    assert_no_secret_in("connect", &connected.text);
    let connected = connected.expect(201);
    assert_eq!(connected["provider"]["id"], "openai:api-key");
    assert_eq!(
        connected["provider"]["variables"],
        json!(["OPENAI_API_KEY"])
    );
    alice
        .post(
            "/v0/providers",
            json!({"provider": "openai", "apiKey": "again"}),
        )
        .await
        .expect(409);
    alice
        .post(
            "/v0/providers",
            json!({"provider": "gemini", "apiKey": "k"}),
        )
        .await
        .expect(400);
    alice
        .post("/v0/providers", json!({"provider": "openai"}))
        .await
        .expect(400);
    // A key pasted into the provider field is refused without repeating it.
    let pasted = alice
        .post(
            "/v0/providers",
            json!({"provider": SECRET_VALUES[0], "apiKey": "k"}),
        )
        .await;
    assert_no_secret_in("a refused provider", &pasted.text);
    pasted.expect(400);
    alice
        .post(
            "/v0/providers",
            json!({"provider": "custom", "baseUrl": "https://llm.example.com/v1", "models": ["m1"]}),
        )
        .await
        .expect(201);
    let codex = json!({
        "provider": "openai", "kind": "codex-subscription",
        "tokens": {"access_token": SECRET_VALUES[1], "refresh_token": "r", "expires_at": "2030-01-01T00:00:00Z"}
    });
    let codex = alice.post("/v0/providers", codex).await.expect(201);
    assert_eq!(codex["provider"]["expiresAt"], "2030-01-01T00:00:00Z");

    let oauth = alice.secret("OPENAI_OAUTH_TOKEN", "t", "secret").await;
    let (agent, _) = alice.agent("bot", &["openai:api-key"]).await;
    alice
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": [oauth]}),
        )
        .await
        .expect_error(409, "Conflicting secrets");
    alice
        .post(
            &format!("/v0/agents/{agent}/secrets"),
            json!({"secretIds": ["openai:codex-subscription"]}),
        )
        .await
        .expect_error(409, "Conflicting secrets");
    alice
        .delete("/v0/providers/openai:api-key")
        .await
        .expect(409);
    // A credential that would change an attached connection's variables
    // is refused, naming the agents that hold it.
    let (holder, _) = alice.agent("holder", &["custom:custom"]).await;
    let refused = alice
        .put(
            "/v0/providers/custom:custom",
            json!({"provider": "custom", "baseUrl": "https://llm.example.com/v1"}),
        )
        .await
        .expect_error(409, "Connection is attached to agents");
    assert_eq!(
        refused["agents"],
        json!([{"agentId": holder, "name": "holder"}])
    );
    let listed = alice.get("/v0/providers").await;
    assert_no_secret_in("providers listing", &listed.text);
    let listed = listed.expect(200);
    let openai = listed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "openai:api-key")
        .unwrap()
        .clone();
    assert_eq!(openai["agents"], json!([{"agentId": agent, "name": "bot"}]));
    alice
        .put(
            "/v0/providers/openai:api-key",
            json!({"provider": "openai", "apiKey": SECRET_VALUES[2]}),
        )
        .await
        .expect(200);
    alice
        .put(
            "/v0/providers/openai:api-key",
            json!({"provider": "venice", "apiKey": "k"}),
        )
        .await
        .expect(400);
    alice
        .delete(&format!("/v0/agents/{agent}/secrets/openai:api-key"))
        .await
        .expect(200);
    alice
        .delete("/v0/providers/openai:api-key")
        .await
        .expect(200);
    alice
        .delete("/v0/providers/openai:api-key")
        .await
        .expect(404);
    alice.delete("/v0/providers/nonsense").await.expect(404);
    assert_no_secret_in("logs", &s.server.logs());
}

async fn the_openapi_document_lists_every_route(db: Db) {
    let s = setup(db);
    let document = s
        .alice
        .with_auth(None)
        .get("/openapi.json")
        .await
        .expect(200);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{document}"
    );
    let paths = document["paths"].as_object().unwrap();
    let expected = [
        ("/v0/secrets", &["get", "post"][..]),
        ("/v0/secrets/{id}", &["put", "delete"]),
        ("/v0/providers", &["get", "post"]),
        ("/v0/providers/{connectionId}", &["put", "delete"]),
        ("/v0/agents", &["get", "post"]),
        ("/v0/agents/{agentId}", &["get", "delete"]),
        ("/v0/agents/{agentId}/secrets", &["post"]),
        ("/v0/agents/{agentId}/secrets/{secretId}", &["delete"]),
        ("/v0/agents/{agentId}/gateway-token", &["get"]),
        ("/v0/agents/{agentId}/gateway-token/rotate", &["post"]),
        ("/healthz", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for method in methods {
            assert!(item.get(*method).is_some(), "{method} {path} missing");
        }
    }
    assert_eq!(paths.len(), expected.len());
}

async fn sigterm_lets_a_request_in_flight_finish_and_exits_0(db: Db) {
    let s = setup(db);
    let address = s.server.base.trim_start_matches("http://").to_owned();
    let auth = s.alice.auth.clone().unwrap();
    let body = json!({"name": "IN_FLIGHT", "value": "v", "type": "variable"}).to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v0/secrets HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.server.terminate();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.write_all(tail.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = s.server.stop();
    assert_eq!(status.code(), Some(0));
}

async fn serve_refuses_to_start_without_api_keys(db: Db) {
    let output = server::clean(&mut std::process::Command::new(server::BIN))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("AGENT_VAULT_DB", &db.arg)
        .env("AGENT_VAULT_API_KEYS", "short=alice")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains("short="), "{stderr}");
}

/// The README's "Serving the API" example, run as written (on a free port
/// instead of 8080), with `agent-vault` on `PATH`.
#[test]
fn the_readme_serving_example_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- serving-example")
        .expect("README marks its serving example");
    let block = &readme[start..];
    let body_start = block.find("```sh\n").unwrap() + "```sh\n".len();
    let body_end = block[body_start..].find("```").unwrap();
    let script = &block[body_start..body_start + body_end];
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = script.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let curl = std::process::Command::new("curl").arg("--version").output();
    assert!(
        curl.is_ok_and(|o| o.status.success()),
        "curl is needed: install it (apt-get install curl)"
    );
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(server::BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = server::clean(&mut std::process::Command::new("bash"))
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("\"id\":\"anthropic:api-key\""), "{stdout}");
    assert!(stdout.contains("\"synced\":false"), "{stdout}");
    assert!(stdout.contains("\"gatewayToken\""), "{stdout}");
    assert!(stdout.trim_end().ends_with("401"), "{stdout}");
    assert!(
        !stdout.contains("123:abc") && !stdout.contains("sk-ant-demo"),
        "{stdout}"
    );
}

/// One test per scenario in module `$backend`, on the database `$db()`.
macro_rules! on_backend {
    ($backend:ident, $db:expr, $($scenario:ident),*) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($db).await;
                }
            )*
        }
    };
}

/// Runs each scenario on SQLite and on PostgreSQL.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        on_backend!(sqlite, super::Db::sqlite(), $($scenario),*);
        on_backend!(postgres, super::Db::postgres(), $($scenario),*);
    };
}

on_every_backend!(
    secrets_routes_answer_the_product_shapes_and_statuses,
    every_error_is_json_and_callers_must_authenticate,
    without_a_master_key_secrets_answer_503_and_variables_still_work,
    agents_routes_follow_the_rules_and_the_product_shapes,
    another_users_ids_answer_404_and_never_their_data,
    a_gateway_token_acts_on_its_own_agent_only_until_rotated,
    synced_turns_true_after_agents_exec_on_the_same_database,
    a_thousand_guessed_tokens_in_one_request_cost_one_check,
    path_segments_that_name_nothing_answer_404_in_json,
    a_server_with_another_master_key_writes_nothing,
    provider_connections_have_routes_and_ids_usable_as_secret_ids,
    the_openapi_document_lists_every_route,
    sigterm_lets_a_request_in_flight_finish_and_exits_0,
    serve_refuses_to_start_without_api_keys,
);
