//! The command line, as clap derives it. Doc comments here are the `--help`
//! text.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Every exit code, shown under the top-level `--help`.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 success, 1 other failure, 2 usage, 3 conflict, 4 not found, \
5 invalid input, 6 not configured (master key), 7 token rejected."
    };
}

/// A secrets vault for AI agents: keep provider keys, secrets and variables
/// encrypted in a local SQLite file, attach them to agents, and start an agent
/// with its environment.
///
/// The master key is read from the environment, never from a flag; without
/// it, only commands that touch no secret (listing names, variables) work.
/// Set exactly one of:
///
/// - AGENT_VAULT_MASTER_KEY_FILE: a file holding the key (standard base64 of
///   32 bytes, or the 32 raw bytes), which group and others must not be able
///   to access (chmod 600). Recommended: the key is then in no process's
///   environment.
///
/// - AGENT_VAULT_MASTER_KEYS_FILE: the same for a keyring (see `keys`).
///
/// - AGENT_VAULT_MASTER_KEY: the key itself (make one with `agent-vault
///   keygen`).
///
/// - AGENT_VAULT_MASTER_KEYS: a keyring itself.
///
/// Secret values and API keys are read from standard input, never from a
/// flag. On Linux agent-vault makes itself non-dumpable, so that other
/// processes of the same user (root excepted) cannot read its environment or
/// memory, nor ptrace it.
#[derive(Debug, Parser)]
#[command(
    name = "agent-vault",
    version,
    propagate_version = true,
    after_help = concat!("\
Example:
  (umask 077; agent-vault keygen > ~/.agent-vault.key)
  export AGENT_VAULT_MASTER_KEY_FILE=~/.agent-vault.key
  printf '%s' \"$TELEGRAM_TOKEN\" | agent-vault secrets add TELEGRAM_BOT_TOKEN
  agent-vault agents create support-bot
  agent-vault agents attach support-bot TELEGRAM_BOT_TOKEN
  agent-vault agents exec support-bot -- ./gateway

", exit_codes!())
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The SQLite database file (created if missing), or a PostgreSQL URL
    /// (postgres://USER:PASSWORD@HOST/DATABASE).
    #[arg(
        long,
        global = true,
        env = "AGENT_VAULT_DB",
        default_value = "agent-vault.db",
        value_name = "PATH|URL"
    )]
    pub db: PathBuf,
    /// The user whose vault to use.
    #[arg(
        long,
        global = true,
        env = "AGENT_VAULT_USER",
        default_value = "default",
        value_name = "ID"
    )]
    pub user: String,
    /// Print one JSON document on standard output instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The variable an agent's gateway token is given as (`agents exec`).
    /// The product's newer docs use GATEWAY_TOKEN. The name is reserved: no
    /// secret or variable may take it.
    #[arg(
        long,
        global = true,
        env = "AGENT_VAULT_GATEWAY_TOKEN_VAR",
        default_value = agent_vault::DEFAULT_GATEWAY_TOKEN_VAR,
        value_name = "NAME"
    )]
    pub gateway_token_var: String,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a new random master key (base64), for AGENT_VAULT_MASTER_KEY_FILE
    /// or AGENT_VAULT_MASTER_KEY.
    #[command(after_help = concat!("\
Example:
  (umask 077; agent-vault keygen > ~/.agent-vault.key)
  export AGENT_VAULT_MASTER_KEY_FILE=~/.agent-vault.key

Keep the key somewhere safe: without it no secret can be read back.
", "\n", "Exit codes: 0 success, 1 other failure, 2 usage."))]
    Keygen,
    /// Secrets (encrypted) and variables (plaintext).
    #[command(subcommand, visible_alias = "sec")]
    Secrets(SecretsCommand),
    /// Parse .env files without storing anything.
    #[command(subcommand)]
    Dotenv(DotenvCommand),
    /// AI-provider connections.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Agents: what is attached, their environment, gateway tokens.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Master keys: add, promote, retire, rewrap, per-user rotation.
    ///
    /// Several keys are given in AGENT_VAULT_MASTER_KEYS as `ID:BASE64`
    /// entries separated by commas, the primary marked with `*`
    /// (`1:AAAA...=,*2:BBBB...=`), or in a file named by
    /// AGENT_VAULT_MASTER_KEYS_FILE (mode 600); AGENT_VAULT_MASTER_KEY and
    /// AGENT_VAULT_MASTER_KEY_FILE stay valid for a single key (id 1). Set
    /// only one of the four. `add`, `promote` and `retire` print the new
    /// keyring value: keys live in your configuration, never in the
    /// database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Serve the HTTP API (the product's `/v0/...` routes) until Ctrl-C or
    /// SIGTERM; requests in flight finish, then it exits 0.
    ///
    /// Users are API keys, the stand-in for a service's own
    /// authentication: AGENT_VAULT_API_KEYS="KEY=USER[,KEY=USER...]" (or a
    /// file named by AGENT_VAULT_API_KEYS_FILE), each key at least 16
    /// characters; `Authorization: Bearer KEY` acts as USER. Agents' routes
    /// also take the agent's gateway token. Several `serve` processes on one
    /// database behave as one vault.
    #[command(after_help = concat!("\
Example:
  export AGENT_VAULT_MASTER_KEY_FILE=~/.agent-vault.key
  export AGENT_VAULT_API_KEYS=\"$(openssl rand -hex 16)=alice\"
  agent-vault serve --addr 127.0.0.1:8080
  agent-vault --db postgres://vault@db/vault serve --addr 0.0.0.0:8080

", "Exit codes: 0 stopped by a signal, 1 other failure, 2 usage, 6 not configured."))]
    Serve {
        /// The address to listen on (port 0: any free port; the line
        /// `listening on http://ADDR` says which).
        #[arg(long, env = "AGENT_VAULT_ADDR", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
    },
    /// The audit trail: every change, refused conflict and rejected gateway
    /// token, oldest first. Events name things; they never hold a value, a
    /// key or a token.
    #[command(after_help = concat!("\
Example:
  agent-vault audit
  agent-vault audit --since 2026-11-30T00:00:00Z --json
  agent-vault audit --vault          # master keys and rewraps

", "Exit codes: 0 success, 1 other failure, 2 usage."))]
    Audit {
        /// Only events at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// The vault-wide events (master keys, rewrap) instead of the user's.
        #[arg(long)]
        vault: bool,
    },
}

/// `agent-vault keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the keyring (ids, primary) and how many records each key seals.
    #[command(after_help = concat!("\
Example:
  agent-vault keys list
  agent-vault keys list --json

", "Exit codes: 0 success, 1 other failure, 2 usage, 6 not configured."))]
    List,
    /// Generate a new key with the next id, not primary, and print the new
    /// AGENT_VAULT_MASTER_KEYS value.
    #[command(after_help = concat!("\
Example:
  export AGENT_VAULT_MASTER_KEYS=\"$(agent-vault keys add)\"

", "Exit codes: 0 success, 1 other failure, 2 usage, 6 not configured."))]
    Add,
    /// Make key ID primary and print the new AGENT_VAULT_MASTER_KEYS value.
    #[command(after_help = concat!("\
Example:
  export AGENT_VAULT_MASTER_KEYS=\"$(agent-vault keys promote 2)\"

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 6 not configured."))]
    Promote {
        /// The key id.
        id: u32,
    },
    /// Remove key ID (refused while a record is sealed under it, or if it is
    /// primary) and print the new AGENT_VAULT_MASTER_KEYS value.
    #[command(after_help = concat!("\
Example:
  agent-vault keys rewrap && export AGENT_VAULT_MASTER_KEYS=\"$(agent-vault keys retire 1)\"

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 still in use, 5 primary or unknown key, 6 not configured."))]
    Retire {
        /// The key id.
        id: u32,
    },
    /// Re-seal every record of every user under the primary key, with a
    /// progress bar. Online and resumable: run it again after an
    /// interruption.
    #[command(after_help = concat!("\
Example:
  agent-vault keys rewrap --batch-size 500

", "Exit codes: 0 success, 1 other failure, 2 usage, 6 not configured."))]
    Rewrap {
        /// Records re-sealed per commit.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
    /// Give the user (--user) a new key generation and re-seal their
    /// records under it.
    #[command(after_help = concat!("\
Example:
  agent-vault --user alice keys rotate-user

", "Exit codes: 0 success, 1 other failure, 2 usage, 6 not configured."))]
    RotateUser,
}

/// `agent-vault secrets …`
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List secrets and variables. A secret's value is never shown.
    #[command(after_help = concat!("\
Example:
  agent-vault secrets list
  agent-vault secrets list --json

", "Exit codes: 0 success, 1 other failure, 2 usage, 5 invalid input, 6 not configured."),
        visible_alias = "l"
    )]
    List,
    /// Add a secret (or, with --variable, a variable). The value is read from
    /// standard input; one trailing newline is removed.
    #[command(after_help = concat!("\
Example:
  printf '%s' \"$TOKEN\" | agent-vault secrets add TELEGRAM_BOT_TOKEN
  echo https://bot.example | agent-vault secrets add PUBLIC_URL --variable

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 name exists, 5 invalid name or value, \
6 not configured."),
        visible_aliases = ["create", "c"]
    )]
    Add {
        /// The name, which is the environment variable the agent sees.
        name: String,
        /// Store a plaintext variable (value shown in listings) instead of a
        /// secret.
        #[arg(long)]
        variable: bool,
    },
    /// Replace the value of a secret or variable, read from standard input.
    /// Agents running with the old value show as stale until restarted.
    #[command(after_help = concat!("\
Example:
  printf '%s' \"$NEW_TOKEN\" | agent-vault secrets update TELEGRAM_BOT_TOKEN

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 invalid value, \
6 not configured."),
        visible_alias = "u"
    )]
    Update {
        /// The name.
        name: String,
    },
    /// Delete a secret or variable. Refused while it is attached to an agent.
    #[command(after_help = concat!("\
Example:
  agent-vault agents detach support-bot OLD_TOKEN
  agent-vault secrets delete OLD_TOKEN

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 attached to an agent, 4 not found."),
        visible_alias = "d"
    )]
    Delete {
        /// The name.
        name: String,
    },
    /// List the versions of a secret's or variable's value the vault keeps
    /// (the current one first), with when each became current. Never a
    /// value.
    #[command(after_help = concat!("\
Example:
  agent-vault secrets history TELEGRAM_BOT_TOKEN
  agent-vault secrets history TELEGRAM_BOT_TOKEN --json

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found."))]
    History {
        /// The name.
        name: String,
    },
    /// Make an earlier value current again, as a new version. Agents running
    /// with the value it replaces show as stale until restarted.
    #[command(after_help = concat!("\
Example:
  agent-vault secrets history TELEGRAM_BOT_TOKEN
  agent-vault secrets rollback TELEGRAM_BOT_TOKEN 3

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 name or version not found, \
5 the current version, 6 not configured."))]
    Rollback {
        /// The name.
        name: String,
        /// The version to restore (from `secrets history`).
        #[arg(value_name = "VERSION", id = "target_version")]
        version: u64,
    },
    /// Import every entry of a .env file, all or nothing, as secrets (or, with
    /// --variables, as variables). A syntax error names FILE:LINE:COLUMN and
    /// stores nothing.
    #[command(after_help = concat!("\
Example:
  agent-vault secrets import .env --dry-run
  agent-vault secrets import .env --on-conflict skip
  agent-vault secrets import config.env --variables --on-conflict overwrite

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 names already exist (--on-conflict fail), \
5 syntax error or refused entry, 6 not configured."))]
    Import {
        /// The .env file (`-` for standard input).
        file: PathBuf,
        /// Import every entry as a plaintext variable instead of a secret.
        #[arg(long)]
        variables: bool,
        /// What to do with names that already exist.
        #[arg(long, value_enum, default_value_t = OnConflictArg::Fail)]
        on_conflict: OnConflictArg,
        /// Show what would happen; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every variable (never a secret) as a .env file, sorted by name,
    /// that `secrets import --variables` and `dotenv parse` read back to the
    /// same values.
    #[command(after_help = concat!("\
Example:
  agent-vault secrets export > variables.env
  agent-vault secrets export --output variables.env

With --output, --json prints {\"output\", \"variables\"} instead of nothing.

", "Exit codes: 0 success, 1 other failure (cannot write), 2 usage."))]
    Export(ExportArgs),
}

/// `secrets export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file (created with mode 600, replaced if it exists)
    /// instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `--on-conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnConflictArg {
    /// Refuse the whole import if any name exists.
    Fail,
    /// Leave existing names alone.
    Skip,
    /// Replace the values of existing names (they keep their type).
    Overwrite,
}

/// `agent-vault dotenv …`
#[derive(Debug, Subcommand)]
pub enum DotenvCommand {
    /// Print the mapping a .env file defines as one JSON object
    /// {NAME: value}. Stores nothing; values are printed, so use it on your
    /// own files only.
    #[command(after_help = concat!("\
Example:
  agent-vault dotenv parse .env

", "Exit codes: 0 success, 1 cannot read, 2 usage, 5 syntax error (FILE:LINE:COLUMN)."))]
    Parse {
        /// The .env file (`-` for standard input).
        file: PathBuf,
    },
}

/// `agent-vault providers …`
#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Connect an AI provider. API keys (and Pinata's inference key) are
    /// read from standard input, never from the command line.
    ///
    /// Connecting a provider (and kind) that is already connected replaces
    /// its credential; agents it is attached to show as stale until
    /// restarted.
    #[command(after_help = concat!("\
Example:
  printf '%s' \"$ANTHROPIC_KEY\" | agent-vault providers connect anthropic
  agent-vault providers connect openai --codex-oauth codex-tokens.json
  printf '%s' \"$PINATA_LLM_KEY\" | agent-vault providers connect pinata
  printf '%s' \"$KEY\" | agent-vault providers connect custom \\
      --base-url https://llm.example.com/v1 --model llama-3.1-70b

The --codex-oauth FILE is either {\"access_token\", \"refresh_token\", \
\"expires_at\" (RFC 3339)} or the file the Codex CLI writes, ~/.codex/auth.json \
(its expiry is read from the access token's `exp` claim). For custom, the API key \
may be empty. Pinata's inference key is the one the host generated.

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 new variables clash with an attached \
agent, 5 invalid key, file or URL, 6 not configured."))]
    Connect(ConnectArgs),
    /// List connected providers (never their credentials).
    #[command(after_help = concat!("\
Example:
  agent-vault providers list --json

", "Exit codes: 0 success, 1 other failure, 2 usage."))]
    List,
    /// Remove a connection. Refused while it is attached to an agent.
    #[command(after_help = concat!("\
Example:
  agent-vault providers disconnect anthropic
  agent-vault providers disconnect openai --kind codex-subscription

Without --kind, the provider's only connection is removed.

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 attached, 4 not connected, \
5 ambiguous (give --kind)."))]
    Disconnect {
        /// The provider.
        #[arg(value_enum)]
        provider: ProviderArg,
        /// Which of the provider's connections.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
    },
}

/// `providers connect` arguments.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The provider.
    #[arg(value_enum)]
    pub provider: ProviderArg,
    /// OpenAI only: connect a Codex subscription from this OAuth token file
    /// (the bundle, or the Codex CLI's ~/.codex/auth.json) instead of an API
    /// key.
    #[arg(long, value_name = "FILE")]
    pub codex_oauth: Option<PathBuf>,
    /// Custom only: the OpenAI-compatible endpoint's base URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Custom only: a model id the endpoint serves (repeatable).
    #[arg(long = "model", value_name = "ID")]
    pub models: Vec<String>,
}

/// A provider, as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Anthropic (API key).
    Anthropic,
    /// OpenAI (API key, or a Codex subscription with --codex-oauth).
    Openai,
    /// OpenRouter (API key).
    Openrouter,
    /// Venice (API key).
    Venice,
    /// Pinata-hosted inference (the inference key the host generated, as
    /// PINATA_LLM_KEY).
    Pinata,
    /// Any OpenAI-compatible endpoint.
    Custom,
}

/// A connection kind, as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// An API key.
    ApiKey,
    /// An OpenAI Codex subscription.
    CodexSubscription,
    /// Pinata-hosted inference.
    Hosted,
    /// A custom endpoint.
    Custom,
}

/// `agent-vault agents …`
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent and its gateway token (printed once here; see
    /// `agents token show`).
    #[command(after_help = concat!("\
Example:
  agent-vault agents create support-bot --json
  agent-vault agents create support-bot --manifest manifest.json

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 a required secret is missing or \
two credentials for one provider, 5 invalid name or manifest, 6 not configured."))]
    Create {
        /// The agent's name (1 to 100 characters).
        name: String,
        /// Attach, at creation, every variable this manifest's `"secrets"`
        /// block declares that the vault has; refuse (creating nothing) if a
        /// required one is missing, listing them all.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// List agents.
    #[command(after_help = concat!("\
Example:
  agent-vault agents list --json

", "Exit codes: 0 success, 1 other failure, 2 usage."))]
    List,
    /// Show one agent: what is attached and when it was last deployed.
    #[command(after_help = concat!("\
Example:
  agent-vault agents get support-bot

AGENT is an agent's id, or its name when no other agent has that name.

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 ambiguous name."))]
    Get {
        /// The agent's id or unique name.
        agent: String,
    },
    /// Delete an agent (what was attached to it is detached).
    #[command(after_help = concat!("\
Example:
  agent-vault agents delete support-bot

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 ambiguous name."))]
    Delete {
        /// The agent's id or unique name.
        agent: String,
    },
    /// Attach secrets, variables and provider connections to an agent, all
    /// or none.
    #[command(after_help = concat!("\
Example:
  agent-vault agents attach support-bot TELEGRAM_BOT_TOKEN PUBLIC_URL provider:anthropic
  agent-vault agents attach support-bot provider:openai:codex-subscription

An agent holds at most one credential per provider: an OPENAI_API_KEY secret and \
provider:openai:codex-subscription on one agent is a conflict.

", "Exit codes: 0 success, 1 other failure, 2 usage, 3 conflict, 4 not found, \
5 invalid item or ambiguous agent."),
        visible_alias = "a"
    )]
    Attach {
        /// The agent's id or unique name.
        agent: String,
        /// A secret or variable name, or provider:NAME[:KIND].
        #[arg(required = true, value_name = "ITEM")]
        items: Vec<String>,
    },
    /// Detach secrets, variables and provider connections from an agent, all
    /// or none. The running agent keeps them until restarted.
    #[command(after_help = concat!("\
Example:
  agent-vault agents detach support-bot OLD_TOKEN provider:anthropic

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 agent not found or item not attached, \
5 invalid item or ambiguous agent."))]
    Detach {
        /// The agent's id or unique name.
        agent: String,
        /// A secret or variable name, or provider:NAME[:KIND].
        #[arg(required = true, value_name = "ITEM")]
        items: Vec<String>,
    },
    /// Check an agent against the secrets its manifest declares: for each
    /// name, attached, in the vault but not attached, or missing. A provider
    /// connection counts for the variables it sets (provider:openrouter for
    /// OPENROUTER_API_KEY). Exit 0 when every required name is attached, 3
    /// otherwise.
    #[command(after_help = concat!("\
Example:
  agent-vault agents check support-bot --manifest manifest.json
  agent-vault agents check support-bot --manifest manifest.json --json

The manifest is JSON; only its \"secrets\" block is read: \
[{\"name\": \"OPENROUTER_API_KEY\"}, {\"name\": \"TELEGRAM_BOT_TOKEN\", \
\"description\": \"BotFather token\", \"required\": false}]. \"required\" defaults to true.

", "Exit codes: 0 every required name attached, 1 other failure, 2 usage, 3 some required name \
not attached (listed), 4 agent not found, 5 invalid manifest or ambiguous agent name."))]
    Check {
        /// The agent's id or unique name.
        agent: String,
        /// The agent's manifest (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
    },
    /// Whether the running agent has the current values (the "Synced"
    /// indicator) and whether it needs a restart.
    #[command(after_help = concat!("\
Example:
  agent-vault agents status support-bot --json

States: synced, stale (changed since the last exec), removed (detached since), \
not-deployed.

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 ambiguous name."))]
    Status {
        /// The agent's id or unique name.
        agent: String,
    },
    /// Run a command with the agent's environment (attached secrets,
    /// variables, provider credentials and gateway token) and record the
    /// deployment. Values go to the command only; nothing is written to disk.
    ///
    /// The command gets this process's environment without any AGENT_VAULT_*
    /// variable, plus the agent's. On Unix, agent-vault finds the command,
    /// records the deployment, then replaces itself with the command (exec):
    /// the command keeps agent-vault's process id, receives signals directly
    /// and its exit status is the command's own. No agent-vault process is
    /// left running, so the agent cannot read the master key from its parent
    /// (/proc/PID/environ, /proc/PID/mem, ptrace). Until it execs,
    /// agent-vault is non-dumpable (Linux), so no other process of the same
    /// user (root excepted) can read its environment or memory either.
    ///
    /// Whoever started agent-vault may still hold the key in its own
    /// environment (a shell script, a supervisor): prefer
    /// AGENT_VAULT_MASTER_KEY_FILE (or AGENT_VAULT_MASTER_KEYS_FILE), which
    /// keeps the key out of every environment, and keep that file where the
    /// agent cannot open it.
    ///
    /// A command that cannot be found exits 127, one that cannot be run 126,
    /// and then nothing is recorded.
    #[command(after_help = concat!("\
Example:
  AGENT_VAULT_MASTER_KEY_FILE=/etc/agent-vault/key \\
      agent-vault agents exec support-bot -- node gateway.js --port 8080

", "Exit codes: the command's own once it runs; before: 1 other failure, 2 usage, 4 not found, \
5 ambiguous name, 6 not configured, 126/127 cannot run the command."))]
    Exec {
        /// The agent's id or unique name.
        agent: String,
        /// The command and its arguments, after `--`.
        #[arg(
            required = true,
            last = true,
            value_name = "CMD",
            num_args = 1..,
            allow_hyphen_values = true
        )]
        command: Vec<OsString>,
    },
    /// Show, rotate or verify an agent's gateway token.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `agent-vault agents token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the agent's gateway token.
    #[command(after_help = concat!("\
Example:
  agent-vault agents token show support-bot --json

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 ambiguous name, \
6 not configured."))]
    Show {
        /// The agent's id or unique name.
        agent: String,
    },
    /// Replace the agent's gateway token and print the new one; the old one
    /// is rejected at once.
    #[command(after_help = concat!("\
Example:
  agent-vault agents token rotate support-bot

", "Exit codes: 0 success, 1 other failure, 2 usage, 4 not found, 5 ambiguous name, \
6 not configured."))]
    Rotate {
        /// The agent's id or unique name.
        agent: String,
    },
    /// Check a token read from standard input against the agent's current
    /// one (constant time). Exit 0 if it matches, 7 if not.
    #[command(after_help = concat!("\
Example:
  printf '%s' \"$PRESENTED\" | agent-vault agents token verify support-bot

", "Exit codes: 0 match, 1 other failure, 2 usage, 4 not found, 5 ambiguous name, \
6 not configured, 7 rejected."))]
    Verify {
        /// The agent's id or unique name.
        agent: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(command: &clap::Command, path: &str) {
            let path = format!("{path} {}", command.get_name());
            if command.get_subcommands().next().is_none() {
                let help = command
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(help.contains("Example:"), "{path} has no example");
                assert!(help.contains("Exit codes:"), "{path} has no exit codes");
            }
            for sub in command.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path);
                }
            }
        }
        walk(&Cli::command(), "");
    }
}
