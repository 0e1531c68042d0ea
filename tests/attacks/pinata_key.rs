//! A user secret named `PINATA_LLM_KEY` posing as the host's Pinata
//! inference key. The host generates that key and the agent reads it from
//! `PINATA_LLM_KEY`; a user (or a prompt-injected agent acting through the
//! user's tools) who attaches a secret of that name beside the Pinata
//! connection would decide which key the agent really uses. The variables
//! table makes the name the Pinata credential, so an agent holds at most one
//! of the two.

use std::process::Output;

use assert_cmd::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agent-vault");

fn run(dir: &tempfile::TempDir, key: &str, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENT_VAULT_") {
            command.env_remove(&name);
        }
    }
    command
        .current_dir(dir.path())
        .env("AGENT_VAULT_DB", dir.path().join("vault.db"))
        .env("AGENT_VAULT_MASTER_KEY", key)
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("run agent-vault")
}

#[test]
fn agent_cannot_hold_a_user_pinata_llm_key_beside_the_hosts_pinata_key() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keygen = run(&dir, "", &["keygen"], "");
    assert!(keygen.status.success());
    let key = String::from_utf8(keygen.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned();
    let ok = |args: &[&str], stdin: &str| {
        let output = run(&dir, &key, args, stdin);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    ok(&["providers", "connect", "pinata"], "pk-host-generated\n");
    ok(&["secrets", "add", "PINATA_LLM_KEY"], "pk-user-supplied\n");
    ok(&["agents", "create", "bot"], "");

    // Both at once, in either order: a provider conflict (exit 3).
    let both = run(
        &dir,
        &key,
        &[
            "agents",
            "attach",
            "bot",
            "provider:pinata",
            "PINATA_LLM_KEY",
        ],
        "",
    );
    assert_eq!(
        both.status.code(),
        Some(3),
        "the user's PINATA_LLM_KEY was attached beside the Pinata connection: {}",
        String::from_utf8_lossy(&both.stderr)
    );
    ok(&["agents", "attach", "bot", "PINATA_LLM_KEY"], "");
    let then = run(
        &dir,
        &key,
        &["agents", "attach", "bot", "provider:pinata"],
        "",
    );
    assert_eq!(then.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&then.stderr);
    assert!(stderr.contains("pinata"), "{stderr}");
    assert!(!stderr.contains("pk-"), "{stderr}");
}
