use std::{net::IpAddr, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{FutureExt, future::OptionFuture};
use hyper::{
    Method, Request, Response, StatusCode, Version,
    body::Incoming,
    header::{self, HeaderValue},
    upgrade::Upgraded,
};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{debug, warn};

use chat_ws::client::{Access, Handoff};

use crate::{
    App,
    auth::SignedIn,
    cork::UpgradeCork,
    identity, origin,
    response::{Reply, text},
    tls_stream::TlsStream,
};

/// What an upgraded connection serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    /// `/ws`: the chat.
    Chat,
    /// `/echo`: a plain WebSocket echo on the same connection layer (the `echo` feature).
    #[cfg(feature = "echo")]
    Echo,
}

/// Answers a request to `/ws` from `peer`: a refusal as plain HTTP, or 101 and a task that
/// serves the socket.
pub(crate) fn upgrade(
    app: &Arc<App>,
    peer: IpAddr,
    request: Request<Incoming>,
    endpoint: Endpoint,
) -> Reply {
    let accept = match handshake(&request) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err(refusal) => return refusal.reply(),
    };
    if !origin::allowed(request.headers(), &app.config.allowed_origins) {
        return text(StatusCode::FORBIDDEN, "origin not allowed\n");
    }
    let (user, access) = match &app.auth {
        None => (
            identity::anonymous_user(request.uri().query()),
            Access::open(),
        ),
        Some(auth) => match auth.sign_in(request.headers(), request.uri().query()) {
            Ok(SignedIn { user, access }) => (user, access),
            Err(failure) => {
                app.http_metrics.auth_failure(failure);
                debug!(reason = failure.as_str(), "upgrade refused: sign-in failed");
                let mut reply = text(StatusCode::UNAUTHORIZED, failure.message());
                reply
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return reply;
            }
        },
    };
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
    // Only the upgrade handle is kept, not the request: the task below lives as long as the
    // connection, and so does everything it holds.
    let on_upgrade = hyper::upgrade::on(request);
    let (hub, config, shutdown) = (app.hub.clone(), app.client.clone(), app.shutdown.clone());
    // One task per kind of socket, not one with an arm for each: a future is as large as its
    // largest state, and a TLS connection's is larger than a TCP one's.
    if app.tls.is_some() {
        // Chained, not an `async` block: a block keeps a slot for each value it captures for
        // its whole life, beside the copy moved into the connection's future.
        app.sockets.spawn(on_upgrade.then(move |upgraded| {
            let serve = match (take_socket(upgraded), endpoint) {
                (Some(Socket::Tls(stream, early)), Endpoint::Chat) => Some(serve_tls(
                    stream, early, user, access, hub, config, shutdown,
                )),
                // The echo tests the server's own framing over TCP; over TLS it is not
                // served.
                _ => None,
            };
            OptionFuture::from(serve).map(move |_| drop((permit, slot)))
        }));
    } else {
        app.sockets.spawn(async move {
            if let Some(Socket::Tcp(socket)) = take_socket(on_upgrade.await) {
                match endpoint {
                    Endpoint::Chat => {
                        chat_ws::client::serve(socket, user, access, hub, config, shutdown).await;
                    }
                    #[cfg(feature = "echo")]
                    Endpoint::Echo => {
                        chat_ws::client::serve_echo(socket, hub, config, shutdown).await;
                    }
                }
            }
            drop((permit, slot));
        });
    }

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

/// Serves a chat connection over TLS. Not inline in the task: a box moved out of stays
/// allocated until the end of its scope, which there is the connection's whole life.
fn serve_tls(
    stream: Box<TlsStream>,
    early: Vec<u8>,
    user: chat_ws::protocol::User,
    access: Access,
    hub: chat_ws::hub::HubHandle,
    config: Arc<chat_ws::client::ClientConfig>,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    chat_ws::client::serve_stream(*stream, early, user, access, hub, config, shutdown)
}

/// The stream of a finished upgrade.
enum Socket {
    /// Plain TCP, which the chat core writes to itself.
    Tcp(Handoff),
    /// TLS (boxed: its state is large), with the bytes hyper read past the request.
    Tls(Box<TlsStream>, Vec<u8>),
}

/// The stream of a finished upgrade, with any bytes hyper read past the request (and, for
/// TCP, the held 101 response).
///
/// The chat core writes to a TCP socket itself (one socket write per batch of frames), so it
/// takes the socket back from hyper; a TLS stream is handed over whole.
fn take_socket(upgraded: hyper::Result<Upgraded>) -> Option<Socket> {
    let upgraded = match upgraded {
        Ok(upgraded) => upgraded,
        Err(e) => {
            debug!(error = %e, "upgrade failed");
            return None;
        }
    };
    let upgraded = match upgraded.downcast::<TokioIo<UpgradeCork>>() {
        Ok(hyper::upgrade::Parts { io, read_buf, .. }) => {
            let (tcp, unsent) = io.into_inner().into_parts();
            return Some(Socket::Tcp(Handoff {
                tcp,
                // A copy: `read_buf` shares hyper's whole 8 KiB read buffer, which would
                // otherwise stay allocated for the life of the connection.
                early: read_buf.to_vec(),
                unsent,
            }));
        }
        Err(upgraded) => upgraded,
    };
    let Ok(hyper::upgrade::Parts { io, read_buf, .. }) = upgraded.downcast::<TokioIo<TlsStream>>()
    else {
        warn!("upgraded connection is neither TCP nor TLS");
        return None;
    };
    Some(Socket::Tls(Box::new(io.into_inner()), read_buf.to_vec()))
}

/// Why a request to `/ws` gets no 101 (RFC 6455 §4.2.1, §4.2.2 and §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The handshake is a GET: anything else is 405 with `Allow: GET`.
    Method,
    /// HTTP/1.0 has no upgrade: 426, so that a client never gets a 101 it cannot use.
    OldHttp,
    /// No `Connection: Upgrade` with `Upgrade: websocket` (a browser's plain GET): 426.
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13: 426 that names the version spoken here.
    Version,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 of 16 bytes: 400.
    Key,
}

impl Refusal {
    /// The HTTP answer to this refusal.
    fn reply(self) -> Reply {
        match self {
            Self::Method => {
                let mut reply = text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "the WebSocket handshake is a GET\n",
                );
                reply
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
                reply
            }
            Self::OldHttp => upgrade_required("WebSocket needs HTTP/1.1\n"),
            Self::NotUpgrade => upgrade_required("this endpoint speaks WebSocket only\n"),
            Self::Version => upgrade_required("this server speaks WebSocket version 13\n"),
            Self::Key => text(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key must be the base64 of 16 bytes\n",
            ),
        }
    }
}

/// A 426 that says what to send instead: `Upgrade` is a MUST of RFC 9110 §15.5.22, and
/// `Sec-WebSocket-Version` of RFC 6455 §4.4 for a version this server does not speak.
fn upgrade_required(body: &'static str) -> Reply {
    let mut reply = text(StatusCode::UPGRADE_REQUIRED, body);
    let headers = reply.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static(WEBSOCKET_VERSION),
    );
    reply
}

/// The one WebSocket version there is (RFC 6455 §4.1).
const WEBSOCKET_VERSION: &str = "13";

/// The `Sec-WebSocket-Key` of a valid WebSocket opening handshake, or why it is not one.
fn handshake<B>(request: &Request<B>) -> Result<&str, Refusal> {
    if request.method() != Method::GET {
        return Err(Refusal::Method);
    }
    // hyper serves HTTP/1.x here; anything older than 1.1 cannot switch protocols.
    if request.version() < Version::HTTP_11 {
        return Err(Refusal::OldHttp);
    }
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !(has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")) {
        return Err(Refusal::NotUpgrade);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != WEBSOCKET_VERSION)
    {
        return Err(Refusal::Version);
    }
    // The key must appear exactly once (RFC 6455 §11.3.1).
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(Refusal::Key);
    };
    key.to_str()
        .ok()
        .filter(|key| is_nonce(key))
        .ok_or(Refusal::Key)
}

/// Whether `key` is the base64 of exactly 16 bytes, as RFC 6455 §4.2.1 asks of the nonce.
fn is_nonce(key: &str) -> bool {
    // 16 bytes take 24 base64 characters, `==` included; the buffer fits what 24 could hold.
    let mut nonce = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut nonce), Ok(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of RFC 6455 §1.3.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A valid opening handshake with `change` applied to its builder.
    fn request(
        change: impl FnOnce(hyper::http::request::Builder) -> hyper::http::request::Builder,
    ) -> Request<()> {
        let builder = Request::get("/ws")
            .header(header::HOST, "chat.example")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13");
        change(builder).body(()).expect("a valid request")
    }

    fn keyed(key: &'static str) -> Request<()> {
        request(|b| b.header(header::SEC_WEBSOCKET_KEY, key))
    }

    #[test]
    fn a_valid_handshake_gives_its_key() {
        assert_eq!(handshake(&keyed(KEY)), Ok(KEY));
    }

    #[test]
    fn the_key_must_be_16_bytes_in_base64_once() {
        for key in [
            "",
            "not base64 at all",
            "dGhlIHNhbXBsZQ==",         // 10 bytes
            "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
            "dGhlIHNhbXBsZSBub25jZQ",   // no padding
            "dGhlIHNhbXBsZSBub25jZR==", // trailing bits set
        ] {
            assert_eq!(handshake(&keyed(key)), Err(Refusal::Key), "{key:?}");
        }
        assert_eq!(handshake(&request(|b| b)), Err(Refusal::Key), "no key");
        let twice = request(|b| {
            b.header(header::SEC_WEBSOCKET_KEY, KEY)
                .header(header::SEC_WEBSOCKET_KEY, KEY)
        });
        assert_eq!(handshake(&twice), Err(Refusal::Key));
    }

    #[test]
    fn only_get_over_http_1_1_upgrades() {
        let post = request(|b| {
            b.method(Method::POST)
                .header(header::SEC_WEBSOCKET_KEY, KEY)
        });
        assert_eq!(handshake(&post), Err(Refusal::Method));
        let old = request(|b| {
            b.version(Version::HTTP_10)
                .header(header::SEC_WEBSOCKET_KEY, KEY)
        });
        assert_eq!(handshake(&old), Err(Refusal::OldHttp));
    }

    #[test]
    fn plain_requests_and_other_versions_are_426() {
        let plain = Request::get("/ws").body(()).expect("a valid request");
        assert_eq!(handshake(&plain), Err(Refusal::NotUpgrade));
        let eight = Request::get("/ws")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "8")
            .header(header::SEC_WEBSOCKET_KEY, KEY)
            .body(())
            .expect("a valid request");
        assert_eq!(handshake(&eight), Err(Refusal::Version));
    }

    #[test]
    fn refusals_say_what_would_be_accepted() {
        let method = Refusal::Method.reply();
        assert_eq!(method.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(method.headers()[header::ALLOW], "GET");
        for refusal in [Refusal::OldHttp, Refusal::NotUpgrade, Refusal::Version] {
            let reply = refusal.reply();
            assert_eq!(reply.status(), StatusCode::UPGRADE_REQUIRED);
            assert_eq!(reply.headers()[header::UPGRADE], "websocket");
            assert_eq!(reply.headers()[header::SEC_WEBSOCKET_VERSION], "13");
        }
        assert_eq!(Refusal::Key.reply().status(), StatusCode::BAD_REQUEST);
    }
}
