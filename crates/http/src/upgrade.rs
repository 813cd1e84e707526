use std::{net::IpAddr, sync::Arc};

use hyper::{
    Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderMap, HeaderValue},
    upgrade::Upgraded,
};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{debug, warn};

use chat_ws::client::Handoff;

use crate::{
    App,
    cork::UpgradeCork,
    identity, origin,
    response::{Reply, text},
};

/// Answers `GET /ws` from `peer`: a refusal as plain HTTP, or 101 and a task that serves the
/// socket.
pub(crate) fn upgrade(app: &Arc<App>, peer: IpAddr, request: Request<Incoming>) -> Reply {
    let Some(key) = websocket_key(request.headers()) else {
        let mut reply = text(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket only\n",
        );
        reply
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return reply;
    };
    if !origin::allowed(request.headers(), &app.config.allowed_origins) {
        return text(StatusCode::FORBIDDEN, "origin not allowed\n");
    }
    if app.shutdown.is_cancelled() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "connection limit reached; try again later\n",
        );
    };
    let Some(slot) = app.per_ip.try_acquire(peer) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections from your address; try again later\n",
        );
    };
    let user = identity::anonymous_user(request.uri().query());
    let accept = derive_accept_key(key.as_bytes());

    // Only the upgrade handle is kept, not the request: the task below lives as long as the
    // connection, and so does everything it holds.
    let on_upgrade = hyper::upgrade::on(request);
    let task_app = app.clone();
    app.sockets.spawn(async move {
        let Some(socket) = take_socket(on_upgrade.await) else {
            return;
        };
        chat_ws::client::serve(
            socket,
            user,
            task_app.hub.clone(),
            task_app.client.clone(),
            task_app.shutdown.clone(),
        )
        .await;
        drop((permit, slot));
    });

    let mut reply = Response::new(Default::default());
    *reply.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = reply.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    reply
}

/// The TCP stream of a finished upgrade, with any bytes hyper read past the request and the
/// held 101 response.
///
/// The chat core writes to the TCP socket itself (one socket write per batch of frames), so it
/// takes the socket back from hyper.
fn take_socket(upgraded: hyper::Result<Upgraded>) -> Option<Handoff> {
    let upgraded = match upgraded {
        Ok(upgraded) => upgraded,
        Err(e) => {
            debug!(error = %e, "upgrade failed");
            return None;
        }
    };
    let Ok(hyper::upgrade::Parts { io, read_buf, .. }) =
        upgraded.downcast::<TokioIo<UpgradeCork>>()
    else {
        warn!("upgraded connection is not a TCP stream");
        return None;
    };
    let (tcp, unsent) = io.into_inner().into_parts();
    Some(Handoff {
        tcp,
        // A copy: `read_buf` shares hyper's whole 8 KiB read buffer, which would otherwise
        // stay allocated for the life of the connection.
        early: read_buf.to_vec(),
        unsent,
    })
}

/// The `Sec-WebSocket-Key` of a valid WebSocket upgrade request, or `None` for anything else.
fn websocket_key(headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let is_upgrade = has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && version_ok;
    if !is_upgrade {
        return None;
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned)
}
