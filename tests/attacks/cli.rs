//! The `agent-vault` command against a prompt-injected agent running as the
//! same user as the vault: whatever it reads of `/proc` (the environment,
//! command line and memory of its parent, of itself, of every process it can
//! see), it never finds the master key.
//!
//! Root can read any process's `/proc` files whatever that process does, so
//! when these tests run as root (as CI does) every vault command and every
//! attacker runs as the unprivileged user `nobody` (`runuser -u nobody`), in
//! a directory handed to that user. As any other user they run as that user.
//! Either way the vault, its agent and the attacker share one uid, as in a
//! real deployment.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agent-vault");
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SECRET: &str = "attached-secret-value-7f3a";

/// Prints what a same-user attacker can read of process `$1` (`$PPID` by
/// default): its environment, command line and the base64-like words of its
/// stack and heap (read through `/proc/PID/mem`).
const READ_PROCESS: &str = r#"
p=${1:-$PPID}
echo "--- environ of $p"; cat /proc/$p/environ 2>/dev/null; echo
echo "--- cmdline of $p"; cat /proc/$p/cmdline 2>/dev/null; echo
echo "--- memory of $p"
grep -E '\[(stack|heap)\]' /proc/$p/maps 2>/dev/null | while read -r range rest; do
  start=$((0x${range%-*})); end=$((0x${range#*-}))
  dd if=/proc/$p/mem bs=4096 skip=$((start / 4096)) count=$(((end - start) / 4096)) 2>/dev/null \
    | grep -aoE '[A-Za-z0-9+/]{43}='
done
echo
"#;

/// Where the vault commands run, as whom.
struct Sandbox {
    dir: tempfile::TempDir,
    as_nobody: bool,
    /// The binary nobody runs: a link or copy in `dir`, since the build
    /// directory may sit where nobody cannot reach (under /root).
    bin: String,
}

impl Sandbox {
    fn new() -> Self {
        let as_nobody = is_root();
        let dir = tempfile::Builder::new()
            .prefix("agent-vault-attack-")
            .tempdir_in("/tmp")
            .expect("create a temp dir");
        let mut bin = BIN.to_owned();
        if as_nobody {
            chown_nobody(dir.path());
            let copy = dir.path().join("agent-vault");
            if std::fs::hard_link(BIN, &copy).is_err() {
                std::fs::copy(BIN, &copy).expect("copy the agent-vault binary");
            }
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
                .expect("chmod the binary");
            bin = copy.to_str().expect("UTF-8 path").to_owned();
            let status = Command::new("runuser")
                .args(["-u", "nobody", "--", "test", "-x", &bin])
                .status()
                .expect("run runuser (`apt-get install util-linux`)");
            assert!(
                status.success(),
                "the user nobody cannot execute {bin} (is /tmp mounted noexec?)"
            );
        }
        Self {
            dir,
            as_nobody,
            bin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `program` as the sandbox's user, with `PATH` and `vars` as its whole
    /// environment. Under runuser the variables are runuser's environment
    /// (a root process: unreadable by nobody), never its command line.
    fn command(&self, program: &str, vars: &[(&str, &str)]) -> Command {
        let mut command = if self.as_nobody {
            let mut command = Command::new("runuser");
            command.args(["-u", "nobody", "--", program]);
            command
        } else {
            Command::new(program)
        };
        command
            .env_clear()
            .env("PATH", PATH)
            .current_dir(self.dir.path());
        for (name, value) in vars {
            command.env(name, value);
        }
        command
    }

    /// Runs the vault with `vars` and `args`, `stdin` as its input.
    fn vault(&self, vars: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(&self.bin, vars)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run agent-vault");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait for agent-vault")
    }

    /// Runs the vault, expects success, returns stdout.
    fn ok(&self, vars: &[(&str, &str)], args: &[&str], stdin: &str) -> String {
        let output = self.vault(vars, args, stdin);
        assert!(
            output.status.success(),
            "{args:?} failed with {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Writes a file owned by the sandbox's user with `mode`.
    fn write_file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write a file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if self.as_nobody {
            chown_nobody(&path);
        }
        path
    }

    /// A vault with `SECRET` attached to agent `bot`.
    fn vault_with_agent(&self, key_vars: &[(&str, &str)]) {
        self.ok(key_vars, &["secrets", "add", "BOT_TOKEN"], SECRET);
        self.ok(key_vars, &["agents", "create", "bot"], "");
        self.ok(key_vars, &["agents", "attach", "bot", "BOT_TOKEN"], "");
    }
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run `id -u`");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn chown_nobody(path: &Path) {
    let status = Command::new("chown")
        .arg("nobody:")
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown nobody {}", path.display());
}

fn keygen() -> String {
    let output = Command::new(BIN)
        .env_clear()
        .arg("keygen")
        .output()
        .expect("run keygen");
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).expect("UTF-8 key");
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 44, "{key}");
    key
}

/// The agent's attack: everything the child of `agents exec` can read of
/// its parent, itself and every process it sees.
fn attack_script(with_parent_memory: bool) -> String {
    let memory = if with_parent_memory {
        format!("read_process() {{ {READ_PROCESS}\n}}\nread_process")
    } else {
        String::new()
    };
    format!(
        r#"printf 'secret:%s\n' "$BOT_TOKEN"
echo "--- parent $PPID environ"; cat /proc/$PPID/environ 2>/dev/null; echo
echo "--- parent cmdline"; cat /proc/$PPID/cmdline 2>/dev/null; echo
echo "--- parent mem"; head -c 100 /proc/$PPID/mem 2>/dev/null; echo
echo "--- self environ"; cat /proc/self/environ 2>/dev/null; echo
echo "--- every process"
for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; echo; done
{memory}
echo "--- attack done"
"#
    )
}

/// The section headers of the attack's output and the lines holding
/// `needle` (the whole output lists every process on the machine).
fn leaks(output: &str, needle: &str) -> String {
    output
        .lines()
        .filter(|line| line.starts_with("---") || line.contains(needle))
        .map(|line| line.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the attack as agent `bot` and checks the key never shows up, the
/// agent got its secret and the deployment was recorded.
fn agent_attack_finds_no_key(sandbox: &Sandbox, vars: &[(&str, &str)], key: &str) {
    sandbox.vault_with_agent(vars);
    // As root the parent after exec is runuser (root-owned); otherwise it is
    // this test process, which holds the key itself to check the output, so
    // its memory is left out.
    let script = attack_script(sandbox.as_nobody);
    let output = sandbox.vault(
        vars,
        &["agents", "exec", "bot", "--", "sh", "-c", &script],
        "",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exec failed with {:?}: {stderr}",
        output.status.code()
    );
    // The attack ran to its end, with the agent's own environment.
    assert!(
        stdout.contains(&format!("secret:{SECRET}\n")),
        "the agent did not get its secret:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("--- attack done"), "{stdout}");
    assert!(
        stdout.contains("--- every process"),
        "the attack did not run: {stdout}"
    );
    assert!(
        !stdout.contains(key) && !stderr.contains(key),
        "the agent read the master key:\n{}",
        leaks(&stdout, key)
    );
    // Other tests of this binary run their own sandboxes at the same time,
    // and a root-owned `runuser` wrapper's command line is world-readable:
    // lines that name another sandbox's directory are theirs, not a leak of
    // this agent's parent.
    let own = sandbox.dir.path().display().to_string();
    let ours: String = stdout
        .lines()
        .filter(|line| line.contains(&own) || !line.contains("agent-vault-attack-"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !ours.contains("AGENT_VAULT_"),
        "{}",
        leaks(&ours, "AGENT_VAULT_")
    );
    // The deployment was recorded before the process became the agent.
    let status = sandbox.ok(vars, &["agents", "status", "bot"], "");
    assert!(status.contains("restart needed: no"), "{status}");
    assert!(status.contains("synced"), "{status}");
}

#[test]
fn agent_cannot_read_master_key_from_parent_proc() {
    let sandbox = Sandbox::new();
    let key = keygen();
    let db = sandbox.path("vault.db");
    let db = db.to_str().expect("UTF-8 path");
    let vars = [
        ("AGENT_VAULT_DB", db),
        ("AGENT_VAULT_MASTER_KEY", key.as_str()),
    ];
    agent_attack_finds_no_key(&sandbox, &vars, &key);
}

#[test]
fn agent_cannot_read_master_key_given_in_a_key_file() {
    let sandbox = Sandbox::new();
    let key = keygen();
    let file = sandbox.write_file("master.key", &format!("{key}\n"), 0o600);
    let db = sandbox.path("vault.db");
    let vars = [
        ("AGENT_VAULT_DB", db.to_str().expect("UTF-8 path")),
        (
            "AGENT_VAULT_MASTER_KEY_FILE",
            file.to_str().expect("UTF-8 path"),
        ),
    ];
    agent_attack_finds_no_key(&sandbox, &vars, &key);
}

#[test]
fn agent_cannot_read_keyring_given_in_a_keys_file() {
    let sandbox = Sandbox::new();
    let (one, two) = (keygen(), keygen());
    let file = sandbox.write_file("keyring", &format!("1:{one},*2:{two}\n"), 0o600);
    let db = sandbox.path("vault.db");
    let vars = [
        ("AGENT_VAULT_DB", db.to_str().expect("UTF-8 path")),
        (
            "AGENT_VAULT_MASTER_KEYS_FILE",
            file.to_str().expect("UTF-8 path"),
        ),
    ];
    agent_attack_finds_no_key(&sandbox, &vars, &two);
    let script = attack_script(sandbox.as_nobody);
    let output = sandbox.vault(
        &vars,
        &["agents", "exec", "bot", "--", "sh", "-c", &script],
        "",
    );
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains(&one));
}

#[test]
fn same_user_process_cannot_read_the_running_vault() {
    let sandbox = Sandbox::new();
    let key = keygen();
    let db = sandbox.path("vault.db");
    let vars = [
        ("AGENT_VAULT_DB", db.to_str().expect("UTF-8 path")),
        ("AGENT_VAULT_MASTER_KEY", key.as_str()),
    ];
    // A control: a dumpable process of the same user, with a canary in its
    // environment, that the attacker must be able to read.
    let canary = "control-canary-91c2";
    let mut control = sandbox
        .command("sleep", &[("CONTROL_CANARY", canary)])
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("run sleep");
    // The vault waits for a value on standard input, holding the key.
    let mut running = sandbox
        .command(&sandbox.bin, &vars)
        .args(["secrets", "add", "WAITING"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run agent-vault");
    let vault = child_pid(&sandbox, &running);
    let sleeper = child_pid(&sandbox, &control);
    // The database exists once the vault has opened it: past the start of
    // main, where it hardens itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db.exists() {
        assert!(
            Instant::now() < deadline,
            "the vault never opened its database"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = format!(
        "read_process() {{ {READ_PROCESS}\n}}\nread_process {vault}\nread_process {sleeper}\necho '--- attack done'"
    );
    let attack = sandbox
        .command("sh", &[])
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("run the attacker");
    drop(running.stdin.take());
    let _ = running.wait();
    let _ = control.kill();
    let _ = control.wait();
    let stdout = String::from_utf8_lossy(&attack.stdout);
    assert!(stdout.contains("--- attack done"), "{stdout}");
    assert!(
        stdout.contains(canary),
        "the attacker cannot read even a plain same-user process, so this proves nothing:\n{stdout}"
    );
    assert!(
        !stdout.contains(&key),
        "a same-user process read the master key from the running vault:\n{}",
        leaks(&stdout, &key)
    );
}

/// The pid of the program `spawned` runs: itself, or runuser's child once
/// that has become the program.
fn child_pid(sandbox: &Sandbox, spawned: &Child) -> u32 {
    if !sandbox.as_nobody {
        return spawned.id();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces.
            let Some((head, tail)) = stat.rsplit_once(") ") else {
                continue;
            };
            let ppid = tail.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(spawned.id()) && !head.ends_with("(runuser") {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "the program never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}
