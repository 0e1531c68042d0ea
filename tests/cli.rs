//! End-to-end tests of the `agent-vault` command: every command, every exit
//! code, persistence across invocations. Each test has its own directory,
//! SQLite database and master key (from `agent-vault keygen`).

use std::collections::BTreeMap;
use std::process::Output;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

#[path = "support/cli_vault.rs"]
mod cli_vault;

use cli_vault::{BIN, Vault, keygen};

fn is_rfc3339(value: &Value) -> bool {
    let text = value.as_str().unwrap_or("");
    text.len() >= 20 && text.as_bytes()[10] == b'T' && text.ends_with('Z')
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

fn state_of<'a>(status: &'a Value, name: &str) -> &'a str {
    status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["state"].as_str())
        .unwrap_or("absent")
}

const CODEX: &str = r#"{"access_token":"at-canary","refresh_token":"rt-canary","expires_at":"2030-01-01T00:00:00Z"}"#;
const CODEX_EXPIRES_AT: &str = "2030-01-01T00:00:00Z";

#[test]
fn keygen_prints_a_fresh_base64_key() {
    let key = keygen();
    assert_eq!(key.len(), 44);
    assert_ne!(key, keygen());
    let vault = Vault::new();
    let json = vault.json(&["keygen"], "");
    assert_eq!(json["master_key"].as_str().unwrap().len(), 44);
}

#[test]
fn values_come_from_stdin_with_exactly_one_newline_removed() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TWO", "--variable"], "two\n\n");
    vault.ok(&["secrets", "add", "ONE", "--variable"], "one\n");
    vault.ok(&["secrets", "add", "CRLF", "--variable"], "crlf\r\n");
    vault.ok(&["secrets", "add", "NONE"], "none");
    let list = vault.json(&["secrets", "list"], "");
    let value = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("TWO"), "two\n");
    assert_eq!(value("ONE"), "one");
    assert_eq!(value("CRLF"), "crlf");
    assert_eq!(value("NONE"), Value::Null, "a secret has no value field");
    // A value that is only a newline is empty: refused.
    vault.fails(&["secrets", "add", "EMPTY"], "\n", 5);
}

#[test]
fn secrets_list_never_shows_a_secret_value() {
    let vault = Vault::new();
    let canary = "canary-7f3a9c-do-not-print";
    vault.ok(&["secrets", "add", "API_TOKEN"], &format!("{canary}\n"));
    vault.ok(
        &["secrets", "add", "PUBLIC_URL", "--variable"],
        "https://x\n",
    );
    let (agent, _) = vault.agent("bot");
    vault.ok(&["agents", "attach", &agent, "API_TOKEN"], "");

    let plain = vault.ok(&["secrets", "list"], "");
    assert!(plain.contains("API_TOKEN") && plain.contains("https://x"));
    let json = vault.ok(&["secrets", "list", "--json"], "");
    for text in [&plain, &json] {
        assert!(!text.contains(canary), "{text}");
    }
    // Errors about the secret never echo the value either.
    let stderr = vault.fails(&["secrets", "add", "API_TOKEN"], canary, 3);
    assert!(stderr.contains("API_TOKEN") && !stderr.contains(canary));
    for args in [
        &["agents", "get", "bot"][..],
        &["agents", "status", "bot"],
        &["agents", "list", "--json"],
    ] {
        assert!(!vault.ok(args, "").contains(canary));
    }
    // Not on disk in plaintext either.
    for entry in std::fs::read_dir(vault.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(canary.len()).any(|w| w == canary.as_bytes()));
    }
}

#[test]
fn secrets_json_has_the_documented_fields() {
    let vault = Vault::new();
    let added = vault.json(&["secrets", "add", "A_SECRET"], "s\n");
    assert_eq!(added["type"], "secret");
    vault.ok(&["secrets", "add", "A_VAR", "--variable"], "v\n");
    let (agent, _) = vault.agent("bot");
    vault.ok(&["agents", "attach", "bot", "A_SECRET"], "");
    let list = vault.json(&["secrets", "list"], "");
    assert_eq!(names(&list), ["A_SECRET", "A_VAR"]);
    let secret = &list[0];
    let var = &list[1];
    for item in [secret, var] {
        for field in [
            "id",
            "name",
            "type",
            "agents",
            "version",
            "created_at",
            "updated_at",
        ] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
        assert!(is_rfc3339(&item["created_at"]) && is_rfc3339(&item["updated_at"]));
        assert_eq!(item["version"], 1);
    }
    assert_eq!(secret["type"], "secret");
    assert!(secret.get("value").is_none());
    assert_eq!(secret["agents"], serde_json::json!([agent]));
    assert_eq!(var["type"], "variable");
    assert_eq!(var["value"], "v");
}

#[test]
fn update_and_delete_persist_and_unknown_names_are_not_found() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "one\n");
    let updated = vault.json(&["secrets", "update", "TOKEN"], "two\n");
    assert_eq!(updated["version"], 2);
    vault.ok(&["secrets", "delete", "TOKEN"], "");
    assert_eq!(vault.json(&["secrets", "list"], ""), serde_json::json!([]));

    let stderr = vault.fails(&["secrets", "update", "NOPE"], "x\n", 4);
    assert!(stderr.contains("NOPE"), "{stderr}");
    vault.fails(&["secrets", "delete", "NOPE"], "", 4);
}

#[test]
fn bad_names_and_values_are_invalid_input() {
    let vault = Vault::new();
    let stderr = vault.fails(&["secrets", "add", "1BAD"], "x\n", 5);
    assert!(stderr.contains("1BAD"), "{stderr}");
    vault.fails(&["secrets", "add", "MY-KEY"], "x\n", 5);
    vault.fails(&["secrets", "add", "PATH", "--variable"], "x\n", 5);
    vault.fails(&["secrets", "add", "EMPTY"], "", 5);
    vault.fails(&["agents", "attach", "x", "provider:nope"], "", 4);
    vault.agent("bot");
    vault.fails(&["agents", "attach", "bot", "provider:nope"], "", 5);
    vault.fails(&["--user", "", "secrets", "list"], "", 5);
}

#[test]
fn import_is_all_or_nothing_and_points_at_file_line_column() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "EXISTING", "--variable"], "old\n");
    let before = vault.json(&["secrets", "list"], "");

    let bad = vault.write(".env", "A=1\nB=2\nC = 'unterminated\n");
    let stderr = vault.fails(&["secrets", "import", bad.to_str().unwrap()], "", 5);
    assert!(stderr.contains(".env:3:"), "{stderr}");
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(!stderr.contains("unterminated\n"), "no value in {stderr}");
    // A name the vault refuses, with its line and column.
    let refused = vault.write("refused.env", "OK=1\n  MY-KEY=2\n");
    let stderr = vault.fails(&["secrets", "import", refused.to_str().unwrap()], "", 5);
    assert!(stderr.contains("refused.env:2:3: MY-KEY"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:3", refused.display())),
        "{stderr}"
    );
    // Existing names fail the whole import by default.
    vault.write("conflict.env", "NEW=1\nEXISTING=new\n");
    let stderr = vault.fails(&["secrets", "import", "conflict.env"], "", 3);
    assert!(stderr.contains("EXISTING"), "{stderr}");
    assert_eq!(vault.json(&["secrets", "list"], ""), before);
    // A missing file.
    vault.fails(&["secrets", "import", "missing.env"], "", 4);
}

#[test]
fn import_modes_dry_run_skip_overwrite_and_variables() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "EXISTING", "--variable"], "old\n");
    vault.write(
        "app.env",
        "# app\nNEW=1\nEXISTING=new\nexport OTHER=\"two words\"\n",
    );

    // A dry run reports the conflict a real import would hit.
    vault.fails(&["secrets", "import", "app.env", "--dry-run"], "", 3);
    let plan = vault.json(
        &[
            "secrets",
            "import",
            "app.env",
            "--dry-run",
            "--on-conflict",
            "skip",
        ],
        "",
    );
    let actions: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "skip", "create"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(names(&vault.json(&["secrets", "list"], "")), ["EXISTING"]);

    let out = vault.ok(
        &[
            "secrets",
            "import",
            "app.env",
            "--variables",
            "--on-conflict",
            "overwrite",
        ],
        "",
    );
    assert!(out.contains("2 created, 1 updated"), "{out}");
    let list = vault.json(&["secrets", "list"], "");
    assert_eq!(names(&list), ["EXISTING", "NEW", "OTHER"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|i| i["type"] == "variable")
    );
    assert_eq!(list[0]["value"], "new");
    assert_eq!(list[2]["value"], "two words");
}

#[test]
fn dotenv_parse_prints_the_mapping_and_stores_nothing() {
    let vault = Vault::new();
    vault.write(
        ".env",
        "HOST=db\nURL=\"postgres://${HOST}/app\"\nexport X='$lit'\n",
    );
    let mapping = vault.json(&["dotenv", "parse", ".env"], "");
    assert_eq!(
        mapping,
        serde_json::json!({"HOST": "db", "URL": "postgres://db/app", "X": "$lit"})
    );
    assert_eq!(vault.json(&["secrets", "list"], ""), serde_json::json!([]));
    vault.write("bad.env", "A=1\nTOKEN\n");
    let stderr = vault.fails(&["dotenv", "parse", "bad.env"], "", 5);
    assert!(stderr.contains("bad.env:2:"), "{stderr}");
}

#[test]
fn delete_while_attached_is_a_conflict() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "x\n");
    let (agent, _) = vault.agent("bot");
    vault.ok(&["agents", "attach", "bot", "TOKEN"], "");
    let stderr = vault.fails(&["secrets", "delete", "TOKEN"], "", 3);
    assert!(stderr.contains(&agent), "names the agent: {stderr}");
    vault.ok(&["agents", "detach", "bot", "TOKEN"], "");
    vault.fails(&["agents", "detach", "bot", "TOKEN"], "", 4);
    vault.ok(&["secrets", "delete", "TOKEN"], "");
}

#[test]
fn two_credentials_for_one_provider_are_a_conflict() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "OPENAI_API_KEY"], "sk-x\n");
    vault.write("codex.json", CODEX);
    vault.ok(
        &[
            "providers",
            "connect",
            "openai",
            "--codex-oauth",
            "codex.json",
        ],
        "",
    );
    // The listing shows when the Codex token expires, from metadata kept
    // in the clear beside the sealed bundle.
    let listed = vault.json(&["providers", "list"], "");
    let codex = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "codex-subscription")
        .unwrap();
    assert_eq!(codex["expires_at"], CODEX_EXPIRES_AT);
    let table = vault.ok(&["providers", "list"], "");
    assert!(
        table.contains("EXPIRES") && table.contains(CODEX_EXPIRES_AT),
        "{table}"
    );
    vault.agent("bot");
    let stderr = vault.fails(
        &[
            "agents",
            "attach",
            "bot",
            "OPENAI_API_KEY",
            "provider:openai:codex-subscription",
        ],
        "",
        3,
    );
    assert!(stderr.contains("openai"), "{stderr}");
    // All or nothing: neither was attached.
    let agent = vault.json(&["agents", "get", "bot"], "");
    assert_eq!(agent["attached"], serde_json::json!([]));
    // One at a time, the second is still refused.
    vault.ok(
        &[
            "agents",
            "attach",
            "bot",
            "provider:openai:codex-subscription",
        ],
        "",
    );
    vault.fails(&["agents", "attach", "bot", "OPENAI_API_KEY"], "", 3);
}

#[test]
fn providers_connect_list_update_and_disconnect() {
    let vault = Vault::new();
    let connected = vault.json(&["providers", "connect", "anthropic"], "sk-ant-1\n");
    assert_eq!(connected["action"], "connected");
    let again = vault.json(&["providers", "connect", "anthropic"], "sk-ant-2\n");
    assert_eq!(
        (again["action"].as_str(), again["version"].as_u64()),
        (Some("updated"), Some(2))
    );
    // Pinata's inference key comes on standard input; without one it is
    // refused.
    vault.fails(&["providers", "connect", "pinata"], "", 5);
    vault.ok(&["providers", "connect", "pinata"], "pk-llm-1\n");
    vault.ok(
        &[
            "providers",
            "connect",
            "custom",
            "--base-url",
            "https://llm.example/v1",
            "--model",
            "m1",
        ],
        "",
    );
    let list = vault.json(&["providers", "list"], "");
    let rows: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(is_rfc3339(&c["connected_at"]) && c["id"].is_string());
            (c["provider"].as_str().unwrap(), c["kind"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("anthropic", "api-key"),
            ("custom", "custom"),
            ("pinata", "hosted")
        ]
    );
    assert!(!vault.ok(&["providers", "list"], "").contains("sk-ant"));

    // Usage errors clap does not see.
    vault.fails(&["providers", "connect", "custom"], "", 2);
    vault.fails(
        &["providers", "connect", "anthropic", "--codex-oauth", "x"],
        "",
        2,
    );
    // Bad input.
    vault.fails(
        &["providers", "connect", "custom", "--base-url", "ftp://x"],
        "",
        5,
    );
    vault.write("bad.json", "{\"access_token\": 1}");
    let stderr = vault.fails(
        &[
            "providers",
            "connect",
            "openai",
            "--codex-oauth",
            "bad.json",
        ],
        "",
        5,
    );
    assert!(stderr.contains("bad.json"), "{stderr}");

    vault.ok(&["providers", "disconnect", "anthropic"], "");
    vault.fails(&["providers", "disconnect", "anthropic"], "", 4);
    vault.fails(
        &["providers", "disconnect", "openai", "--kind", "hosted"],
        "",
        5,
    );
}

#[test]
fn exec_gives_exactly_the_agent_environment() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "BOT_TOKEN"], "bot-secret\n");
    vault.ok(
        &["secrets", "add", "PUBLIC_URL", "--variable"],
        "https://x\n",
    );
    vault.ok(&["secrets", "add", "UNATTACHED"], "nope\n");
    vault.ok(&["providers", "connect", "anthropic"], "sk-ant-1\n");
    let (_, token) = vault.agent("bot");
    vault.ok(
        &[
            "agents",
            "attach",
            "bot",
            "BOT_TOKEN",
            "PUBLIC_URL",
            "provider:anthropic",
        ],
        "",
    );

    let path = std::env::var("PATH").unwrap();
    let output = Command::new(BIN)
        .env_clear()
        .env("PATH", &path)
        .env("CALLER_VAR", "kept")
        .env("AGENT_VAULT_DB", vault.db())
        .env("AGENT_VAULT_MASTER_KEY", &vault.key)
        .env("AGENT_VAULT_USER", "default")
        .args(["agents", "exec", "bot", "--", "env"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let env: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let expected: BTreeMap<&str, &str> = [
        ("PATH", path.as_str()),
        ("CALLER_VAR", "kept"),
        ("BOT_TOKEN", "bot-secret"),
        ("PUBLIC_URL", "https://x"),
        ("ANTHROPIC_API_KEY", "sk-ant-1"),
        ("OPENCLAW_GATEWAY_TOKEN", token.as_str()),
    ]
    .into_iter()
    .collect();
    assert_eq!(env, expected);
    assert!(!stdout.contains(&vault.key));
    // The values went to the child only: not to our stderr.
    assert!(!String::from_utf8_lossy(&output.stderr).contains("bot-secret"));
}

#[test]
fn exec_passes_the_child_status_on() {
    let vault = Vault::new();
    vault.agent("bot");
    vault.agent("never");
    vault.fails(
        &["agents", "exec", "never", "--", "/nonexistent/cmd"],
        "",
        127,
    );
    vault.fails(
        &["agents", "exec", "never", "--", "no-such-command-on-path"],
        "",
        127,
    );
    let not_executable = vault.write("script.sh", "#!/bin/sh\necho hi\n");
    vault.fails(
        &[
            "agents",
            "exec",
            "never",
            "--",
            not_executable.to_str().unwrap(),
        ],
        "",
        126,
    );
    // A command that cannot be run records no deployment.
    assert!(vault.json(&["agents", "get", "never"], "")["deployed_at"].is_null());
    vault.fails(
        &["agents", "exec", "bot", "--", "sh", "-c", "exit 42"],
        "",
        42,
    );
    vault.fails(&["agents", "exec", "bot"], "", 2);
    vault.fails(&["agents", "exec", "ghost", "--", "true"], "", 4);
    // The deployment was recorded even though the child failed.
    assert!(vault.json(&["agents", "get", "bot"], "")["deployed_at"].is_string());
}

/// `agents exec` becomes the command (Unix): the process started as
/// agent-vault is the command itself, so a signal sent to it reaches the
/// command, and its status is the command's own.
#[cfg(unix)]
#[test]
fn exec_becomes_the_child_so_signals_reach_it() {
    let vault = Vault::new();
    vault.agent("bot");
    let ready = vault.dir.path().join("ready");
    let script = format!(
        "trap 'exit 3' TERM; echo $$ > '{0}.tmp'; mv '{0}.tmp' '{0}'; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut command = std::process::Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENT_VAULT_") {
            command.env_remove(&name);
        }
    }
    let mut running = command
        .env("AGENT_VAULT_DB", vault.db())
        .env("AGENT_VAULT_MASTER_KEY", &vault.key)
        .args(["agents", "exec", "bot", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&ready).unwrap();
    assert_eq!(pid.trim(), running.id().to_string(), "exec kept the pid");
    let sent = std::process::Command::new("kill")
        .args(["-s", "TERM", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(running.wait().unwrap().code(), Some(3));
    // Killed by a signal it does not trap: the status says so directly.
    let mut running = std::process::Command::new(BIN)
        .env("AGENT_VAULT_DB", vault.db())
        .env("AGENT_VAULT_MASTER_KEY", &vault.key)
        .args(["agents", "exec", "bot", "--", "sh", "-c", "kill -s KILL $$"])
        .spawn()
        .unwrap();
    let status = running.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

/// Key files: exactly one key source; a file group or others can access is
/// refused as ssh refuses a private key.
#[cfg(unix)]
#[test]
fn master_key_files_must_be_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "file-secret\n");
    let key_file = vault.write("master.key", &format!("{}\n", vault.key));
    let with_file = |var: &str, path: &std::path::Path, args: &[&str]| {
        let mut command = vault.cmd();
        command
            .env_remove("AGENT_VAULT_MASTER_KEY")
            .env(var, path)
            .args(args)
            .output()
            .unwrap()
    };
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = with_file(
            "AGENT_VAULT_MASTER_KEY_FILE",
            &key_file,
            &["secrets", "list"],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(6), "{mode:o}: {stderr}");
        let path = key_file.display();
        assert!(
            stderr.contains(&format!("permissions {mode:04o} for '{path}' are too open"))
                && stderr.contains(&format!("run: chmod 600 {path}")),
            "{stderr}"
        );
        assert!(!stderr.contains(&vault.key));
    }
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = with_file(
        "AGENT_VAULT_MASTER_KEY_FILE",
        &key_file,
        &["agents", "create", "bot"],
    );
    assert!(output.status.success(), "{output:?}");
    vault.ok(&["agents", "attach", "bot", "TOKEN"], "");
    let output = with_file(
        "AGENT_VAULT_MASTER_KEY_FILE",
        &key_file,
        &[
            "agents",
            "exec",
            "bot",
            "--",
            "sh",
            "-c",
            "printf %s \"$TOKEN\"",
        ],
    );
    assert_eq!(stdout_ok(output, "exec with a key file"), "file-secret");
    // The raw 32 bytes work too.
    let raw = base64_decode(&vault.key);
    let raw_file = vault.dir.path().join("raw.key");
    std::fs::write(&raw_file, raw).unwrap();
    std::fs::set_permissions(&raw_file, std::fs::Permissions::from_mode(0o400)).unwrap();
    let output = with_file(
        "AGENT_VAULT_MASTER_KEY_FILE",
        &raw_file,
        &["secrets", "list"],
    );
    assert!(output.status.success(), "{output:?}");
    // A keyring file.
    let ring_file = vault.write("keyring", &format!("*1:{}\n", vault.key));
    std::fs::set_permissions(&ring_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = with_file(
        "AGENT_VAULT_MASTER_KEYS_FILE",
        &ring_file,
        &["keys", "list", "--json"],
    );
    assert!(stdout_ok(output, "keys list").contains("\"records\""));
    std::fs::set_permissions(&ring_file, std::fs::Permissions::from_mode(0o660)).unwrap();
    let output = with_file(
        "AGENT_VAULT_MASTER_KEYS_FILE",
        &ring_file,
        &["keys", "list"],
    );
    assert_eq!(output.status.code(), Some(6));
    // Two sources at once.
    let mut both = vault.cmd();
    both.env("AGENT_VAULT_MASTER_KEY_FILE", &key_file)
        .args(["secrets", "list"]);
    let output = both.output().unwrap();
    assert_eq!(output.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set only one"), "{stderr}");
    // A missing or malformed file.
    let output = with_file(
        "AGENT_VAULT_MASTER_KEY_FILE",
        &vault.dir.path().join("missing.key"),
        &["secrets", "list"],
    );
    assert_eq!(output.status.code(), Some(6));
    let bad = vault.write("bad.key", "not a key\n");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = with_file("AGENT_VAULT_MASTER_KEY_FILE", &bad, &["secrets", "list"]);
    assert_eq!(output.status.code(), Some(6));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("not a key"));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn status_goes_stale_after_an_update_and_synced_after_exec() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "v1\n");
    vault.ok(&["secrets", "add", "OTHER", "--variable"], "o\n");
    vault.agent("bot");
    vault.ok(&["agents", "attach", "bot", "TOKEN", "OTHER"], "");
    let status = vault.status("bot");
    assert_eq!(state_of(&status, "TOKEN"), "not-deployed");
    assert_eq!(status["restart_needed"], true, "never deployed");

    assert_eq!(vault.child_env("bot")["TOKEN"], "v1");
    let status = vault.status("bot");
    assert_eq!(status["restart_needed"], false);
    assert_eq!(state_of(&status, "TOKEN"), "synced");

    vault.ok(&["secrets", "update", "TOKEN"], "v2\n");
    let status = vault.status("bot");
    assert_eq!(status["restart_needed"], true);
    assert_eq!(state_of(&status, "TOKEN"), "stale");
    assert_eq!(state_of(&status, "OTHER"), "synced");

    assert_eq!(vault.child_env("bot")["TOKEN"], "v2");
    assert_eq!(state_of(&vault.status("bot"), "TOKEN"), "synced");

    vault.ok(&["agents", "detach", "bot", "OTHER"], "");
    assert_eq!(state_of(&vault.status("bot"), "OTHER"), "removed");
    let plain = vault.ok(&["agents", "status", "bot"], "");
    assert!(
        plain.contains("restart needed: yes") && plain.contains("removed"),
        "{plain}"
    );
}

#[test]
fn gateway_token_show_rotate_and_verify() {
    let vault = Vault::new();
    let (_, first) = vault.agent("bot");
    let shown = vault.json(&["agents", "token", "show", "bot"], "");
    assert_eq!(shown["gateway_token"], first.as_str());
    vault.ok(&["agents", "token", "verify", "bot"], &format!("{first}\n"));

    let rotated = vault.json(&["agents", "token", "rotate", "bot"], "");
    let second = rotated["gateway_token"].as_str().unwrap();
    assert_ne!(second, first);
    let stderr = vault.fails(&["agents", "token", "verify", "bot"], &first, 7);
    assert!(!stderr.contains(&first), "{stderr}");
    vault.ok(&["agents", "token", "verify", "bot"], second);
    assert_eq!(vault.child_env("bot")["OPENCLAW_GATEWAY_TOKEN"], second);
}

#[test]
fn no_or_malformed_master_key_is_not_configured() {
    let vault = Vault::new();
    let no_key = |args: &[&str], stdin: &str| {
        let mut command = vault.cmd();
        command.env_remove("AGENT_VAULT_MASTER_KEY");
        command.args(args).write_stdin(stdin.to_owned()).assert()
    };
    no_key(&["secrets", "add", "TOKEN"], "x\n")
        .code(6)
        .stderr(predicate::str::contains("AGENT_VAULT_MASTER_KEY"));
    no_key(&["agents", "create", "bot"], "").code(6);
    no_key(&["providers", "connect", "anthropic"], "k\n").code(6);

    for malformed in ["not base64!", "c2hvcnQ=", "AAAA"] {
        vault
            .cmd()
            .env("AGENT_VAULT_MASTER_KEY", malformed)
            .args(["secrets", "list"])
            .assert()
            .code(6)
            .stderr(predicate::str::contains("AGENT_VAULT_MASTER_KEY"))
            .stderr(predicate::str::contains(malformed).not());
    }
}

#[test]
fn agents_create_list_get_delete_and_name_resolution() {
    let vault = Vault::new();
    let (id, token) = vault.agent("support-bot");
    assert!(token.len() > 20);
    let list = vault.json(&["agents", "list"], "");
    let agent = &list[0];
    for field in ["id", "name", "created_at", "attached", "deployed_at"] {
        assert!(agent.get(field).is_some(), "{field} missing in {agent}");
    }
    assert_eq!(agent["deployed_at"], Value::Null);
    assert_eq!(
        vault.json(&["agents", "get", &id], "")["name"],
        "support-bot"
    );
    assert!(vault.ok(&["agents", "list"], "").contains("support-bot"));

    // Two agents with one name: the name is ambiguous, the ids are not.
    let (twin_a, _) = vault.agent("twin");
    let (twin_b, _) = vault.agent("twin");
    let stderr = vault.fails(&["agents", "get", "twin"], "", 5);
    assert!(
        stderr.contains(&twin_a) && stderr.contains(&twin_b),
        "{stderr}"
    );
    vault.ok(&["agents", "delete", &twin_a], "");
    assert_eq!(
        vault.json(&["agents", "get", "twin"], "")["id"],
        twin_b.as_str()
    );

    vault.fails(&["agents", "get", "ghost"], "", 4);
    vault.fails(
        &["agents", "get", "00000000-0000-4000-8000-000000000000"],
        "",
        4,
    );
    vault.fails(&["agents", "create", ""], "", 5);
    vault.ok(&["agents", "delete", "support-bot"], "");
    vault.fails(&["agents", "status", "support-bot"], "", 4);
}

#[test]
fn users_do_not_see_each_other() {
    let vault = Vault::new();
    vault.ok(&["--user", "alice", "secrets", "add", "ALICE_ONLY"], "a\n");
    assert_eq!(
        vault.json(&["secrets", "list", "--user", "bob"], ""),
        serde_json::json!([])
    );
    vault
        .cmd()
        .env("AGENT_VAULT_USER", "alice")
        .args(["secrets", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ALICE_ONLY"));
}

#[test]
fn bad_usage_exits_2_and_every_command_has_help() {
    let vault = Vault::new();
    vault.fails(&[], "", 2);
    vault.fails(&["secrets", "frobnicate"], "", 2);
    vault.fails(&["secrets", "add"], "", 2);
    vault.fails(
        &["secrets", "import", "x.env", "--on-conflict", "bogus"],
        "",
        2,
    );
    vault.fails(&["providers", "connect", "acme"], "", 2);
    vault.fails(&["agents", "attach", "bot"], "", 2);
    for args in [
        &["--help"][..],
        &["secrets", "import", "--help"],
        &["agents", "exec", "--help"],
        &["providers", "connect", "--help"],
    ] {
        let out = vault.ok(args, "");
        assert!(
            out.contains("Example:") && out.contains("Exit codes:"),
            "{out}"
        );
    }
}

/// The same vault, but with the keyring given as `AGENT_VAULT_MASTER_KEYS`.
fn with_keys(vault: &Vault, spec: &str, args: &[&str]) -> Output {
    let mut command = vault.cmd();
    command
        .env_remove("AGENT_VAULT_MASTER_KEY")
        .env("AGENT_VAULT_MASTER_KEYS", spec)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn keys_add_promote_rewrap_retire() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "ROTATED"], "rotated-value\n");
    vault.ok(&["providers", "connect", "venice"], "venice-key\n");
    vault.ok(&["agents", "create", "bot"], "");
    vault.ok(
        &["agents", "attach", "bot", "ROTATED", "provider:venice"],
        "",
    );

    // The single-key variable is key 1.
    let one = format!("1:{}", vault.key);
    let listed: Value = serde_json::from_str(&stdout_ok(
        with_keys(&vault, &one, &["keys", "list", "--json"]),
        "keys list",
    ))
    .unwrap();
    assert_eq!(listed[0]["id"], 1);
    assert_eq!(listed[0]["records"], 3);

    let two = stdout_ok(with_keys(&vault, &one, &["keys", "add"]), "keys add");
    let two = two.trim().to_owned();
    assert!(two.starts_with("*1:") && two.contains(",2:"), "{two}");
    let promoted = stdout_ok(
        with_keys(&vault, &two, &["keys", "promote", "2"]),
        "promote",
    );
    let promoted = promoted.trim().to_owned();
    assert!(
        promoted.starts_with("1:") && promoted.contains(",*2:"),
        "{promoted}"
    );

    // Retiring key 1 before the rewrap is a conflict.
    let output = with_keys(&vault, &promoted, &["keys", "retire", "1"]);
    assert_eq!(output.status.code(), Some(3));
    let output = with_keys(&vault, &promoted, &["keys", "rewrap", "--batch-size", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = stdout_ok(output, "rewrap");
    // 3 sealed records re-sealed, of 5 looked at (with the secret's name
    // index entry and the user's key record).
    assert!(stdout.contains("rewrapped 3 of 5 records"), "{stdout}");
    assert!(stderr.contains("rewrap: 5/5 records"), "{stderr}");

    let retired = stdout_ok(
        with_keys(&vault, &promoted, &["keys", "retire", "1"]),
        "retire",
    );
    let retired = retired.trim().to_owned();
    assert!(
        retired.starts_with("*2:") && !retired.contains(','),
        "{retired}"
    );
    // Everything still opens with the new keyring alone.
    let output = with_keys(
        &vault,
        &retired,
        &[
            "agents",
            "exec",
            "bot",
            "--",
            "sh",
            "-c",
            "printf %s \"$ROTATED/$VENICE_API_KEY\"",
        ],
    );
    assert_eq!(stdout_ok(output, "exec"), "rotated-value/venice-key");
    // The vault-wide audit trail has the promotion, the refused early
    // retirement, the rewrap and the retirement, in that order.
    let output = with_keys(&vault, &retired, &["--json", "audit", "--vault"]);
    let events: serde_json::Value = serde_json::from_str(&stdout_ok(output, "audit")).unwrap();
    let actions: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("key-promoted", "done"),
            ("key-retired", "refused"),
            ("rewrapped", "done"),
            ("key-retired", "done")
        ]
    );
    // The primary can't be retired (5), an unknown id is 4 for promote.
    assert_eq!(
        with_keys(&vault, &retired, &["keys", "retire", "2"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(
        with_keys(&vault, &retired, &["keys", "promote", "9"])
            .status
            .code(),
        Some(4)
    );
    // Both variables at once, or a malformed spec, is "not configured".
    let mut both = vault.cmd();
    both.env("AGENT_VAULT_MASTER_KEYS", &retired)
        .args(["keys", "list"]);
    assert_eq!(both.output().unwrap().status.code(), Some(6));
    assert_eq!(
        with_keys(&vault, "1:nope", &["keys", "list"]).status.code(),
        Some(6)
    );
    let shown = String::from_utf8_lossy(&with_keys(&vault, "1:nope", &["keys", "list"]).stderr)
        .into_owned();
    assert!(!shown.contains(&vault.key));
}

#[test]
fn keys_rotate_user_keeps_values() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "S"], "user-secret\n");
    vault.ok(&["agents", "create", "bot"], "");
    vault.ok(&["agents", "attach", "bot", "S"], "");
    let rotated = vault.json(&["keys", "rotate-user"], "");
    assert_eq!(rotated["generation"], 2);
    assert_eq!(rotated["rewrapped"], 2);
    let out = vault.ok(
        &[
            "agents",
            "exec",
            "bot",
            "--",
            "sh",
            "-c",
            "printf %s \"$S\"",
        ],
        "",
    );
    assert_eq!(out, "user-secret");
}

#[test]
fn secrets_history_and_rollback() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "first-value\n");
    vault.ok(&["secrets", "update", "TOKEN"], "second-value\n");
    vault.agent("bot");
    vault.ok(&["agents", "attach", "bot", "TOKEN"], "");

    let history = vault.json(&["secrets", "history", "TOKEN"], "");
    let versions: Vec<(u64, bool)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(2, true), (1, false)]);
    let table = vault.ok(&["secrets", "history", "TOKEN"], "");
    assert!(
        table.contains("VERSION") && table.contains("current"),
        "{table}"
    );
    for shown in [history.to_string(), table] {
        assert!(!shown.contains("first-value") && !shown.contains("second-value"));
    }

    let rolled = vault.json(&["secrets", "rollback", "TOKEN", "1"], "");
    assert_eq!(rolled["version"], 3);
    assert!(
        rolled.get("value").is_none(),
        "a secret's value is never shown"
    );
    assert_eq!(vault.child_env("bot")["TOKEN"], "first-value");

    // The current version: invalid (5); one never kept: not found (4).
    vault.fails(&["secrets", "rollback", "TOKEN", "3"], "", 5);
    vault.fails(&["secrets", "rollback", "TOKEN", "99"], "", 4);
    vault.fails(&["secrets", "history", "NOPE"], "", 4);
}

#[test]
fn agents_create_with_a_manifest_attaches_or_lists_what_is_missing() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TELEGRAM_BOT_TOKEN"], "t\n");
    vault.write(
        "manifest.json",
        r#"{"name": "bot", "secrets": [{"name": "TELEGRAM_BOT_TOKEN"}, {"name": "DISCORD_TOKEN"}, {"name": "OPTIONAL_X", "required": false}]}"#,
    );
    let stderr = vault.fails(
        &["agents", "create", "bot", "--manifest", "manifest.json"],
        "",
        3,
    );
    assert!(
        stderr.contains("DISCORD_TOKEN") && !stderr.contains("OPTIONAL_X"),
        "{stderr}"
    );
    assert_eq!(vault.json(&["agents", "list"], ""), serde_json::json!([]));

    vault.ok(&["secrets", "add", "DISCORD_TOKEN"], "d\n");
    vault.ok(
        &["agents", "create", "bot", "--manifest", "manifest.json"],
        "",
    );
    let agent = vault.json(&["agents", "get", "bot"], "");
    assert_eq!(
        agent["attached"],
        serde_json::json!(["TELEGRAM_BOT_TOKEN", "DISCORD_TOKEN"]),
        "in manifest order"
    );
}

#[test]
fn audit_lists_changes_refusals_and_never_a_value() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "TOKEN"], "audit-canary-value\n");
    vault.fails(&["secrets", "add", "token"], "other-canary\n", 3);
    vault.agent("bot");
    vault.ok(&["agents", "attach", "bot", "TOKEN"], "");
    let events = vault.json(&["audit"], "");
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["item-created", "item-created", "agent-created", "attached"]
    );
    assert_eq!(events[1]["outcome"]["result"], "refused");
    let table = vault.ok(&["audit"], "");
    assert!(
        table.contains("refused (409)") && table.contains("agent:bot"),
        "{table}"
    );
    for shown in [events.to_string(), table] {
        assert!(!shown.contains("canary"), "{shown}");
    }
    let later = vault.json(&["audit", "--since", "2999-01-01T00:00:00Z"], "");
    assert_eq!(later, serde_json::json!([]));
    vault.fails(&["audit", "--since", "yesterday"], "", 2);
}
