//! The workspace the `agent-vault` command tests run in: a directory, a
//! database in it and a master key, and helpers that run the command there.
//! Shared by `tests/cli.rs` and `tests/cli_details.rs`; each uses a part.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_agent-vault");

/// One user's workspace: a directory, a database in it and a master key.
pub struct Vault {
    pub dir: TempDir,
    pub key: String,
}

/// The environment of the test process without this command's own variables.
pub fn clean(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENT_VAULT_") {
            command.env_remove(&name);
        }
    }
    command
}

pub fn keygen() -> String {
    let output = clean(&mut Command::new(BIN))
        .arg("keygen")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Vault {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            key: keygen(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("vault.db")
    }

    /// The command with this vault's database and key, and no stdin.
    pub fn cmd(&self) -> Command {
        let mut command = Command::new(BIN);
        clean(&mut command)
            .current_dir(self.dir.path())
            .env("AGENT_VAULT_DB", self.db())
            .env("AGENT_VAULT_MASTER_KEY", &self.key)
            .write_stdin("");
        command
    }

    /// Runs `args` with `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.cmd().args(args).write_stdin(stdin).output().unwrap()
    }

    /// Runs `args`, expects success, returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "{args:?} failed with {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `args` with `--json`, expects success, parses stdout.
    pub fn json(&self, args: &[&str], stdin: &str) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.ok(&args, stdin);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs `args`, expects exit `code`, returns stderr.
    pub fn fails(&self, args: &[&str], stdin: &str, code: i32) -> String {
        let output = self.run(args, stdin);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        stderr
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates an agent and returns its id and gateway token.
    pub fn agent(&self, name: &str) -> (String, String) {
        let created = self.json(&["agents", "create", name], "");
        (
            created["id"].as_str().unwrap().to_owned(),
            created["gateway_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Runs `env` as `agent`'s child and returns what it printed.
    pub fn child_env(&self, agent: &str) -> BTreeMap<String, String> {
        let out = self.ok(&["agents", "exec", agent, "--", "env"], "");
        out.lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    pub fn status(&self, agent: &str) -> Value {
        self.json(&["agents", "status", agent], "")
    }

    /// Like [`Vault::fails`], also returning standard output.
    pub fn fails_with_output(&self, args: &[&str], stdin: &str, code: i32) -> (String, String) {
        let output = self.run(args, stdin);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        (String::from_utf8(output.stdout).unwrap(), stderr)
    }

    /// The environment a command (`args`, ending in `-- env`) prints.
    pub fn env_of(&self, args: &[&str]) -> BTreeMap<String, String> {
        self.ok(args, "")
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}
