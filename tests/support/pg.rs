//! A throwaway PostgreSQL server for tests and benches.
//!
//! [`PgServer::start`] finds `initdb` and `pg_ctl` (on `PATH`, else the
//! newest `/usr/lib/postgresql/*/bin`), initialises a cluster in a fresh
//! temporary directory, starts it listening only on a Unix socket in that
//! directory (`listen_addresses = ''`), creates the database [`DATABASE`]
//! and stops it when dropped. PostgreSQL refuses to run as root, so when the
//! tests run as root (as CI does) every server command runs as the
//! `postgres` user (`runuser -u postgres --`, or `su postgres`), with the
//! directory handed to that user.
//!
//! A watchdog shell stops the server and removes the directory when the
//! test process exits, so a server held in a `static` (never dropped) or
//! left by a panicking test does not outlive its tests.
//!
//! Missing binaries fail the test with instructions; they never skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The database every server gets.
pub const DATABASE: &str = "vault";

/// The superuser initdb creates (trust authentication on the socket).
const SUPERUSER: &str = "postgres";

/// The port: only names the socket file, nothing listens on TCP.
const PORT: u16 = 5432;

/// A running throwaway server.
pub struct PgServer {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
}

impl PgServer {
    /// Initialises and starts a server; panics with instructions if
    /// PostgreSQL is not installed.
    pub fn start() -> Self {
        let bin = find_bin_dir();
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("agent-vault-pg-")
            .tempdir_in("/tmp")
            .expect("create a temp dir for PostgreSQL");
        let root = dir.path().to_path_buf();
        let server = Self {
            dir: Some(dir),
            root,
            bin,
            run_as_postgres,
        };
        if run_as_postgres {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(&server.root)
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "chown the PostgreSQL dir to the `postgres` user (is the `postgresql` package installed? `apt-get install postgresql`)"
            );
        }
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let settings = format!(
            "\n# agent-vault test server\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\nshared_buffers = 64MB\n",
            server.root.display()
        );
        append(&data.join("postgresql.conf"), &settings);
        server.spawn_watchdog();
        let log = server.root.join("server.log");
        server.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        server.run(
            "createdb",
            &[
                "-h",
                path_str(&server.root),
                "-p",
                &PORT.to_string(),
                "-U",
                SUPERUSER,
                DATABASE,
            ],
        );
        server
    }

    /// A server shared by every test of this process, started on first use
    /// and stopped by the watchdog when the process exits.
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<PgServer> = OnceLock::new();
        SERVER.get_or_init(PgServer::start)
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// Options to connect to [`DATABASE`] over the socket.
    pub fn options(&self) -> PgConnectOptions {
        options_for(&self.root)
    }

    /// A fresh pool of up to `connections` connections.
    pub async fn pool(&self, connections: u32) -> PgPool {
        pool_for(&self.root, connections).await
    }

    /// The `bin` directory of the server's installation (for `pg_dump`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Runs one of the installation's tools, as `postgres` when root, and
    /// returns its standard output; panics with its output if it fails.
    pub fn run(&self, tool: &str, args: &[&str]) -> Vec<u8> {
        let program = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            if !has_runuser() {
                // `su` takes one shell line: quote every word.
                let mut line = shell_quote(path_str(&program));
                for arg in args {
                    line.push(' ');
                    line.push_str(&shell_quote(arg));
                }
                command = Command::new("su");
                command.args(["postgres", "-s", "/bin/sh", "-c", &line]);
                return finish(command, tool, &self.root);
            }
            command
        } else {
            Command::new(&program)
        };
        command.args(args);
        finish(command, tool, &self.root)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn stop_line(&self) -> String {
        let pg_ctl = shell_quote(path_str(&self.bin.join("pg_ctl")));
        let data = shell_quote(path_str(&self.data_dir()));
        let stop = format!("{pg_ctl} -D {data} -m immediate -w stop");
        if self.run_as_postgres {
            format!("su postgres -s /bin/sh -c {}", shell_quote(&stop))
        } else {
            stop
        }
    }

    /// A shell that waits for this process to end, then stops the server
    /// and removes its directory.
    fn spawn_watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            stop = self.stop_line(),
            dir = shell_quote(path_str(&self.root)),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the PostgreSQL watchdog");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_line()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// Options to connect to [`DATABASE`] through the socket in `socket_dir`.
pub fn options_for(socket_dir: &Path) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(socket_dir)
        .port(PORT)
        .username(SUPERUSER)
        .database(DATABASE)
}

/// A fresh pool to the server whose socket is in `socket_dir`.
pub async fn pool_for(socket_dir: &Path, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(options_for(socket_dir))
        .await
        .expect("connect to the test PostgreSQL server")
}

fn finish(mut command: Command, tool: &str, root: &Path) -> Vec<u8> {
    // Output goes to files, not pipes: `pg_ctl start` leaves a server
    // running that must not hold our pipes open.
    let out_path = root.join(format!("{tool}.out"));
    let err_path = root.join(format!("{tool}.err"));
    let out = std::fs::File::create(&out_path).expect("create an output file");
    let err = std::fs::File::create(&err_path).expect("create an output file");
    let status = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir(root)
        .status()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    if !status.success() {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
        panic!(
            "{tool} failed ({status}):\n{}\n{stderr}\nserver log:\n{log}",
            String::from_utf8_lossy(&stdout)
        );
    }
    stdout
}

fn find_bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file()));
    if let Some(dir) = on_path {
        // A symlink on PATH (Debian's /usr/local/bin links): use the real
        // installation so its sibling tools are found.
        let initdb = std::fs::canonicalize(dir.join("initdb")).unwrap_or(dir.join("initdb"));
        if let Some(real) = initdb.parent() {
            if real.join("pg_ctl").is_file() {
                return real.to_path_buf();
            }
        }
    }
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    installed.sort();
    match installed.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
             /usr/lib/postgresql/*/bin. Install them: `apt-get install postgresql` \
             (or run .ci/install-postgres.sh). These tests never skip."
        ),
    }
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run `id -u`");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn has_runuser() -> bool {
    Command::new("runuser")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
