//! `audit`: the store-backed audit trail.

use agent_vault::Timestamp;
use agent_vault::audit::{AuditEvent, AuditOutcome, AuditSubject};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::Context;
use crate::failure::Failure;
use crate::output;

/// Runs `audit`.
pub async fn run(
    ctx: &Context,
    since: Option<&str>,
    limit: usize,
    vault_wide: bool,
) -> Result<(), Failure> {
    let since = match since {
        None => Timestamp::from_unix_millis(0),
        Some(text) => {
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                Failure::Usage(format!(
                    "--since {text:?} is not an RFC 3339 time (2026-11-30T00:00:00Z)"
                ))
            })?;
            let millis = at.unix_timestamp_nanos() / 1_000_000;
            Timestamp::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
        }
    };
    let events = if vault_wide {
        ctx.vault.vault_audit_log(since, limit).await?
    } else {
        ctx.vault.audit_log(&ctx.user, since, limit).await?
    };
    if ctx.json {
        // An event is plain data (names, ids, counts), so it always renders.
        let rows: Vec<Value> = events
            .iter()
            .filter_map(|event| serde_json::to_value(event).ok())
            .collect();
        return output::json(&Value::Array(rows));
    }
    if events.is_empty() {
        eprintln!("no audit events");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = events.iter().map(row).collect();
    output::table(&["TIME", "ACTION", "OUTCOME", "SUBJECTS"], &rows)
}

fn row(event: &AuditEvent) -> Vec<String> {
    let outcome = match &event.outcome {
        AuditOutcome::Done => "done".to_owned(),
        AuditOutcome::Refused { status, .. } => format!("refused ({status})"),
        AuditOutcome::Rejected => "rejected".to_owned(),
        _ => "other".to_owned(),
    };
    let subjects: Vec<String> = event.subjects.iter().map(subject).collect();
    vec![
        event.at.to_rfc3339(),
        event.action.to_string(),
        outcome,
        output::cell(&subjects.join(" ")),
    ]
}

fn subject(subject: &AuditSubject) -> String {
    match subject {
        AuditSubject::Item { name, .. } | AuditSubject::Name { name } => name.clone(),
        AuditSubject::Connection { id } => format!("provider:{id}"),
        AuditSubject::Agent { id, name } => match name {
            Some(name) => format!("agent:{name}"),
            None => format!("agent:{id}"),
        },
        AuditSubject::Key { id } => format!("key:{id}"),
        _ => "?".to_owned(),
    }
}
