//! `agent-vault keys …`: the keyring lives in the environment
//! (`AGENT_VAULT_MASTER_KEYS`), the records in the database; these commands
//! print the next keyring value and re-seal records.

use std::io::{IsTerminal as _, Write as _};

use agent_vault::RewrapOptions;
use agent_vault::crypto::{KeyId, MasterKey};
use serde_json::json;

use crate::cli::KeysCommand;
use crate::context::Context;
use crate::failure::Failure;
use crate::output;

/// Runs one `keys` command.
pub async fn run(ctx: &Context, command: KeysCommand) -> Result<(), Failure> {
    let vault = &ctx.vault;
    match command {
        KeysCommand::List => {
            let keyring = vault.keyring();
            if keyring.is_empty() {
                return Err(agent_vault::Error::NotConfigured.into());
            }
            let usage = vault.key_usage().await?;
            let primary = keyring.primary_id();
            let rows: Vec<(u32, bool, u64)> = keyring
                .ids()
                .chain(
                    usage
                        .keys()
                        .copied()
                        .filter(|id| keyring.get(*id).is_none()),
                )
                .map(|id| {
                    (
                        id.0,
                        Some(id) == primary,
                        usage.get(&id).copied().unwrap_or(0),
                    )
                })
                .collect();
            if ctx.json {
                let keys: Vec<_> = rows
                    .iter()
                    .map(|(id, primary, records)| {
                        json!({ "id": id, "primary": primary, "in_keyring": keyring.get(KeyId(*id)).is_some(), "records": records })
                    })
                    .collect();
                output::json(&json!(keys))?;
            } else {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|(id, primary, records)| {
                        let state = if keyring.get(KeyId(*id)).is_none() {
                            "MISSING from keyring"
                        } else if *primary {
                            "primary"
                        } else {
                            ""
                        };
                        vec![id.to_string(), records.to_string(), state.to_owned()]
                    })
                    .collect();
                output::table(&["ID", "RECORDS", "STATE"], &rows)?;
            }
        }
        KeysCommand::Add => {
            let mut keyring = vault.keyring();
            if keyring.is_empty() {
                return Err(agent_vault::Error::NotConfigured.into());
            }
            let next = keyring
                .ids()
                .map(|id| id.0)
                .max()
                .unwrap_or(0)
                .saturating_add(1);
            keyring
                .add(KeyId(next), MasterKey::generate())
                .map_err(agent_vault::Error::from)?;
            print_keyring(ctx, &keyring, ("added", next))?;
        }
        KeysCommand::Promote { id } => {
            if !vault.keyring().ids().any(|known| known == KeyId(id)) {
                return Err(Failure::NotFound(format!(
                    "master key {id} is not in the keyring"
                )));
            }
            // Promoted through the vault, so the promotion is in the audit
            // trail (`agent-vault audit --vault`).
            vault.promote_key(KeyId(id)).await?;
            print_keyring(ctx, &vault.keyring(), ("primary", id))?;
        }
        KeysCommand::Retire { id } => {
            vault.retire_key(KeyId(id)).await?;
            print_keyring(ctx, &vault.keyring(), ("retired", id))?;
        }
        KeysCommand::Rewrap { batch_size } => {
            let options = RewrapOptions::default().with_batch_size(batch_size);
            let mut bar = Bar::new();
            let report = vault
                .rewrap(&options, &mut |p| bar.show(p.done, p.total))
                .await;
            bar.finish();
            let report = report?;
            if ctx.json {
                output::json(&json!(report))?;
            } else {
                output::line(format_args!(
                    "rewrapped {} of {} records ({} users) under key {}",
                    report.rewrapped,
                    report.records,
                    report.users,
                    vault.keyring().primary_id().map_or(0, |id| id.0)
                ))?;
            }
        }
        KeysCommand::RotateUser => {
            let generation = vault.rotate_user_key(&ctx.user).await?;
            let mut bar = Bar::new();
            let report = vault
                .rewrap_user(&ctx.user, &RewrapOptions::default(), &mut |p| {
                    bar.show(p.done, p.total)
                })
                .await;
            bar.finish();
            let report = report?;
            if ctx.json {
                output::json(&json!({ "generation": generation, "rewrapped": report.rewrapped }))?;
            } else {
                output::line(format_args!(
                    "user {} is on key generation {generation}; rewrapped {} records",
                    ctx.user, report.rewrapped
                ))?;
            }
        }
    }
    Ok(())
}

/// Prints the keyring specification (it holds every key: it goes to
/// standard output only, for the caller's configuration), with no unwiped
/// copy on the way: the JSON is written around the spec's own buffer.
fn print_keyring(
    ctx: &Context,
    keyring: &agent_vault::crypto::Keyring,
    extra: (&str, u32),
) -> Result<(), Failure> {
    let spec = keyring.to_spec();
    if ctx.json {
        let mut fields = serde_json::Map::new();
        fields.insert(extra.0.to_owned(), extra.1.into());
        output::json_with_secret(fields, "master_keys", &spec)
    } else {
        output::line(spec.as_str())
    }
}

/// A progress bar on standard error: redrawn in place on a terminal, one
/// line per tenth otherwise.
struct Bar {
    terminal: bool,
    last_tenth: u64,
    drawn: bool,
}

impl Bar {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last_tenth: u64::MAX,
            drawn: false,
        }
    }

    fn show(&mut self, done: u64, total: u64) {
        let fraction = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = (fraction * 30.0).round() as usize;
            let _ = write!(
                err,
                "\rrewrap [{}{}] {done}/{total} records",
                "#".repeat(filled),
                " ".repeat(30 - filled.min(30))
            );
            let _ = err.flush();
            self.drawn = true;
        } else {
            let tenth = (fraction * 10.0).floor() as u64;
            if tenth != self.last_tenth {
                self.last_tenth = tenth;
                let _ = writeln!(err, "rewrap: {done}/{total} records");
            }
        }
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}
