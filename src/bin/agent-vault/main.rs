//! `agent-vault`: the command-line front end of the vault, on a SQLite file.
//!
//! Run `agent-vault --help`. Exit codes are in [`failure`].
#![forbid(unsafe_code)]

mod agents;
mod cli;
mod context;
mod failure;
mod keys;
mod output;
mod progress;
mod providers;
mod secrets;

use std::process::ExitCode;

use agent_vault::crypto::MasterKey;
use clap::Parser as _;
use serde_json::json;

use crate::cli::{Cli, Command, DotenvCommand};
use crate::context::Context;
use crate::failure::{Failure, OK};

fn main() -> ExitCode {
    // Usage errors exit here with clap's code 2; --help and --version with 0.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
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

async fn run(cli: Cli) -> Result<u8, Failure> {
    let json = cli.global.json;
    match cli.command {
        Command::Keygen => {
            let key = MasterKey::generate();
            let text = key.to_base64();
            if json {
                output::json(&json!({ "master_key": text.as_str() }))?;
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
    }
}
