use std::{net::SocketAddr, sync::Arc};

use hyper::{Method, Request, Response, StatusCode, body::Incoming};

use crate::{
    App, api, auth, files,
    response::{Body, Reply, boxed, text},
    static_files, upgrade,
};

/// Dispatches one request from `remote` by path.
pub(crate) async fn route(
    app: &Arc<App>,
    remote: SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path();
    if path == "/files" || path.starts_with("/files/") {
        return files::serve(app, request).await;
    }
    in_memory(app, remote, request).await.map(boxed)
}

/// The routes whose answers are complete in memory.
async fn in_memory(app: &Arc<App>, remote: SocketAddr, request: Request<Incoming>) -> Reply {
    match request.uri().path() {
        "/ws" => upgrade::upgrade(app, remote.ip(), request, upgrade::Endpoint::Chat),
        #[cfg(feature = "echo")]
        "/echo" => upgrade::upgrade(app, remote.ip(), request, upgrade::Endpoint::Echo),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        // Ready while serving; a load balancer stops sending here once shutdown begins.
        "/readyz" if app.shutdown.is_cancelled() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
        }
        "/readyz" if !(app.storage_ok)() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the history cannot store\n",
        ),
        "/readyz" => text(StatusCode::OK, "ready\n"),
        "/metrics" => metrics(app),
        "/session" => auth::session(app.auth.as_ref(), request.headers(), request.uri().query()),
        path if path.starts_with("/api/") || path == "/api" => api::serve(app, request).await,
        _ if matches!(*request.method(), Method::GET | Method::HEAD) => {
            static_files::serve(app.config.web_dir.as_deref(), &request).await
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    }
}

/// The metrics page, in Prometheus text format.
fn metrics(app: &App) -> Reply {
    let mut reply = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from((app
        .metrics)(
    ))));
    reply.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    reply
}
