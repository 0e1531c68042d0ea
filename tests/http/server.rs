//! `agent-vault serve` as a child process on `127.0.0.1:0`, and a client for
//! it: the black-box harness of the HTTP tests.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_agent-vault");

/// Where the vault lives: a SQLite file or the shared PostgreSQL server.
#[derive(Clone, Debug)]
pub struct Db {
    /// `--db`: a path or a `postgres://` URL.
    pub arg: String,
    /// The master key of the database (one database, one key: the vault
    /// refuses another, `Error::KeyMismatch`).
    pub key: String,
    /// Keeps a SQLite file's directory alive.
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Db {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let arg = dir.path().join("vault.db").display().to_string();
        Self {
            arg,
            key: keygen(),
            _dir: Some(Arc::new(dir)),
        }
    }

    /// The shared throwaway server of `tests/support/pg.rs`, by URL (its
    /// Unix socket as the `host` parameter).
    pub fn postgres() -> Self {
        let server = crate::support::pg::PgServer::shared();
        let arg = format!(
            "postgres://postgres@localhost:5432/{}?host={}",
            crate::support::pg::DATABASE,
            server.socket_dir().display()
        );
        static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(keygen).clone();
        Self {
            arg,
            key,
            _dir: None,
        }
    }
}

/// A master key made by the command itself.
pub fn keygen() -> String {
    let output = clean(&mut Command::new(BIN))
        .arg("keygen")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The environment of the test process without this command's variables.
pub fn clean(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENT_VAULT_") {
            command.env_remove(&name);
        }
    }
    command
}

/// A unique user id, so tests sharing one PostgreSQL database never meet.
pub fn unique_user(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A running `agent-vault serve`.
pub struct Server {
    child: Child,
    pub base: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `serve` on `db` with `master_key` (none: "not configured") and
    /// `api_keys` (`KEY=USER,…`), and waits for its `listening on` line.
    pub fn start(db: &Db, master_key: Option<&str>, api_keys: &str) -> Self {
        let mut command = Command::new(BIN);
        clean(&mut command)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("AGENT_VAULT_DB", &db.arg)
            .env("AGENT_VAULT_API_KEYS", api_keys)
            .env("AGENT_VAULT_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(key) = master_key {
            command.env("AGENT_VAULT_MASTER_KEY", key);
        }
        let mut child = command.spawn().expect("start agent-vault serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let base = match line.trim().strip_prefix("listening on ") {
            Some(base) => base.to_owned(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "serve did not start: stdout {line:?}, stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Self {
            child,
            base,
            stderr,
        }
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for the exit (at most 30 s).
    pub fn stop(mut self) -> ExitStatus {
        self.terminate();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client acting with `auth` (`Authorization: Bearer …`), or none.
    pub fn client(&self, auth: Option<&str>) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            auth: auth.map(str::to_owned),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of one server, with one credential.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: Option<String>,
}

/// An answer: its status and its body as JSON (every answer is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "answer: {}", self.text);
        self.body
    }

    /// Asserts an error status and `{"error": error}`.
    #[track_caller]
    pub fn expect_error(self, status: u16, error: &str) -> Value {
        let body = self.expect(status);
        assert_eq!(body["error"], error, "{body}");
        body
    }
}

impl Client {
    /// The same server with another credential.
    pub fn with_auth(&self, auth: Option<&str>) -> Self {
        Self {
            auth: auth.map(str::to_owned),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            request = request.bearer_auth(auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a secret (or variable) and returns its id.
    pub async fn secret(&self, name: &str, value: &str, kind: &str) -> String {
        let body = self
            .post(
                "/v0/secrets",
                serde_json::json!({"name": name, "value": value, "type": kind}),
            )
            .await
            .expect(201);
        body["secret"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates an agent and returns its id and gateway token.
    pub async fn agent(&self, name: &str, secret_ids: &[&str]) -> (String, String) {
        let body = self
            .post(
                "/v0/agents",
                serde_json::json!({"name": name, "secretIds": secret_ids}),
            )
            .await
            .expect(201);
        (
            body["agent"]["id"].as_str().unwrap().to_owned(),
            body["agent"]["gatewayToken"].as_str().unwrap().to_owned(),
        )
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: the body is not JSON: {text:?}"));
    Answer { status, body, text }
}

/// Runs the command on `db` as `user` with `key`, and returns its output.
pub fn cli(db: &Db, key: &str, user: &str, args: &[&str]) -> std::process::Output {
    clean(&mut Command::new(BIN))
        .env("AGENT_VAULT_DB", &db.arg)
        .env("AGENT_VAULT_MASTER_KEY", key)
        .env("AGENT_VAULT_USER", user)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}
