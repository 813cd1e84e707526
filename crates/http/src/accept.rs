use std::{net::SocketAddr, sync::Arc, time::Duration};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
};
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::{App, cork::UpgradeCork, routes, tls_stream::TlsStream};

/// Pause after a failed `accept` (typically out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `app`'s shutdown fires, then lets in-flight HTTP requests finish.
/// Upgraded WebSockets are not waited for here: see [`App::sockets`].
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    let requests = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = app.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Chat frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        match app.tls.as_ref().map(|tls| tls.config()) {
            None => requests.spawn(http(UpgradeCork::new(stream), remote, app)),
            Some(config) => requests.spawn(async move {
                // The handshake is bounded like a request's headers: a client that opens a
                // socket and says nothing holds nothing for long.
                let handshake =
                    tokio::time::timeout(HEADER_READ_TIMEOUT, TlsStream::accept(stream, config));
                let handshake = tokio::select! {
                    handshake = handshake => handshake,
                    () = app.shutdown.cancelled() => return,
                };
                match handshake {
                    Ok(Ok(tls)) => http(tls, remote, app).await,
                    Ok(Err(e)) => {
                        app.http_metrics.tls_handshake_failures.increment(1);
                        debug!(%remote, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        app.http_metrics.tls_handshake_failures.increment(1);
                        debug!(%remote, "TLS handshake timed out");
                    }
                }
            }),
        };
    }
    drop(listener);
    requests.close();
    requests.wait().await;
}

/// Serves HTTP/1 requests on one connection (plain TCP behind its cork, or TLS) until it
/// ends, upgrades, or shutdown lets its request in flight finish.
async fn http<S>(io: S, remote: SocketAddr, app: Arc<App>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn({
        let app = app.clone();
        move |request| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(routes::route(&app, remote, request).await) }
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = app.shutdown.cancelled() => {
            // Finish the request in flight, then close; an upgrade already handed its socket
            // to the chat core.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        debug!(%remote, error = %e, "http connection ended with an error");
    }
}
