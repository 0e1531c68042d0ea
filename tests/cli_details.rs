//! The `agent-vault` command's product details (issue #14): Pinata's
//! inference key, the gateway-token variable, the familiar aliases,
//! `secrets export`, Codex's own auth.json, `.env` values over 64 KiB and
//! `agents check` against a manifest.
#![cfg(feature = "cli")]

use serde_json::Value;

#[path = "support/cli_vault.rs"]
mod cli_vault;

use cli_vault::Vault;

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

#[test]
fn pinata_connects_with_the_hosts_key_on_stdin_and_the_agent_sees_pinata_llm_key() {
    let vault = Vault::new();
    // No key on standard input: refused, nothing connected.
    vault.fails_with_output(&["providers", "connect", "pinata"], "", 5);
    // Never on the command line: there is no flag for it.
    vault.fails_with_output(&["providers", "connect", "pinata", "pk-CANARY"], "", 2);
    let connected = vault.json(&["providers", "connect", "pinata"], "pk-CANARY-1\n");
    assert_eq!(
        connected["variables"],
        serde_json::json!(["PINATA_LLM_KEY"])
    );
    assert_eq!(connected["id"], "pinata:hosted");
    assert!(!vault.ok(&["providers", "list"], "").contains("CANARY"));
    vault.ok(&["agents", "create", "bot"], "");
    vault.ok(&["agents", "attach", "bot", "provider:pinata"], "");
    let env = vault.env_of(&["agents", "exec", "bot", "--", "env"]);
    assert_eq!(
        env.get("PINATA_LLM_KEY").map(String::as_str),
        Some("pk-CANARY-1")
    );
    assert!(!env.contains_key("PINATA_HOSTED_INFERENCE"));
}

#[test]
fn the_gateway_token_variable_is_chosen_by_flag_or_environment() {
    let vault = Vault::new();
    let created = vault.json(&["agents", "create", "bot"], "");
    let token = created["gateway_token"].as_str().unwrap().to_owned();

    let default = vault.env_of(&["agents", "exec", "bot", "--", "env"]);
    assert_eq!(default.get("OPENCLAW_GATEWAY_TOKEN"), Some(&token));
    assert!(!default.contains_key("GATEWAY_TOKEN"));

    let flag = vault.env_of(&[
        "--gateway-token-var",
        "GATEWAY_TOKEN",
        "agents",
        "exec",
        "bot",
        "--",
        "env",
    ]);
    assert_eq!(flag.get("GATEWAY_TOKEN"), Some(&token));
    assert!(!flag.contains_key("OPENCLAW_GATEWAY_TOKEN"));

    let output = vault
        .cmd()
        .env("AGENT_VAULT_GATEWAY_TOKEN_VAR", "GATEWAY_TOKEN")
        .args(["agents", "exec", "bot", "--", "env"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!("\nGATEWAY_TOKEN={token}\n"))
            || text.starts_with(&format!("GATEWAY_TOKEN={token}\n"))
    );
    assert!(!text.contains("OPENCLAW_GATEWAY_TOKEN="));
    // The setting itself is not passed on (AGENT_VAULT_* never are).
    assert!(!text.contains("AGENT_VAULT_GATEWAY_TOKEN_VAR"));

    // The chosen variable is reserved: no secret may shadow it.
    vault.fails_with_output(
        &[
            "--gateway-token-var",
            "GATEWAY_TOKEN",
            "secrets",
            "add",
            "GATEWAY_TOKEN",
        ],
        "x",
        5,
    );
    // Not a variable name: a usage error.
    vault.fails_with_output(
        &["--gateway-token-var", "GATEWAY-TOKEN", "agents", "list"],
        "",
        2,
    );
}

#[test]
fn the_familiar_aliases_work_and_values_still_come_from_stdin() {
    let vault = Vault::new();
    vault.ok(&["sec", "create", "A_TOKEN"], "a\n");
    vault.ok(&["sec", "c", "B_URL", "--variable"], "https://b\n");
    vault.ok(&["secrets", "add", "C_KEY"], "c\n");
    assert_eq!(
        names(&vault.json(&["sec", "l"], "")),
        ["A_TOKEN", "B_URL", "C_KEY"]
    );
    let updated = vault.json(&["sec", "u", "A_TOKEN"], "a2\n");
    assert_eq!(updated["version"], 2);
    vault.ok(&["sec", "d", "C_KEY"], "");
    assert_eq!(
        names(&vault.json(&["secrets", "list"], "")),
        ["A_TOKEN", "B_URL"]
    );
    vault.ok(&["agents", "create", "bot"], "");
    let attached = vault.json(&["agents", "a", "bot", "A_TOKEN", "B_URL"], "");
    assert_eq!(
        attached["attached"],
        serde_json::json!(["A_TOKEN", "B_URL"])
    );
    // A value is never an argument, whichever name the command goes by.
    vault.fails_with_output(&["sec", "c", "D_KEY", "value-on-the-line"], "", 2);
    vault.fails_with_output(&["sec", "u", "A_TOKEN", "value-on-the-line"], "", 2);
    // The aliases are listed in --help.
    let help = vault.ok(&["secrets", "--help"], "");
    assert!(
        help.contains("create") && help.contains("[aliases: "),
        "{help}"
    );
}

#[test]
fn secrets_export_writes_variables_only_as_dotenv() {
    let vault = Vault::new();
    vault.ok(&["secrets", "add", "API_TOKEN"], "CANARY-secret\n");
    vault.ok(
        &["secrets", "add", "PUBLIC_URL", "--variable"],
        "https://x.example/a b\n",
    );
    vault.ok(
        &["secrets", "add", "GREETING", "--variable"],
        "it's \"$HOME\"\n",
    );
    let text = vault.ok(&["secrets", "export"], "");
    assert!(
        !text.contains("CANARY") && !text.contains("API_TOKEN"),
        "{text}"
    );
    // It is .env text that parses back to the same values.
    let parsed = agent_vault::dotenv::parse(text.as_bytes()).unwrap();
    let pairs: Vec<(&str, &str)> = parsed
        .entries()
        .iter()
        .map(|e| (e.name(), e.value()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("GREETING", "it's \"$HOME\""),
            ("PUBLIC_URL", "https://x.example/a b")
        ]
    );

    let written = vault.json(&["secrets", "export", "--output", "vars.env"], "");
    assert_eq!(written["variables"], 2);
    let path = vault.dir.path().join("vars.env");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // And imports back as variables into another vault.
    let other = Vault::new();
    let file = other.write("in.env", &text);
    other.ok(
        &["secrets", "import", file.to_str().unwrap(), "--variables"],
        "",
    );
    assert_eq!(other.ok(&["secrets", "export"], ""), text);
    // --json without --output would mix JSON into the .env text.
    vault.fails_with_output(&["secrets", "export", "--json"], "", 2);
}

/// A JWT whose payload is `payload` (unsigned: only its `exp` is read).
fn jwt(payload: &str) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(payload)
    )
}

#[test]
fn codex_connects_from_the_codex_clis_own_auth_json() {
    let vault = Vault::new();
    let access =
        jwt(r#"{"exp":1893456000,"https://api.openai.com/auth":{"chatgpt_plan_type":"plus"}}"#);
    let auth_json = format!(
        r#"{{
  "OPENAI_API_KEY": null,
  "tokens": {{
    "id_token": "{id}",
    "access_token": "{access}",
    "refresh_token": "rt-CANARY-1",
    "account_id": "acc-123"
  }},
  "last_refresh": "2029-12-25T10:00:00.000000Z"
}}"#,
        id = jwt(r#"{"email":"a@example.com"}"#)
    );
    let file = vault.write("auth.json", &auth_json);
    let connected = vault.json(
        &[
            "providers",
            "connect",
            "openai",
            "--codex-oauth",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(connected["id"], "openai:codex-subscription");
    vault.ok(&["agents", "create", "bot"], "");
    vault.ok(
        &[
            "agents",
            "attach",
            "bot",
            "provider:openai:codex-subscription",
        ],
        "",
    );
    let env = vault.env_of(&["agents", "exec", "bot", "--", "env"]);
    let bundle: Value = serde_json::from_str(&env["OPENAI_OAUTH_TOKEN"]).unwrap();
    assert_eq!(bundle["access_token"], access);
    assert_eq!(bundle["refresh_token"], "rt-CANARY-1");
    assert_eq!(bundle["expires_at"], "2030-01-01T00:00:00Z");

    // An auth.json from an API-key login has no tokens: refused, not echoed.
    let api_key_login = vault.write(
        "apikey.json",
        r#"{"OPENAI_API_KEY": "sk-CANARY-2", "tokens": null}"#,
    );
    let (_, stderr) = vault.fails_with_output(
        &[
            "providers",
            "connect",
            "openai",
            "--codex-oauth",
            api_key_login.to_str().unwrap(),
        ],
        "",
        5,
    );
    assert!(
        stderr.contains("apikey.json") && !stderr.contains("CANARY"),
        "{stderr}"
    );
}

#[test]
fn dotenv_values_over_64_kib_parse_and_import_refuses_them_by_key() {
    let vault = Vault::new();
    let big = "v".repeat(100 * 1024);
    let file = vault.write("big.env", &format!("SMALL=1\nBIG_BLOB=CANARY{big}\n"));
    let path = file.to_str().unwrap();
    let parsed: Value = serde_json::from_str(&vault.ok(&["dotenv", "parse", path], "")).unwrap();
    assert_eq!(
        parsed["BIG_BLOB"].as_str().map(str::len),
        Some(6 + big.len())
    );

    let (_, stderr) = vault.fails_with_output(&["secrets", "import", path], "", 5);
    assert!(stderr.contains("big.env:2:1: BIG_BLOB"), "{stderr}");
    assert!(
        !stderr.contains("CANARY") && !stderr.contains("vvvv"),
        "{stderr}"
    );
    // Nothing was stored, not even the small one.
    assert_eq!(vault.json(&["secrets", "list"], ""), serde_json::json!([]));

    // A vertical tab or form feed after a value is trimmed.
    let file = vault.write("vt.env", "A=abc\x0b\nB=def \x0c\n");
    let parsed: Value =
        serde_json::from_str(&vault.ok(&["dotenv", "parse", file.to_str().unwrap()], "")).unwrap();
    assert_eq!(parsed, serde_json::json!({"A": "abc", "B": "def"}));
}

#[test]
fn agents_check_exits_0_only_when_every_required_name_is_attached() {
    let vault = Vault::new();
    let manifest = vault.write(
        "manifest.json",
        r#"{"name": "bot", "secrets": [
            {"name": "OPENROUTER_API_KEY"},
            {"name": "TELEGRAM_BOT_TOKEN", "description": "BotFather token", "required": false},
            {"name": "DB_URL"}
        ]}"#,
    );
    let manifest = manifest.to_str().unwrap();
    vault.ok(&["agents", "create", "bot"], "");
    vault.ok(&["providers", "connect", "openrouter"], "sk-or-1\n");

    let (stdout, stderr) =
        vault.fails_with_output(&["agents", "check", "bot", "--manifest", manifest], "", 3);
    assert!(
        stdout.contains("OPENROUTER_API_KEY") && stdout.contains("not-attached"),
        "{stdout}"
    );
    assert!(stdout.contains("provider:openrouter:api-key"), "{stdout}");
    assert!(stderr.contains("OPENROUTER_API_KEY DB_URL"), "{stderr}");

    let (stdout, _) = vault.fails_with_output(
        &["agents", "check", "bot", "--manifest", manifest, "--json"],
        "",
        3,
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["satisfied"], false);
    let states: Vec<(&str, &str, bool)> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["state"].as_str().unwrap(),
                e["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("OPENROUTER_API_KEY", "not-attached", true),
            ("TELEGRAM_BOT_TOKEN", "missing", false),
            ("DB_URL", "missing", true),
        ]
    );

    vault.ok(&["secrets", "add", "DB_URL"], "postgres://x\n");
    vault.ok(
        &["agents", "attach", "bot", "DB_URL", "provider:openrouter"],
        "",
    );
    let report = vault.json(&["agents", "check", "bot", "--manifest", manifest], "");
    assert_eq!(report["satisfied"], true);
    assert_eq!(report["entries"][1]["state"], "missing");

    // A bad manifest is invalid input naming the file and where.
    let bad = vault.write("bad.json", "{\"secrets\": [{\"name\": \"1X\"}]}");
    let (_, stderr) = vault.fails_with_output(
        &[
            "agents",
            "check",
            "bot",
            "--manifest",
            bad.to_str().unwrap(),
        ],
        "",
        5,
    );
    assert!(
        stderr.contains("bad.json") && stderr.contains("1X"),
        "{stderr}"
    );
    let broken = vault.write("broken.json", "{\"secrets\": [\n  {\"name\": 7}\n]}");
    let (_, stderr) = vault.fails_with_output(
        &[
            "agents",
            "check",
            "bot",
            "--manifest",
            broken.to_str().unwrap(),
        ],
        "",
        5,
    );
    assert!(stderr.contains("line 2"), "{stderr}");
    vault.fails_with_output(
        &["agents", "check", "nobody", "--manifest", manifest],
        "",
        4,
    );
}
