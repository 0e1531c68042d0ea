//! `agents …`

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use agent_vault::{AgentInfo, Attachable, Provision, Requirements};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::cli::{AgentsCommand, TokenCommand};
use crate::context::{Context, read_stdin_value};
use crate::failure::{CONFLICT, Failure, OK};
use crate::output;
use crate::secrets::read_file;

/// The prefix of the variables that configure this command; `agents exec`
/// never passes them to the child.
const OWN_PREFIX: &str = "AGENT_VAULT_";

/// Runs an `agents` command; returns the exit code (the child's, for `exec`).
pub async fn run(ctx: Context, command: AgentsCommand) -> Result<u8, Failure> {
    match command {
        AgentsCommand::Create { name, manifest } => {
            let name = agent_vault::AgentName::parse(&name).map_err(agent_vault::Error::from)?;
            let (info, token) = match manifest {
                Some(manifest) => {
                    let requirements = read_manifest(&manifest)?;
                    ctx.vault
                        .create_agent_for(&ctx.user, &name, &requirements)
                        .await?
                }
                None => ctx.vault.create_agent(&ctx.user, &name).await?,
            };
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
                            output::cell(a.name.as_str()),
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
        AgentsCommand::Check { agent, manifest } => return check(&ctx, &agent, &manifest).await,
        AgentsCommand::Exec { agent, command } => return exec(ctx, &agent, &command).await,
        AgentsCommand::Token(command) => token(&ctx, command).await?,
    }
    Ok(OK)
}

/// `agents check`: the manifest's declared names against the agent; exit 0
/// when every required one is attached, 3 (conflict) otherwise.
async fn check(ctx: &Context, agent: &str, manifest: &Path) -> Result<u8, Failure> {
    let requirements = read_manifest(manifest)?;
    let id = ctx.agent(agent).await?;
    let report = ctx
        .vault
        .check_requirements(&ctx.user, id, &requirements)
        .await?;
    let provided_by = |p: &Option<Provision>| match p {
        None => String::new(),
        Some(Provision::Item { kind }) => kind.to_string(),
        Some(Provision::Connection { id }) => format!("provider:{id}"),
        Some(Provision::GatewayToken) => "gateway token".to_owned(),
        // `Provision` may grow; name it generically until the CLI learns it.
        Some(_) => "vault".to_owned(),
    };
    if ctx.json {
        let entries: Vec<Value> = report
            .entries
            .iter()
            .map(|e| {
                json!({
                    "name": e.name.as_str(),
                    "required": e.required,
                    "description": e.description,
                    "state": e.state.as_str(),
                    "provided_by": e.provided_by.as_ref().map(|_| provided_by(&e.provided_by)),
                })
            })
            .collect();
        output::json(&json!({
            "agent": id.to_string(),
            "satisfied": report.is_satisfied(),
            "entries": entries,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = report
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.name.to_string(),
                    if e.required { "yes" } else { "no" }.to_owned(),
                    e.state.as_str().to_owned(),
                    provided_by(&e.provided_by),
                ]
            })
            .collect();
        if rows.is_empty() {
            eprintln!("the manifest declares no secrets");
        } else {
            output::table(&["NAME", "REQUIRED", "STATE", "PROVIDED BY"], &rows)?;
        }
        let unsatisfied: Vec<&str> = report.unsatisfied().map(|e| e.name.as_str()).collect();
        if !unsatisfied.is_empty() {
            eprintln!(
                "not attached, but required: {} (attach with `agent-vault agents attach`)",
                unsatisfied.join(" ")
            );
        }
    }
    Ok(if report.is_satisfied() { OK } else { CONFLICT })
}

/// The declared variables of a manifest file.
fn read_manifest(manifest: &Path) -> Result<Requirements, Failure> {
    let bytes = read_file(manifest)?;
    let in_file = |error: agent_vault::Error| Failure::InFile {
        file: manifest.to_owned(),
        error,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        in_file(agent_vault::Error::InvalidInput {
            field: agent_vault::Input::Manifest,
            reason: "not UTF-8".into(),
        })
    })?;
    Requirements::from_manifest_json(text).map_err(|e| in_file(e.into()))
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
    output::line(format_args!(
        "agent     {}",
        output::cell(info.name.as_str())
    ))?;
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

/// `agents exec`. On Unix: find the program, build its environment, record
/// the deployment, then become the program (`execve`). No vault process is
/// left for the agent to read the master key from (its environment, memory
/// or command line); signals reach the agent directly and its exit status is
/// its own. Elsewhere: spawn, record, wait, and pass the status on.
async fn exec(ctx: Context, agent: &str, command: &[OsString]) -> Result<u8, Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::Usage(
            "agents exec needs a command after --".into(),
        ));
    };
    let id = ctx.agent(agent).await?;
    // Before anything is recorded: a command that cannot be found or run
    // fails here with 127 or 126, leaving the agent's status as it was.
    #[cfg(unix)]
    let path = resolve_program(program).map_err(|source| spawn_failure(program, source))?;
    // Elsewhere the spawn finds it (Windows adds PATHEXT's extensions).
    #[cfg(not(unix))]
    let path = PathBuf::from(program);
    let (environment, receipt) = ctx.vault.environment(&ctx.user, id).await?;
    let mut child = std::process::Command::new(&path);
    child.args(args);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::arg0(&mut child, program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(OWN_PREFIX) {
            child.env_remove(&name);
        }
    }
    environment.apply_to(&mut child);
    drop(environment);
    run_child(ctx, child, &receipt, program).await
}

/// The command could not be found, run or replaced into.
fn spawn_failure(program: &OsString, source: std::io::Error) -> Failure {
    Failure::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    }
}

#[cfg(unix)]
async fn run_child(
    ctx: Context,
    mut child: std::process::Command,
    receipt: &agent_vault::DeploymentReceipt,
    program: &OsString,
) -> Result<u8, Failure> {
    record(&ctx, receipt).await;
    // The agent inherits none of the vault's files: Rust and SQLite open
    // theirs close-on-exec.
    drop(ctx);
    // Returns only if the replacement failed.
    let source = std::os::unix::process::CommandExt::exec(&mut child);
    eprintln!(
        "warning: the deployment was recorded, but the agent did not start; \
         `agents status` shows it as synced until the next exec"
    );
    Err(spawn_failure(program, source))
}

#[cfg(not(unix))]
async fn run_child(
    ctx: Context,
    mut child: std::process::Command,
    receipt: &agent_vault::DeploymentReceipt,
    program: &OsString,
) -> Result<u8, Failure> {
    let mut running = child
        .spawn()
        .map_err(|source| spawn_failure(program, source))?;
    // `child` holds copies of the values: gone once the child has them.
    drop(child);
    record(&ctx, receipt).await;
    drop(ctx);
    let status = running
        .wait()
        .map_err(|e| Failure::io("waiting for the command", e))?;
    Ok(match status.code() {
        Some(code) => u8::try_from(code & 0xff).unwrap_or(1),
        None => 1,
    })
}

/// Records the deployment (the receipt holds revisions, never values); a
/// failure is a warning, since the agent starts all the same.
async fn record(ctx: &Context, receipt: &agent_vault::DeploymentReceipt) {
    if let Err(error) = ctx.vault.record_deployment(&ctx.user, receipt).await {
        eprintln!(
            "warning: the agent is starting but its deployment was not recorded ({error}); \
             `agents status` will not show it as synced"
        );
    }
}

/// The file `program` names: itself when it holds a `/`, else the first
/// match on `PATH` (as execvp(3) searches, an empty entry being the current
/// directory). Errors as the shell's: `NotFound` (127), `PermissionDenied`
/// (126) for a file that is not executable.
#[cfg(unix)]
fn resolve_program(program: &OsString) -> std::io::Result<PathBuf> {
    let candidate = std::path::Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return runnable(candidate).map(|()| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let file = dir.join(program);
        match runnable(&file) {
            Ok(()) => return Ok(file),
            // execvp goes on past a match it cannot run, and reports that.
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                denied = Some(error);
            }
            Err(_) => {}
        }
    }
    Err(denied
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH")))
}

/// Whether `file` is a file that some execute bit allows running.
#[cfg(unix)]
fn runnable(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(file)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "not a regular file",
        ));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "not executable",
        ));
    }
    Ok(())
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
