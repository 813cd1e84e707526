//! The chat server as a library: [`run`] serves a bound listener until a shutdown future
//! completes, so the binary and the tests start exactly the same server.
//!
//! # Layout
//! - `main.rs`: the CLI (clap), loading settings, logging, signals, exit codes.
//! - [`run`]: wires history, hub and HTTP together and shuts them down in order.
//! - [`Background`]: [`run`] on a free loopback port in the caller's runtime (tests).
//! - [`token`]: the `token` subcommand's signed JWT.
//! - `wiring`: settings → the parts' own configurations and the history store; refuses what
//!   is not available.

mod background;
mod token;
mod wiring;

use std::{future::Future, time::Duration};

use chat_config::Settings;
use chat_ws::{hub::HubHandle, metrics::Metrics};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::{net::TcpListener, time::timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use chat_http::TlsError;

pub use background::Background;
pub use token::{TokenError, TokenRequest, token};
pub use wiring::HistoryUnusable;

/// Histogram buckets for latencies, in seconds: 10 µs to 1 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Reads the TLS certificate and key again on every SIGHUP, for the connections that come
/// after; open connections keep theirs, and a failed reload keeps the current pair.
fn reload_on_hangup(
    app: std::sync::Arc<chat_http::App>,
) -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            match app.reload_tls() {
                Ok(()) => info!("TLS certificate and key reloaded"),
                Err(e) => warn!(error = %e, "TLS reload failed; the current certificate stays"),
            }
        }
    })
}

/// Serves chat on `listener` until `shutdown` completes, then closes every connection with
/// 1001 after flushing it, makes the history durable, and returns, all within
/// `server.shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // A recorder of this server's own (not the process-global one), so servers started side
    // by side in one process, as the tests do, count separately.
    let recorder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .build_recorder();
    let metrics = Metrics::register(&recorder);
    let http_metrics = chat_http::HttpMetrics::register(&recorder);
    let security = wiring::security(&settings)?;
    let tls = security.tls.is_some();
    let (broker, storage_ok) = wiring::broker(&settings, &metrics)?;
    let exporter = recorder.handle();
    let upkeep = tokio::spawn({
        // Histogram samples pile up until drained: drain them whether or not anyone scrapes.
        let exporter = exporter.clone();
        async move {
            let mut tick = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tick.tick().await;
                exporter.run_upkeep();
            }
        }
    });
    let files = wiring::files(&settings).await?;
    let (hub, hub_task) = HubHandle::spawn(broker, wiring::hub_config(&settings), metrics);
    let stop = CancellationToken::new();
    let mut client = wiring::client_config(&settings);
    client.files = files
        .clone()
        .map(|files| files as std::sync::Arc<dyn chat_ws::files::FileSharing>);
    let sweep = files.clone().map(|files| {
        let stop = stop.clone();
        tokio::spawn(async move { files.sweep_until(stop).await })
    });
    let app = chat_http::App::new(
        wiring::http_config(&settings),
        hub,
        client,
        stop.clone(),
        Box::new(move || exporter.render()),
        storage_ok,
        security,
        http_metrics,
        files,
    );
    let address = listener.local_addr()?;
    let reloads = match tls {
        true => Some(tokio::spawn(reload_on_hangup(app.clone())?)),
        false => None,
    };
    let scheme = if tls { "https" } else { "http" };
    info!(%address, scheme, "listening on {address}");
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
    if let Some(reloads) = reloads {
        // It holds the app: it must be gone before the app's last handle is dropped.
        reloads.abort();
        let _ = reloads.await;
    }
    // The last hub handle goes with the app; the hub then flushes the history and ends.
    drop(app);
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    if timeout(remaining.max(Duration::from_millis(100)), hub_task)
        .await
        .is_err()
    {
        warn!("history was still being flushed at the end of the grace period");
    }
    upkeep.abort();
    if let Some(sweep) = sweep {
        // It ends at the shutdown's start; a pass in progress is cut short, harmlessly.
        sweep.abort();
    }
    info!("stopped");
    Ok(())
}
