//! Through the command: a mistyped master key changes no record of the
//! database (exit 6, the key named), and the database files are private
//! whatever the umask.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use agent_vault::store::{RecordKind, SqliteStore, Store};
use std::io::Write as _;

const BIN: &str = env!("CARGO_BIN_EXE_agent-vault");

fn keygen() -> String {
    let output = Command::new(BIN).arg("keygen").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Runs the command on `db` with `key`, feeding `stdin`.
fn run(db: &Path, key: &str, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGENT_VAULT_") {
            command.env_remove(&name);
        }
    }
    let mut child = command
        .env("AGENT_VAULT_DB", db)
        .env("AGENT_VAULT_MASTER_KEY", key)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every record of every user, in a fixed order: what the database holds.
async fn dump(db: &Path) -> Vec<(String, String, u64, Vec<u8>)> {
    let store = SqliteStore::open(db).await.unwrap();
    let mut out = Vec::new();
    for user in store.users().await.unwrap() {
        for kind in RecordKind::ALL {
            for record in store.list(&user, kind).await.unwrap() {
                out.push((
                    user.to_string(),
                    record.key.to_string(),
                    record.version.get(),
                    record.body.to_vec(),
                ));
            }
        }
    }
    store.pool().close().await;
    out.sort();
    out
}

#[tokio::test]
async fn every_command_with_a_mistyped_key_changes_no_record_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let right = keygen();
    ok(
        run(&db, &right, &["secrets", "add", "API_TOKEN"], "s3cret"),
        "add",
    );
    ok(
        run(
            &db,
            &right,
            &["secrets", "add", "PUBLIC_URL", "--variable"],
            "https://x",
        ),
        "add variable",
    );
    ok(
        run(&db, &right, &["providers", "connect", "venice"], "vk-1"),
        "connect",
    );
    ok(
        run(&db, &right, &["agents", "create", "bot"], ""),
        "create agent",
    );
    ok(
        run(&db, &right, &["agents", "attach", "bot", "API_TOKEN"], ""),
        "attach",
    );
    let env_file = dir.path().join("import.env");
    std::fs::write(&env_file, "API_TOKEN=z\nFRESH=1\n").unwrap();
    let before = dump(&db).await;

    let wrong = keygen();
    let env_file = env_file.to_str().unwrap();
    let attempts: &[(&[&str], &str)] = &[
        (&["secrets", "add", "NEW"], "x"),
        (&["secrets", "add", "NEW_VAR", "--variable"], "x"),
        (&["secrets", "update", "API_TOKEN"], "y"),
        (&["secrets", "delete", "PUBLIC_URL"], ""),
        (
            &["secrets", "import", env_file, "--on-conflict", "overwrite"],
            "",
        ),
        (&["providers", "connect", "openai"], "sk-x"),
        (&["providers", "disconnect", "venice"], ""),
        (&["agents", "create", "other"], ""),
        (&["agents", "attach", "bot", "PUBLIC_URL"], ""),
        (&["agents", "detach", "bot", "API_TOKEN"], ""),
        (&["agents", "token", "rotate", "bot"], ""),
        (&["agents", "delete", "bot"], ""),
        (&["keys", "rotate-user"], ""),
        (&["keys", "rewrap"], ""),
        // Reads that open a sealed value say why, too.
        (&["agents", "token", "show", "bot"], ""),
        (&["agents", "exec", "bot", "--", "true"], ""),
    ];
    for (args, stdin) in attempts {
        let output = run(&db, &wrong, args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(6),
            "{args:?} with a wrong key: {stderr}"
        );
        assert!(
            stderr.contains("master key 1 does not match this vault"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        dump(&db).await == before,
        "a command with a wrong master key changed the database"
    );
    let shown = ok(
        run(&db, &right, &["agents", "token", "show", "bot"], ""),
        "the right key still works",
    );
    assert!(shown.starts_with("avgt_"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn database_files_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let key = keygen();
    // The command under the usual umask 022, which would give 0644.
    let output = Command::new("sh")
        .args(["-c", r#"umask 022; printf v | "$0" "$@""#, BIN])
        .args(["secrets", "add", "PUBLIC_URL", "--variable"])
        .env("AGENT_VAULT_DB", &db)
        .env("AGENT_VAULT_MASTER_KEY", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(output, "add under umask 022");
    assert_eq!(mode(&db), 0o600, "the database file is readable by others");

    // While a connection holds the database open in WAL mode, its `-wal`
    // and `-shm` files exist: they get the database file's mode.
    let store = SqliteStore::open(&db).await.unwrap();
    ok(
        run(&db, &key, &["secrets", "add", "OTHER", "--variable"], "w"),
        "add while open",
    );
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join(format!("vault.db{suffix}"));
        assert_eq!(mode(&companion), 0o600, "{suffix} is readable by others");
    }
    store.pool().close().await;

    // A database created before this fix, world-readable, is narrowed.
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(
        run(&old, &key, &["secrets", "add", "A", "--variable"], "v"),
        "add to an old file",
    );
    assert_eq!(mode(&old), 0o600);
}
