//! `agent-vault`: the command-line front end of the vault, on a SQLite file
//! or a PostgreSQL database, and `agent-vault serve`, its HTTP API.
//!
//! Run `agent-vault --help`. Exit codes are in [`failure`].
#![forbid(unsafe_code)]

mod agents;
mod audit;
mod cli;
mod context;
mod failure;
mod keys;
mod output;
mod progress;
mod providers;
mod secret_io;
#[cfg(test)]
mod secret_io_tests;
mod secrets;
mod serve;

use std::process::ExitCode;

use agent_vault::crypto::MasterKey;
use clap::Parser as _;

use crate::cli::{Cli, Command, DotenvCommand};
use crate::context::Context;
use crate::failure::{Failure, OK};

fn main() -> ExitCode {
    // First, before any key is read: see `harden`.
    harden();
    // Usage errors exit here with clap's code 2; --help and --version with 0.
    let cli = Cli::parse();
    // The server uses every core; a one-shot command needs one thread.
    let mut builder = if matches!(cli.command, Command::Serve { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(failure::OTHER);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

/// Makes this process non-dumpable (Linux `PR_SET_DUMPABLE` 0): other
/// processes of the same user, an agent among them, can then neither read
/// its `/proc/PID/environ` or `/proc/PID/mem` nor ptrace it, and it leaves
/// no core dump, while it holds the master key. The flag does not survive
/// `exec`: the agent `agents exec` becomes is an ordinary process again.
/// Best effort: a failure is reported and the command goes on.
fn harden() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!(
            "warning: cannot make this process non-dumpable ({error}); other processes of \
             this user may read its memory"
        );
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let json = cli.global.json;
    match cli.command {
        Command::Keygen => {
            let key = MasterKey::generate();
            let text = key.to_base64();
            if json {
                output::json_with_secret(serde_json::Map::new(), "master_key", &text)?;
            } else {
                output::line(text.as_str())?;
            }
            Ok(OK)
        }
        Command::Dotenv(DotenvCommand::Parse { file }) => {
            secrets::dotenv_parse(&file)?;
            Ok(OK)
        }
        Command::Secrets(command) => {
            let ctx = Context::open(&cli.global).await?;
            secrets::run(&ctx, command).await?;
            Ok(OK)
        }
        Command::Providers(command) => {
            let ctx = Context::open(&cli.global).await?;
            providers::run(&ctx, command).await?;
            Ok(OK)
        }
        Command::Agents(command) => {
            let ctx = Context::open(&cli.global).await?;
            agents::run(ctx, command).await
        }
        Command::Keys(command) => {
            let ctx = Context::open(&cli.global).await?;
            keys::run(&ctx, command).await?;
            Ok(OK)
        }
        Command::Serve { addr } => serve::run(&cli.global, addr).await,
        Command::Audit {
            since,
            limit,
            vault,
        } => {
            let ctx = Context::open(&cli.global).await?;
            audit::run(&ctx, since.as_deref(), limit, vault).await?;
            Ok(OK)
        }
    }
}
