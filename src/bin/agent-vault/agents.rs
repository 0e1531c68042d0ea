//! `agents …`

use std::ffi::OsString;

use agent_vault::{AgentInfo, Attachable};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::cli::{AgentsCommand, TokenCommand};
use crate::context::{Context, read_stdin_value};
use crate::failure::{Failure, OK};
use crate::output;

/// The prefix of the variables that configure this command; `agents exec`
/// never passes them to the child.
const OWN_PREFIX: &str = "AGENT_VAULT_";

/// Runs an `agents` command; returns the exit code (the child's, for `exec`).
pub async fn run(ctx: Context, command: AgentsCommand) -> Result<u8, Failure> {
    match command {
        AgentsCommand::Create { name } => {
            let (info, token) = ctx.vault.create_agent(&ctx.user, &name).await?;
            if ctx.json {
                output::json(&json!({
                    "id": info.id.to_string(),
                    "name": info.name,
                    "gateway_token": token.expose_secret(),
                }))?;
            } else {
                output::line(format_args!("created agent {} ({})", info.name, info.id))?;
                output::line(format_args!("gateway token: {}", token.expose_secret()))?;
            }
        }
        AgentsCommand::List => {
            let agents = ctx.vault.agents(&ctx.user).await?;
            if ctx.json {
                output::json(&Value::Array(agents.iter().map(agent_json).collect()))?;
            } else if agents.is_empty() {
                eprintln!("no agents yet; create one with `agent-vault agents create NAME`");
            } else {
                let rows: Vec<Vec<String>> = agents
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.to_string(),
                            output::cell(&a.name),
                            a.deployed_at
                                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
                            a.attached.join(" "),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "DEPLOYED", "ATTACHED"], &rows)?;
            }
        }
        AgentsCommand::Get { agent } => {
            let id = ctx.agent(&agent).await?;
            let info = ctx.vault.agent(&ctx.user, id).await?;
            print_agent(&ctx, &info)?;
        }
        AgentsCommand::Delete { agent } => {
            let id = ctx.agent(&agent).await?;
            ctx.vault.delete_agent(&ctx.user, id).await?;
            if ctx.json {
                output::json(&json!({ "deleted": id.to_string() }))?;
            } else {
                output::line(format_args!("deleted agent {id}"))?;
            }
        }
        AgentsCommand::Attach { agent, items } => {
            let id = ctx.agent(&agent).await?;
            let targets = parse_items(&items)?;
            let info = ctx.vault.attach(&ctx.user, id, &targets).await?;
            print_agent(&ctx, &info)?;
        }
        AgentsCommand::Detach { agent, items } => {
            let id = ctx.agent(&agent).await?;
            let targets = parse_items(&items)?;
            let info = ctx.vault.detach(&ctx.user, id, &targets).await?;
            print_agent(&ctx, &info)?;
        }
        AgentsCommand::Status { agent } => {
            let id = ctx.agent(&agent).await?;
            let status = ctx.vault.status(&ctx.user, id).await?;
            if ctx.json {
                let items: Vec<Value> = status
                    .items
                    .iter()
                    .map(|i| json!({ "name": i.name, "state": i.state.as_str() }))
                    .collect();
                output::json(&json!({
                    "restart_needed": status.restart_needed,
                    "token_stale": status.token_stale,
                    "items": items,
                }))?;
            } else {
                let restart = if status.restart_needed { "yes" } else { "no" };
                output::line(format_args!("restart needed: {restart}"))?;
                if status.token_stale {
                    output::line("gateway token rotated since the last deployment")?;
                }
                let rows: Vec<Vec<String>> = status
                    .items
                    .iter()
                    .map(|i| vec![i.name.clone(), i.state.as_str().to_owned()])
                    .collect();
                if !rows.is_empty() {
                    output::table(&["NAME", "STATE"], &rows)?;
                }
            }
        }
        AgentsCommand::Exec { agent, command } => return exec(ctx, &agent, &command).await,
        AgentsCommand::Token(command) => token(&ctx, command).await?,
    }
    Ok(OK)
}

fn parse_items(items: &[String]) -> Result<Vec<Attachable>, Failure> {
    items
        .iter()
        .map(|item| Attachable::parse(item).map_err(Failure::from))
        .collect()
}

fn agent_json(info: &AgentInfo) -> Value {
    json!({
        "id": info.id.to_string(),
        "name": info.name,
        "created_at": info.created_at.to_rfc3339(),
        "attached": info.attached,
        "deployed_at": info.deployed_at.map(|t| t.to_rfc3339()),
    })
}

fn print_agent(ctx: &Context, info: &AgentInfo) -> Result<(), Failure> {
    if ctx.json {
        return output::json(&agent_json(info));
    }
    output::line(format_args!("agent     {}", output::cell(&info.name)))?;
    output::line(format_args!("id        {}", info.id))?;
    output::line(format_args!("created   {}", info.created_at.to_rfc3339()))?;
    let deployed = info
        .deployed_at
        .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
    output::line(format_args!("deployed  {deployed}"))?;
    let attached = if info.attached.is_empty() {
        "(nothing)".to_owned()
    } else {
        info.attached.join(" ")
    };
    output::line(format_args!("attached  {attached}"))
}

/// `agents exec`: spawn with the agent's environment, record the
/// deployment, wait, and pass the child's status on.
async fn exec(ctx: Context, agent: &str, command: &[OsString]) -> Result<u8, Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::Usage(
            "agents exec needs a command after --".into(),
        ));
    };
    let id = ctx.agent(agent).await?;
    let (environment, receipt) = ctx.vault.environment(&ctx.user, id).await?;
    // Listen before the child exists, so no signal finds this process
    // without its handlers.
    let signals = Signals::listen().map_err(|e| Failure::io("listening for signals", e))?;
    let child = {
        let mut command = std::process::Command::new(program);
        command.args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with(OWN_PREFIX) {
                command.env_remove(&name);
            }
        }
        environment.apply_to(&mut command);
        drop(environment);
        // `command` (holding copies of the values) is dropped at the end of
        // this block, right after the spawn.
        command.spawn().map_err(|source| Failure::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?
    };
    // Started: record the deployment now (the receipt holds revisions, never
    // values), then wait.
    if let Err(error) = ctx.vault.record_deployment(&ctx.user, &receipt).await {
        eprintln!(
            "warning: the agent started but its deployment was not recorded ({error}); \
             `agents status` will not show it as synced"
        );
    }
    drop(ctx);
    let status = signals
        .wait(child)
        .await
        .map_err(|e| Failure::io("waiting for the command", e))?;
    Ok(exit_code_of(status))
}

/// While `agents exec` waits: SIGTERM and SIGHUP sent to this process are
/// forwarded to the child (an orchestrator stopping the agent); SIGINT and
/// SIGQUIT are ignored here, since the terminal sends them to the child as
/// well. The child's own status then decides the exit code.
struct Signals {
    #[cfg(unix)]
    listeners: [tokio::signal::unix::Signal; 4],
}

impl Signals {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            listeners: [
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::quit())?,
            ],
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn wait(
        self,
        mut child: std::process::Child,
    ) -> std::io::Result<std::process::ExitStatus> {
        let pid = child.id().to_string();
        let [mut term, mut hup, mut int, mut quit] = self.listeners;
        let mut waiting = tokio::task::spawn_blocking(move || child.wait());
        loop {
            tokio::select! {
                status = &mut waiting => return status.map_err(std::io::Error::other)?,
                Some(()) = term.recv() => forward(&pid, "TERM"),
                Some(()) = hup.recv() => forward(&pid, "HUP"),
                Some(()) = int.recv() => {}
                Some(()) = quit.recv() => {}
            }
        }
    }

    #[cfg(not(unix))]
    async fn wait(
        self,
        mut child: std::process::Child,
    ) -> std::io::Result<std::process::ExitStatus> {
        child.wait()
    }
}

/// Sends `signal` to process `pid` with kill(1): dependency-free and without
/// `unsafe`. Best effort: if it fails, the child runs on until it exits.
#[cfg(unix)]
fn forward(pid: &str, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, pid])
        .stdin(std::process::Stdio::null())
        .status();
    if !sent.is_ok_and(|status| status.success()) {
        eprintln!("warning: could not forward SIG{signal} to the command (pid {pid})");
    }
}

/// The exit code that passes a child's status on: its code, or 128 + the
/// signal that killed it.
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return u8::try_from((128 + signal) & 0xff).unwrap_or(1);
        }
    }
    1
}

async fn token(ctx: &Context, command: TokenCommand) -> Result<(), Failure> {
    let print = |token: &str| {
        if ctx.json {
            output::json(&json!({ "gateway_token": token }))
        } else {
            output::line(token)
        }
    };
    match command {
        TokenCommand::Show { agent } => {
            let id = ctx.agent(&agent).await?;
            let token = ctx.vault.gateway_token(&ctx.user, id).await?;
            print(token.expose_secret())
        }
        TokenCommand::Rotate { agent } => {
            let id = ctx.agent(&agent).await?;
            let token = ctx.vault.rotate_gateway_token(&ctx.user, id).await?;
            print(token.expose_secret())
        }
        TokenCommand::Verify { agent } => {
            let id = ctx.agent(&agent).await?;
            let presented = read_stdin_value("gateway token")?;
            ctx.vault
                .verify_gateway_token(&ctx.user, id, presented.expose_secret())
                .await?;
            if ctx.json {
                output::json(&json!({ "valid": true }))
            } else {
                output::line("gateway token accepted")
            }
        }
    }
}
