//! One client connection, from TCP connect to `joined`: resolve the target once
//! ([`Target::resolve`]), then per client open a TCP socket (bound to a chosen loopback
//! source address when there are more clients than one source address has ports), upgrade
//! to WebSocket at `/ws?name=...`, wait for `welcome`, send `join` and wait for `joined`
//! (skipping `presence`/`typing`). Every stage has a timeout, so a connect always ends.
//! With a `wss://` URL each socket does a TLS handshake first, trusting the `--ca-cert` given
//! (a benchmark's server has a test certificate).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::either::Either;

use crate::stages::StageTimes;
use crate::wire::{self, Limits};

/// Clients per loopback source address: below the ~28k ephemeral ports of one address.
pub const CLIENTS_PER_SOURCE: usize = 20_000;

/// A client's socket: plain TCP, or TLS for `wss://` (boxed: its state is large, and a plain
/// connection should not carry that much room).
pub type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// A joined connection.
pub type Ws = WebSocketStream<Stream>;

/// Where to connect, resolved once for all clients.
#[derive(Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// `ws://host:port/path` without a query; `?name=` is appended per client.
    pub base: String,
    /// Whether the query already has parameters (then `&name=` is appended instead).
    has_query: bool,
    /// For `wss://`: the handshake's configuration and the name the certificate must have.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("base", &self.base)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why one client did not reach `joined`.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("tcp connect: {0}")]
    Tcp(std::io::Error),
    #[error("tls handshake: {0}")]
    Tls(std::io::Error),
    #[error("upgrade: {0}")]
    Upgrade(tungstenite::Error),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("connection closed before {0}")]
    Closed(&'static str),
    #[error("server answered error {code} to join")]
    Rejected { code: String },
    #[error("websocket: {0}")]
    Ws(tungstenite::Error),
}

impl ConnError {
    /// A short label to group failures by in a report.
    pub fn label(&self) -> String {
        match self {
            ConnError::Tcp(e) => match e.raw_os_error() {
                // "Too many open files (os error 24)" says more than the kind `Uncategorized`.
                Some(_) => format!("tcp: {e}"),
                None => format!("tcp {:?}", e.kind()),
            },
            ConnError::Tls(_) => "tls handshake failed".to_owned(),
            ConnError::Upgrade(tungstenite::Error::Http(resp)) => {
                format!("http {}", resp.status().as_u16())
            }
            ConnError::Upgrade(_) => "upgrade failed".to_owned(),
            ConnError::Timeout(stage) => format!("timeout {stage}"),
            ConnError::Closed(stage) => format!("closed before {stage}"),
            ConnError::Rejected { code } => format!("join error {code}"),
            ConnError::Ws(_) => "websocket error".to_owned(),
        }
    }
}

/// Errors in the `--url` itself.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--url {url:?}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("--ca-cert {path:?}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("resolving {host}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
}

impl Target {
    /// Parses `ws://` or `wss://host:port/path[?query]` and resolves the host (IPv4 first).
    /// For `wss://`, `ca_cert` (PEM) is the certificate (authority) trusted; it is required.
    pub async fn resolve(url: &str, ca_cert: Option<&Path>) -> Result<Self, TargetError> {
        let invalid = |reason: &str| TargetError::Invalid {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(invalid("the scheme must be ws:// or wss://")),
        };
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = match secure {
            false => None,
            true => {
                let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                    .map_err(|e| invalid(&format!("the host is not a TLS server name: {e}")))?;
                Some((connector(ca_cert)?, name))
            }
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|source| TargetError::Resolve {
                host: host.clone(),
                source,
            })?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| invalid("the host resolved to no address"))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let scheme = if secure { "wss" } else { "ws" };
        Ok(Self {
            addr,
            base: format!("{scheme}://{host}:{port}{path}"),
            has_query: uri.query().is_some(),
            tls,
        })
    }

    /// Every URL of `urls`, resolved (the nodes of one chat).
    pub async fn resolve_all(
        urls: &[String],
        ca_cert: Option<&Path>,
    ) -> Result<Vec<Self>, TargetError> {
        let mut targets = Vec::with_capacity(urls.len());
        for url in urls {
            targets.push(Self::resolve(url, ca_cert).await?);
        }
        Ok(targets)
    }

    /// The source address for client `index` of `total`: `None` (the kernel picks) up to
    /// [`CLIENTS_PER_SOURCE`] clients or for a non-loopback target, else `127.0.0.(1 + i/20000)`.
    pub fn source_for(&self, index: usize, total: usize) -> Option<IpAddr> {
        source_for(self.addr, index, total)
    }

    fn url_for(&self, name: &str) -> String {
        let sep = if self.has_query { '&' } else { '?' };
        format!("{}{sep}name={name}", self.base)
    }
}

/// A TLS client configuration trusting `ca_cert` alone.
fn connector(ca_cert: Option<&Path>) -> Result<TlsConnector, TargetError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = ca_cert else {
        return Err(TargetError::CaCert {
            path: String::new(),
            reason: "wss:// needs --ca-cert PATH (the certificate to trust)".to_owned(),
        });
    };
    {
        let failed = |reason: String| TargetError::CaCert {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| failed(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(failed("no usable certificate in the file".to_owned()));
        }
    }
    // ring, as the server uses: it builds without a C toolchain beyond cc.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TargetError::CaCert {
            path: String::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn source_for(target: SocketAddr, index: usize, total: usize) -> Option<IpAddr> {
    let IpAddr::V4(ip) = target.ip() else {
        return None;
    };
    if total <= CLIENTS_PER_SOURCE || !ip.is_loopback() {
        return None;
    }
    let last = 1 + index / CLIENTS_PER_SOURCE;
    Some(IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        u8::try_from(last).unwrap_or(u8::MAX),
    )))
}

/// How one client connects.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOptions {
    /// Timeout of each stage (TCP, upgrade, welcome, joined).
    pub stage_timeout: Duration,
    /// The WebSocket read buffer per connection: small, since there may be 100k of them.
    pub read_buffer: usize,
}

/// A connection that has joined its room.
pub struct Joined {
    pub ws: Ws,
    /// The room's latest seq when we joined: the next message should be seq + 1.
    pub seq: u64,
    /// The limits the server announced in `welcome`, if any.
    pub limits: Option<Limits>,
    /// How long each stage took.
    pub stages: StageTimes,
}

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined").field("seq", &self.seq).finish()
    }
}

/// Connects one client named `name` from `source` and joins `room`.
pub async fn connect_and_join(
    target: &Target,
    name: &str,
    room: &str,
    source: Option<IpAddr>,
    opts: ConnectOptions,
) -> Result<Joined, ConnError> {
    let t = opts.stage_timeout;
    let mut stages = StageTimes::default();
    let mut lap = Instant::now();
    // The time since the previous stage ended.
    let mut took = || {
        let now = Instant::now();
        now.duration_since(std::mem::replace(&mut lap, now))
    };
    let stream = tokio::time::timeout(t, tcp_connect(target.addr, source))
        .await
        .map_err(|_| ConnError::Timeout("tcp connect"))?
        .map_err(ConnError::Tcp)?;
    // Sends are single small frames whose latency we measure: no Nagle delay.
    stream.set_nodelay(true).map_err(ConnError::Tcp)?;
    let stream: Stream = match &target.tls {
        None => Either::Left(stream),
        Some((connector, name)) => {
            let tls = tokio::time::timeout(t, connector.connect(name.clone(), stream))
                .await
                .map_err(|_| ConnError::Timeout("tls handshake"))?
                .map_err(ConnError::Tls)?;
            Either::Right(Box::new(tls))
        }
    };
    stages.tcp = took();
    let request = target
        .url_for(name)
        .into_client_request()
        .map_err(ConnError::Upgrade)?;
    // Writes stay buffered until a flush, so a batch of sends leaves in one write.
    let config = WebSocketConfig::default().read_buffer_size(opts.read_buffer);
    let (mut ws, _response) = tokio::time::timeout(
        t,
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
    )
    .await
    .map_err(|_| ConnError::Timeout("upgrade"))?
    .map_err(ConnError::Upgrade)?;
    stages.upgrade = took();

    let limits = tokio::time::timeout(t, wait_for(&mut ws, "welcome", None))
        .await
        .map_err(|_| ConnError::Timeout("welcome"))??
        .limits;
    stages.welcome = took();
    ws.send(Message::text(wire::join(room)))
        .await
        .map_err(ConnError::Ws)?;
    let seq = tokio::time::timeout(t, wait_for(&mut ws, "joined", Some(room)))
        .await
        .map_err(|_| ConnError::Timeout("joined"))??
        .seq;
    stages.joined = took();
    Ok(Joined {
        ws,
        seq,
        limits,
        stages,
    })
}

async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

/// What a setup wait needs from the frame it waited for.
struct Awaited {
    seq: u64,
    limits: Option<Limits>,
}

/// Reads frames until one of type `kind` (for `room`, when given); an `error` frame ends the
/// wait. Not cancel-safe (a frame read when cancelled is lost); only used under a timeout
/// whose expiry drops the connection anyway.
async fn wait_for(
    ws: &mut Ws,
    kind: &'static str,
    room: Option<&str>,
) -> Result<Awaited, ConnError> {
    while let Some(frame) = ws.next().await {
        let text = match frame.map_err(ConnError::Ws)? {
            Message::Text(text) => text,
            Message::Close(_) => return Err(ConnError::Closed(kind)),
            _ => continue,
        };
        let Ok(f) = wire::parse(&text) else { continue };
        if f.kind == "error" {
            return Err(ConnError::Rejected {
                code: f.code.as_deref().unwrap_or("?").to_owned(),
            });
        }
        if f.kind == kind && room.is_none_or(|r| f.room.as_deref() == Some(r)) {
            return Ok(Awaited {
                seq: f.seq.unwrap_or(0),
                limits: f.limits,
            });
        }
    }
    Err(ConnError::Closed(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_spread_only_when_needed() {
        let lo: SocketAddr = "127.0.0.1:9101".parse().expect("addr");
        assert_eq!(source_for(lo, 19_999, 20_000), None);
        let ip = |last| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));
        assert_eq!(source_for(lo, 0, 50_000), ip(1));
        assert_eq!(source_for(lo, 19_999, 50_000), ip(1));
        assert_eq!(source_for(lo, 20_000, 50_000), ip(2));
        assert_eq!(source_for(lo, 49_999, 50_000), ip(3));
        let remote: SocketAddr = "10.0.0.1:80".parse().expect("addr");
        assert_eq!(source_for(remote, 30_000, 50_000), None);
    }

    #[tokio::test]
    async fn urls() {
        let t = Target::resolve("ws://127.0.0.1:9101/ws", None)
            .await
            .expect("valid");
        assert_eq!(t.addr, "127.0.0.1:9101".parse().expect("addr"));
        assert_eq!(t.url_for("b1"), "ws://127.0.0.1:9101/ws?name=b1");
        let t = Target::resolve("ws://127.0.0.1:9/ws?token=x", None)
            .await
            .expect("valid");
        assert_eq!(t.url_for("b1"), "ws://127.0.0.1:9/ws?token=x&name=b1");
        assert!(Target::resolve("wss://localhost:9/ws", None).await.is_err());
        assert!(Target::resolve("http://127.0.0.1/ws", None).await.is_err());
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(
            Target::resolve("wss://localhost:9/ws", Some(missing))
                .await
                .is_err()
        );
    }
}
