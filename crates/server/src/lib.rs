//! The chat server as a library: [`run`] serves a bound listener until a shutdown future
//! completes, so the binary and the tests start exactly the same server.
//!
//! # Layout
//! - `main.rs`: the CLI (clap), loading settings, logging, signals, exit codes.
//! - [`run`]: wires history, hub and HTTP together and shuts them down in order.
//! - `wiring`: settings → the parts' own configurations and the history store; refuses what
//!   is not available.

mod wiring;

use std::{future::Future, time::Duration};

use chat_config::Settings;
use chat_ws::hub::HubHandle;
use tokio::{net::TcpListener, time::timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use wiring::{HistoryUnusable, Unavailable};

/// Serves chat on `listener` until `shutdown` completes, then closes every connection with
/// 1001 after flushing it, makes the history durable, and returns, all within
/// `server.shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    wiring::check_available(&settings)?;
    let history = wiring::history(&settings)?;
    let (hub, hub_task) = HubHandle::spawn(history, wiring::hub_config(&settings));
    let stop = CancellationToken::new();
    let app = chat_http::App::new(
        wiring::http_config(&settings),
        hub,
        wiring::client_config(&settings),
        stop.clone(),
    );
    let address = listener.local_addr()?;
    info!(%address, "listening on {address}");
    let accept = tokio::spawn(chat_http::serve(listener, app.clone()));

    shutdown.await;
    let started = tokio::time::Instant::now();
    let grace = settings.server.shutdown_grace;
    info!(open = app.open_connections(), "shutting down");
    stop.cancel();
    let sockets = app.sockets().clone();
    sockets.close();
    let deadline = started + grace;
    if timeout(grace, sockets.wait()).await.is_err() {
        warn!(
            open = app.open_connections(),
            "connections still open at the end of the grace period"
        );
    }
    let _ = tokio::time::timeout_at(deadline, accept).await;
    // The last hub handle goes with the app; the hub then flushes the history and ends.
    drop(app);
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    if timeout(remaining.max(Duration::from_millis(100)), hub_task)
        .await
        .is_err()
    {
        warn!("history was still being flushed at the end of the grace period");
    }
    info!("stopped");
    Ok(())
}
