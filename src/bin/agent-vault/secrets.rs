//! `secrets …` and `dotenv parse`.

use std::io::Write as _;
use std::path::Path;

use agent_vault::dotenv::{self, ParseOptions};
use agent_vault::{
    Error, ImportAction, ImportOptions, ImportReport, ItemInfo, Kind, Name, OnConflict, SecretValue,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{OnConflictArg, SecretsCommand};
use crate::context::{Context, read_stdin_value};
use crate::failure::Failure;
use crate::output;
use crate::progress::Progress;
use crate::secret_io;

/// Runs a `secrets` command.
pub async fn run(ctx: &Context, command: SecretsCommand) -> Result<(), Failure> {
    match command {
        SecretsCommand::List => list(ctx).await,
        SecretsCommand::Add { name, variable } => {
            let kind = if variable {
                Kind::Variable
            } else {
                Kind::Secret
            };
            let name = parse_name(&name)?;
            let value = read_value(&name)?;
            let item = ctx.vault.create_item(&ctx.user, &name, kind, value).await?;
            report_item(ctx, &item, "created")
        }
        SecretsCommand::Update { name } => {
            let name = parse_name(&name)?;
            // Fail before reading a value for something that is not there.
            ctx.vault.item(&ctx.user, &name).await?;
            let value = read_value(&name)?;
            let item = ctx.vault.update_item(&ctx.user, &name, value).await?;
            report_item(ctx, &item, "updated")
        }
        SecretsCommand::Delete { name } => {
            let name = parse_name(&name)?;
            ctx.vault.delete_item(&ctx.user, &name).await?;
            if ctx.json {
                output::json(&json!({ "deleted": name.as_str() }))
            } else {
                output::line(format_args!("deleted {name}"))
            }
        }
        SecretsCommand::Import {
            file,
            variables,
            on_conflict,
            dry_run,
        } => {
            let mut options = ImportOptions::default()
                .on_conflict(match on_conflict {
                    OnConflictArg::Fail => OnConflict::Fail,
                    OnConflictArg::Skip => OnConflict::Skip,
                    OnConflictArg::Overwrite => OnConflict::Overwrite,
                })
                .dry_run(dry_run);
            if variables {
                options = options.as_variables();
            }
            import(ctx, &file, &options).await
        }
        SecretsCommand::Export(args) => export(ctx, args.output.as_deref()).await,
        SecretsCommand::History { name } => history(ctx, &parse_name(&name)?).await,
        SecretsCommand::Rollback { name, version } => {
            let name = parse_name(&name)?;
            let item = ctx.vault.rollback_item(&ctx.user, &name, version).await?;
            if ctx.json {
                return output::json(&item_json(&item));
            }
            output::line(format_args!(
                "rolled {name} back to the value of version {version}, now version {}",
                item.version
            ))
        }
    }
}

/// `secrets history`: versions and times, never values.
async fn history(ctx: &Context, name: &Name) -> Result<(), Failure> {
    let versions = ctx.vault.item_history(&ctx.user, name).await?;
    if ctx.json {
        let rows: Vec<Value> = versions
            .iter()
            .map(|v| {
                json!({
                    "version": v.version,
                    "since": v.since.to_rfc3339(),
                    "current": v.current,
                })
            })
            .collect();
        return output::json(&json!({ "name": name.as_str(), "versions": rows }));
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                v.since.to_rfc3339(),
                if v.current { "current" } else { "" }.to_owned(),
            ]
        })
        .collect();
    output::table(&["VERSION", "SINCE", ""], &rows)
}

/// `secrets export`: the variables as `.env` text (`Vault::export_variables`),
/// on standard output or into a new mode-600 file.
async fn export(ctx: &Context, output: Option<&Path>) -> Result<(), Failure> {
    if ctx.json && output.is_none() {
        return Err(Failure::Usage(
            "`secrets export` writes .env text; --json applies with --output FILE only".into(),
        ));
    }
    let text = ctx.vault.export_variables(&ctx.user).await?;
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::io("writing standard output", e));
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))?;
    // The text was written by the serialiser that `parse` reads back, so
    // counting its entries counts the variables exported.
    let count = dotenv::parse(text.as_bytes())
        .map(|parsed| parsed.len())
        .unwrap_or_default();
    if ctx.json {
        output::json(&json!({ "output": path.display().to_string(), "variables": count }))
    } else {
        eprintln!("exported {count} variables to {}", path.display());
        Ok(())
    }
}

fn parse_name(text: &str) -> Result<Name, Failure> {
    Name::parse(text).map_err(|reason| {
        Failure::Vault(Error::InvalidName {
            name: text.to_owned(),
            reason,
        })
    })
}

fn read_value(name: &Name) -> Result<SecretValue, Failure> {
    let text = read_stdin_value(&format!("value for {name}"))?;
    SecretValue::parse(text).map_err(|reason| {
        Failure::Vault(Error::InvalidValue {
            name: name.to_string(),
            reason,
        })
    })
}

/// A secret or variable as JSON: a secret never has a `value`.
pub fn item_json(item: &ItemInfo) -> Value {
    let mut object = json!({
        "id": item.id.to_string(),
        "name": item.name.as_str(),
        "type": item.kind.as_str(),
        "agents": item.agents.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "version": item.version,
        "created_at": item.created_at.to_rfc3339(),
        "updated_at": item.updated_at.to_rfc3339(),
    });
    if item.kind == Kind::Variable {
        if let Some(value) = &item.value {
            object["value"] = Value::from(value.as_str());
        }
    }
    object
}

fn report_item(ctx: &Context, item: &ItemInfo, done: &str) -> Result<(), Failure> {
    if ctx.json {
        output::json(&item_json(item))
    } else {
        output::line(format_args!(
            "{done} {} {} (version {})",
            item.kind, item.name, item.version
        ))
    }
}

async fn list(ctx: &Context) -> Result<(), Failure> {
    let items = ctx.vault.items(&ctx.user).await?;
    if ctx.json {
        return output::json(&Value::Array(items.iter().map(item_json).collect()));
    }
    if items.is_empty() {
        eprintln!("no secrets or variables yet; add one with `agent-vault secrets add NAME`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            let value = match (item.kind, &item.value) {
                (Kind::Variable, Some(value)) => output::cell(value),
                _ => "(hidden)".to_owned(),
            };
            vec![
                item.name.to_string(),
                item.kind.to_string(),
                item.version.to_string(),
                item.agents.len().to_string(),
                item.updated_at.to_rfc3339(),
                value,
            ]
        })
        .collect();
    output::table(
        &["NAME", "TYPE", "VERSION", "AGENTS", "UPDATED", "VALUE"],
        &rows,
    )
}

/// Reads a file, or standard input for `-`, into a buffer that is wiped on
/// drop and never outgrown unwiped (`secret_io::read_to_end`).
pub fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    if path.as_os_str() == "-" {
        return secret_io::read_to_end(&mut std::io::stdin().lock(), None)
            .map_err(|e| Failure::io("reading standard input", e));
    }
    let mut file = std::fs::File::open(path)
        .map_err(|e| Failure::io(format!("cannot open {}", path.display()), e))?;
    let size = file.metadata().map(|m| m.len()).ok();
    secret_io::read_to_end(&mut file, size)
        .map_err(|e| Failure::io(format!("cannot read {}", path.display()), e))
}

/// Parses `input` as `file`, printing the parser's warnings on standard
/// error with `FILE:LINE:COLUMN`.
fn parse_dotenv(
    file: &Path,
    input: &[u8],
    options: &ParseOptions,
) -> Result<dotenv::Dotenv, Failure> {
    let parsed = dotenv::parse_with(input, options).map_err(|e| Failure::InFile {
        file: file.to_owned(),
        error: Error::Dotenv(e),
    })?;
    for warning in parsed.warnings() {
        eprintln!(
            "warning: {}:{}:{}: {}",
            file.display(),
            warning.line(),
            warning.column(),
            warning.kind()
        );
    }
    let more = parsed.warning_count() - parsed.warnings().len();
    if more > 0 {
        eprintln!("warning: {}: and {more} more warnings", file.display());
    }
    for duplicate in parsed.duplicates() {
        eprintln!(
            "warning: {}:{}: {} is defined again; the last definition wins",
            file.display(),
            duplicate.line(),
            duplicate.name()
        );
    }
    Ok(parsed)
}

async fn import(ctx: &Context, file: &Path, options: &ImportOptions) -> Result<(), Failure> {
    let progress = Progress::new();
    let input = read_file(file)?;
    progress.step(format_args!(
        "parsing {} ({} bytes)…",
        file.display(),
        input.len()
    ));
    let parse_options = ParseOptions::default()
        .with_max_file_size(options.max_file_size)
        // As `Vault::import_dotenv` parses: any value up to the file limit;
        // the vault then refuses an oversized one by its name and line.
        .with_max_value_size(options.max_file_size);
    let count = parse_dotenv(file, &input, &parse_options)?.len();
    let in_file = |error: Error| Failure::InFile {
        file: file.to_owned(),
        error,
    };
    let report = if progress.enabled() && !options.dry_run {
        // Plan first so the user sees how much is about to be written.
        progress.step(format_args!("planning {count} entries…"));
        let plan = ctx
            .vault
            .import_dotenv(&ctx.user, &input, &options.clone().dry_run(true))
            .await
            .map_err(in_file)?;
        let writes = plan.count(ImportAction::Create) + plan.count(ImportAction::Update);
        progress.step(format_args!("committing {writes} entries…"));
        ctx.vault
            .import_dotenv(&ctx.user, &input, options)
            .await
            .map_err(in_file)?
    } else {
        progress.step(format_args!("planning {count} entries…"));
        ctx.vault
            .import_dotenv(&ctx.user, &input, options)
            .await
            .map_err(in_file)?
    };
    progress.step(format_args!("done"));
    print_report(ctx, &report)
}

fn action_text(action: ImportAction, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (ImportAction::Create, false) => "created",
        (ImportAction::Create, true) => "would create",
        (ImportAction::Update, false) => "updated",
        (ImportAction::Update, true) => "would update",
        (ImportAction::Skip, false) => "skipped",
        (ImportAction::Skip, true) => "would skip",
        (ImportAction::Unchanged, _) => "unchanged",
        // A kind of action added later reads as it serialises.
        (other, _) => other.as_str(),
    }
}

fn action_json(action: ImportAction) -> &'static str {
    action.as_str()
}

fn print_report(ctx: &Context, report: &ImportReport) -> Result<(), Failure> {
    if ctx.json {
        let entries: Vec<Value> = report
            .entries
            .iter()
            .map(|e| {
                json!({
                    "name": e.name.as_str(),
                    "type": e.kind.as_str(),
                    "action": action_json(e.action),
                    "converted_to_secret": e.converted_to_secret,
                    "line": e.line,
                })
            })
            .collect();
        let duplicates: Vec<Value> = report
            .duplicates
            .iter()
            .map(|(name, line)| json!({ "name": name, "line": line }))
            .collect();
        return output::json(&json!({
            "dry_run": report.dry_run,
            "entries": entries,
            "duplicates": duplicates,
            "warnings": report.warnings,
            "warning_count": report.warning_count,
        }));
    }
    for entry in &report.entries {
        let converted = match (entry.converted_to_secret, report.dry_run) {
            (false, _) => "",
            (true, false) => "  (converted from a variable)",
            (true, true) => "  (would convert from a variable)",
        };
        output::line(format_args!(
            "{:<12}  {:<8}  {}{converted}",
            action_text(entry.action, report.dry_run),
            entry.kind,
            entry.name
        ))?;
    }
    let verb = if report.dry_run {
        "dry run, nothing stored"
    } else {
        "imported"
    };
    output::line(format_args!(
        "{verb}: {} created, {} updated, {} unchanged, {} skipped",
        report.count(ImportAction::Create),
        report.count(ImportAction::Update),
        report.count(ImportAction::Unchanged),
        report.count(ImportAction::Skip),
    ))
}

/// `dotenv parse FILE`: the mapping as one JSON object.
pub fn dotenv_parse(file: &Path) -> Result<(), Failure> {
    let input = read_file(file)?;
    let parsed = parse_dotenv(file, &input, &ParseOptions::default())?;
    // Borrowed, sorted and the last definition winning, as a JSON object
    // would have them, but with no copy of any value (a `Value` would hold
    // plain `String`s, freed unwiped).
    let object: std::collections::BTreeMap<&str, &str> = parsed
        .entries()
        .iter()
        .map(|entry| (entry.name(), entry.value()))
        .collect();
    output::json_of(&object)
}
