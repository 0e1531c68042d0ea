//! `serve`: the HTTP API (`agent_vault::http`) on a socket, with API keys as
//! users, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use agent_vault::http::{self, ApiKeys};
use zeroize::Zeroizing;

use crate::cli::Global;
use crate::context::{non_empty_var, open_vault, secret_file};
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
    // Installed before the line below: a supervisor may signal as soon as
    // it reads it.
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let signals = stop_signals()?;
    tokio::spawn(async move {
        signals.await;
        let _ = stop_sender.send(true);
    });
    // Printed once the socket accepts connections: a supervisor or a test
    // waits for this line (and reads the port, for --addr with port 0).
    output::line(format_args!("listening on http://{local}"))?;
    tracing::info!(%local, "listening");
    let mut stopped = stop.clone();
    let server =
        axum::serve(listener, http::router(vault, keys)).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            tracing::info!("stopping: finishing requests in flight");
        });
    let mut deadline = stop;
    let drained = async move {
        let _ = deadline.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.map_err(|error| Failure::io("serving", error))?,
        () = drained => {
            tracing::warn!(
                seconds = SHUTDOWN_GRACE.as_secs(),
                "requests still in flight after the grace period; stopping anyway"
            );
        }
    }
    tracing::info!("stopped");
    Ok(OK)
}

/// How long a stop waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The API keys from [`API_KEYS_VAR`] or [`API_KEYS_FILE_VAR`] (exactly one).
fn api_keys_from_env() -> Result<ApiKeys, Failure> {
    let inline = non_empty_var(API_KEYS_VAR)?;
    let file = non_empty_var(API_KEYS_FILE_VAR)?;
    let (source, text) = match (inline, file) {
        (Some(text), None) => (API_KEYS_VAR.to_owned(), text),
        (None, Some(path)) => {
            let path = Path::new(path.trim());
            // Held to the master key file's rule: no access for group or
            // others.
            let bytes = secret_file(path, "API keys")?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Failure::NotConfigured(format!("{} is not valid UTF-8", path.display()))
            })?;
            (path.display().to_string(), Zeroizing::new(text.to_owned()))
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

/// A future that resolves on Ctrl-C or SIGTERM, with both handlers already
/// installed when this returns.
fn stop_signals() -> Result<impl std::future::Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|error| Failure::io("installing the SIGTERM handler", error))?;
        let mut interrupt = signal(SignalKind::interrupt())
            .map_err(|error| Failure::io("installing the SIGINT handler", error))?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
