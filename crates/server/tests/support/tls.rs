//! Certificates made on the spot (rcgen) and a client that trusts only them: HTTPS requests
//! and `wss://` WebSockets against a server with TLS.

use std::{net::SocketAddr, path::Path, sync::Arc};

use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::WAIT;

/// A self-signed certificate for `localhost` and its key, in PEM.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCert {
    pub fn new() -> Self {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        Self {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
        }
    }

    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> (String, String) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write cert");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert.display().to_string(), key.display().to_string())
    }

    /// A connector that trusts this certificate alone.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("PEM cert");
        roots.add(der).expect("a root");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

/// A TLS connection to `addr` as `localhost`.
pub async fn connect(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a server name");
    timeout(WAIT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake in time")
}

/// An HTTPS GET; returns the status and the body.
pub async fn https_get(addr: SocketAddr, connector: &TlsConnector, path: &str) -> (u16, String) {
    let mut stream = connect(addr, connector).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    // A TLS peer may end without close_notify after `Connection: close`: what was read counts.
    let _ = timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("response in time");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A `wss://` WebSocket, its `welcome` read.
pub async fn wss(
    addr: SocketAddr,
    connector: &TlsConnector,
    path: &str,
) -> (WebSocketStream<TlsStream<TcpStream>>, Value) {
    let stream = connect(addr, connector).await.expect("TLS handshake");
    let (mut ws, _) = timeout(WAIT, client_async(format!("wss://localhost{path}"), stream))
        .await
        .expect("upgrade in time")
        .expect("websocket handshake");
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// The next JSON frame of a `wss://` WebSocket.
pub async fn recv(ws: &mut WebSocketStream<TlsStream<TcpStream>>) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("a valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// Sends one JSON frame over a `wss://` WebSocket.
pub async fn send(ws: &mut WebSocketStream<TlsStream<TcpStream>>, frame: Value) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// The next JSON frame of type `kind`, skipping presence.
pub async fn recv_type(ws: &mut WebSocketStream<TlsStream<TcpStream>>, kind: &str) -> Value {
    loop {
        let frame = recv(ws).await;
        if frame["type"] == kind {
            return frame;
        }
        assert_eq!(frame["type"], "presence", "expected {kind}, got {frame}");
    }
}
