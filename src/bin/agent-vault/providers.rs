//! `providers …`

use agent_vault::{
    CodexTokens, ConnectionId, ConnectionInfo, Credential, CredentialKind, CustomEndpoint, Error,
    Provider,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::cli::{ConnectArgs, KindArg, ProviderArg, ProvidersCommand};
use crate::context::{Context, read_stdin_value};
use crate::failure::Failure;
use crate::output;
use crate::secrets::read_file;

/// Runs a `providers` command.
pub async fn run(ctx: &Context, command: ProvidersCommand) -> Result<(), Failure> {
    match command {
        ProvidersCommand::Connect(args) => connect(ctx, args).await,
        ProvidersCommand::List => list(ctx).await,
        ProvidersCommand::Disconnect { provider, kind } => {
            let id = connection_to_remove(ctx, provider_of(provider), kind).await?;
            ctx.vault.disconnect(&ctx.user, id).await?;
            if ctx.json {
                output::json(&json!({ "disconnected": id.to_string() }))
            } else {
                output::line(format_args!("disconnected {id}"))
            }
        }
    }
}

fn provider_of(arg: ProviderArg) -> Provider {
    match arg {
        ProviderArg::Anthropic => Provider::Anthropic,
        ProviderArg::Openai => Provider::OpenAi,
        ProviderArg::Openrouter => Provider::OpenRouter,
        ProviderArg::Venice => Provider::Venice,
        ProviderArg::Pinata => Provider::Pinata,
        ProviderArg::Custom => Provider::Custom,
    }
}

fn kind_of(arg: KindArg) -> CredentialKind {
    match arg {
        KindArg::ApiKey => CredentialKind::ApiKey,
        KindArg::CodexSubscription => CredentialKind::CodexSubscription,
        KindArg::Hosted => CredentialKind::Hosted,
        KindArg::Custom => CredentialKind::Custom,
    }
}

/// The credential the arguments describe, reading what they need from
/// standard input or a file.
fn credential(args: &ConnectArgs) -> Result<Credential, Failure> {
    let provider = provider_of(args.provider);
    if args.codex_oauth.is_some() && provider != Provider::OpenAi {
        return Err(Failure::Usage(
            "--codex-oauth is for `providers connect openai` only".into(),
        ));
    }
    if provider != Provider::Custom && (args.base_url.is_some() || !args.models.is_empty()) {
        return Err(Failure::Usage(
            "--base-url and --model are for `providers connect custom` only".into(),
        ));
    }
    match (provider, args.codex_oauth.as_deref()) {
        (Provider::Pinata, _) => Ok(Credential::PinataHosted),
        (Provider::Custom, _) => {
            let Some(base_url) = &args.base_url else {
                return Err(Failure::Usage(
                    "`providers connect custom` needs --base-url URL".into(),
                ));
            };
            let key = read_stdin_value("API key for custom (may be empty)")?;
            let key = (!key.expose_secret().is_empty()).then_some(key);
            Ok(Credential::Custom(CustomEndpoint::new(
                base_url,
                key,
                args.models.clone(),
            )?))
        }
        (Provider::OpenAi, Some(file)) => {
            let bytes = read_file(file)?;
            let in_file = |error| Failure::InFile {
                file: file.to_owned(),
                error,
            };
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                in_file(Error::InvalidInput {
                    field: "codex oauth file",
                    reason: "not UTF-8".into(),
                })
            })?;
            let tokens = CodexTokens::from_json(text).map_err(in_file)?;
            Ok(Credential::CodexSubscription(tokens))
        }
        _ => {
            let key: SecretString = read_stdin_value(&format!("API key for {provider}"))?;
            Ok(Credential::api_key(provider, key))
        }
    }
}

async fn connect(ctx: &Context, args: ConnectArgs) -> Result<(), Failure> {
    let credential = credential(&args)?;
    let (info, done) = match ctx.vault.connect(&ctx.user, &credential).await {
        Ok(info) => (info, "connected"),
        // Connecting again replaces the credential (documented in --help).
        Err(Error::AlreadyExists { .. }) => (
            ctx.vault.update_connection(&ctx.user, &credential).await?,
            "updated",
        ),
        Err(other) => return Err(other.into()),
    };
    if ctx.json {
        let mut value = connection_json(&info);
        value["action"] = Value::from(done);
        output::json(&value)
    } else {
        output::line(format_args!(
            "{done} {} ({}), version {}",
            info.provider, info.kind, info.version
        ))
    }
}

fn connection_json(info: &ConnectionInfo) -> Value {
    json!({
        "id": info.id.to_string(),
        "provider": info.provider.as_str(),
        "kind": info.kind.as_str(),
        "variables": info.variables,
        "agents": info.agents.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "version": info.version,
        "connected_at": info.connected_at.to_rfc3339(),
        "updated_at": info.updated_at.to_rfc3339(),
    })
}

async fn list(ctx: &Context) -> Result<(), Failure> {
    let connections = ctx.vault.connections(&ctx.user).await?;
    if ctx.json {
        return output::json(&Value::Array(
            connections.iter().map(connection_json).collect(),
        ));
    }
    if connections.is_empty() {
        eprintln!("no provider connected yet; see `agent-vault providers connect --help`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = connections
        .iter()
        .map(|c| {
            vec![
                c.provider.to_string(),
                c.kind.to_string(),
                c.agents.len().to_string(),
                c.connected_at.to_rfc3339(),
                c.variables.join(","),
            ]
        })
        .collect();
    output::table(
        &["PROVIDER", "KIND", "AGENTS", "CONNECTED", "VARIABLES"],
        &rows,
    )
}

/// The connection `disconnect` means: the given kind, or the provider's
/// only connection.
async fn connection_to_remove(
    ctx: &Context,
    provider: Provider,
    kind: Option<KindArg>,
) -> Result<ConnectionId, Failure> {
    if let Some(kind) = kind {
        let id = ConnectionId::new(provider, kind_of(kind));
        if !id.is_valid() {
            return Err(Failure::Invalid(format!(
                "{provider} has no {} connection",
                id.kind
            )));
        }
        return Ok(id);
    }
    let ids: Vec<ConnectionId> = ctx
        .vault
        .connections(&ctx.user)
        .await?
        .into_iter()
        .filter(|c| c.provider == provider)
        .map(|c| c.id)
        .collect();
    match ids.as_slice() {
        [] => Err(Failure::NotFound(format!("{provider} is not connected"))),
        [one] => Ok(*one),
        many => {
            let kinds: Vec<String> = many
                .iter()
                .map(|id| format!("--kind {}", id.kind))
                .collect();
            Err(Failure::Invalid(format!(
                "{provider} has several connections; give {}",
                kinds.join(" or ")
            )))
        }
    }
}
