//! `serve`: the HTTP API (`agent_vault::http`) on a socket, with API keys as
//! users, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use agent_vault::http::{self, ApiKeys};
use zeroize::Zeroizing;

use crate::cli::Global;
use crate::context::{non_empty_var, open_vault};
use crate::failure::{Failure, OK};
use crate::output;

/// The variable holding the API keys: `KEY=USER[,KEY=USER…]`.
pub const API_KEYS_VAR: &str = "AGENT_VAULT_API_KEYS";

/// The variable naming a file that holds the API keys (one `KEY=USER` per
/// line, or comma-separated).
pub const API_KEYS_FILE_VAR: &str = "AGENT_VAULT_API_KEYS_FILE";

/// The variable choosing how much is logged on standard error: `error`,
/// `warn`, `info` (the default), `debug` or `trace`.
pub const LOG_VAR: &str = "AGENT_VAULT_LOG";

/// Serves until a signal; every request in flight finishes first.
pub async fn run(global: &Global, addr: SocketAddr) -> Result<u8, Failure> {
    start_logging()?;
    let keys = api_keys_from_env()?;
    let vault = Arc::new(open_vault(global).await?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| Failure::io(format!("listening on {addr}"), error))?;
    let local = listener
        .local_addr()
        .map_err(|error| Failure::io("reading the bound address", error))?;
    // Printed once the socket accepts connections: a supervisor or a test
    // waits for this line (and reads the port, for --addr with port 0).
    output::line(format_args!("listening on http://{local}"))?;
    tracing::info!(%local, "listening");
    axum::serve(listener, http::router(vault, keys))
        .with_graceful_shutdown(stop_signal())
        .await
        .map_err(|error| Failure::io("serving", error))?;
    tracing::info!("stopped");
    Ok(OK)
}

/// The API keys from [`API_KEYS_VAR`] or [`API_KEYS_FILE_VAR`] (exactly one).
fn api_keys_from_env() -> Result<ApiKeys, Failure> {
    let inline = non_empty_var(API_KEYS_VAR)?;
    let file = non_empty_var(API_KEYS_FILE_VAR)?;
    let (source, text) = match (inline, file) {
        (Some(text), None) => (API_KEYS_VAR.to_owned(), text),
        (None, Some(path)) => {
            let path = Path::new(path.trim());
            let text = std::fs::read_to_string(path)
                .map_err(|error| Failure::io(format!("reading {}", path.display()), error))?;
            (path.display().to_string(), Zeroizing::new(text))
        }
        (Some(_), Some(_)) => {
            return Err(Failure::NotConfigured(format!(
                "both {API_KEYS_VAR} and {API_KEYS_FILE_VAR} are set; set only one"
            )));
        }
        (None, None) => {
            return Err(Failure::NotConfigured(format!(
                "no API keys: set {API_KEYS_VAR}=\"KEY=USER[,KEY=USER...]\" or \
                 {API_KEYS_FILE_VAR} (keys of at least {} characters)",
                http::MIN_API_KEY_LEN
            )));
        }
    };
    ApiKeys::parse(&text).map_err(|error| Failure::NotConfigured(format!("{source}: {error}")))
}

/// Logs to standard error at the level [`LOG_VAR`] names.
fn start_logging() -> Result<(), Failure> {
    let level = match std::env::var(LOG_VAR) {
        Ok(text) => text.parse::<tracing::Level>().map_err(|_| {
            Failure::Usage(format!(
                "{LOG_VAR} {text:?} is not one of error, warn, info, debug, trace"
            ))
        })?,
        Err(_) => tracing::Level::INFO,
    };
    // A second call (never made here) would fail harmlessly: ignore it.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: wait for SIGTERM alone.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("stopping: finishing requests in flight");
}
