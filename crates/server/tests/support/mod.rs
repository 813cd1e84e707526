//! A real server on 127.0.0.1:0 and a small WebSocket test client.
//!
//! Every wait is bounded by [`WAIT`]: a test that would hang fails instead.
#![allow(dead_code, unreachable_pub)]

pub mod gate;
pub mod process;
pub mod redis;
pub mod tls;

use std::{net::SocketAddr, time::Duration};

use chat_config::Settings;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

/// The longest any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A server started in this process on a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    server: chat_server::Background,
}

impl TestServer {
    /// Starts a server with the defaults and `toml` on top, history in memory unless `toml`
    /// says otherwise.
    pub async fn start(toml: &str) -> Self {
        let mut settings = Settings::from_toml_str(toml).expect("test settings are valid");
        if !toml.contains("backend") {
            settings.history.backend = chat_config::HistoryBackend::Memory;
        }
        Self::start_with(settings).await
    }

    /// Starts a server with exactly these settings.
    pub async fn start_with(settings: Settings) -> Self {
        let server = chat_server::Background::start(settings)
            .await
            .expect("bind port 0");
        Self {
            addr: server.addr(),
            server,
        }
    }

    /// Connects a client named `name` and reads its `welcome`.
    pub async fn client(&self, name: &str) -> Client {
        let mut client = Client::connect(self.addr, &format!("/ws?name={name}")).await;
        let welcome = client.recv_type("welcome").await;
        client.id = welcome["user"]["id"].as_str().expect("user id").to_owned();
        client
    }

    /// Connects a client and joins it to `room`.
    pub async fn joined(&self, name: &str, room: &str) -> Client {
        let mut client = self.client(name).await;
        client.join(room).await;
        client
    }

    /// Stops the server as SIGTERM would and waits for `run` to return.
    pub async fn shutdown(self) {
        timeout(WAIT * 3, self.server.stop())
            .await
            .expect("server stops within the grace period")
            .expect("server returned Ok");
    }
}

/// A WebSocket client speaking JSON frames.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub id: String,
}

impl Client {
    /// Opens a WebSocket at `path` (with its query) without reading anything.
    pub async fn connect(addr: SocketAddr, path: &str) -> Self {
        let (ws, _) = timeout(WAIT, connect_async(format!("ws://{addr}{path}")))
            .await
            .expect("connect in time")
            .expect("websocket handshake");
        Self {
            ws,
            id: String::new(),
        }
    }

    /// Sends one JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends raw text, valid JSON or not.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send a frame");
    }

    /// Sends `text` to `room` and returns its echo.
    pub async fn say(&mut self, room: &str, text: &str) -> Value {
        self.send(json!({"type": "send", "room": room, "text": text}))
            .await;
        self.recv_type("message").await
    }

    /// Joins `room` and returns the `joined` frame.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        self.recv_type("joined").await
    }

    /// The next JSON frame.
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = timeout(WAIT, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("server frames are JSON");
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame of type `kind`, skipping presence and typing noise.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
            let skippable = matches!(frame["type"].as_str(), Some("presence" | "typing"));
            assert!(skippable, "expected {kind}, got {frame}");
        }
    }

    /// The next `error` frame's code.
    pub async fn recv_error(&mut self) -> Value {
        self.recv_type("error").await
    }

    /// Reads until the server closes; returns the close code.
    pub async fn recv_close(&mut self) -> u16 {
        loop {
            let next = timeout(WAIT, self.ws.next()).await.expect("close in time");
            match next {
                Some(Ok(Message::Close(frame))) => {
                    // One more read sends the library's answering close, completing the
                    // handshake so the server need not wait for it.
                    let _ = timeout(WAIT, self.ws.next()).await;
                    return frame.map_or(1005, |f| f.code.into());
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed before a close frame: {e}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    /// Asserts that nothing but pings arrives before a round trip through the server ends:
    /// a `history` request answered proves earlier frames would have been seen.
    pub async fn assert_quiet(&mut self, room: &str) {
        self.send(json!({"type": "history", "room": room, "limit": 1}))
            .await;
        let next = self.recv().await;
        assert_eq!(next["type"], "history", "unexpected frame {next}");
    }
}

/// Opens a WebSocket with extra request headers; returns the HTTP status of a refusal.
pub async fn upgrade_status(addr: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    match timeout(WAIT, connect_async(request))
        .await
        .expect("answer in time")
    {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

/// A plain HTTP/1.1 request; returns the status, the header block and the body.
pub async fn http_get(addr: SocketAddr, path: &str, extra_headers: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head.to_ascii_lowercase(), raw[split + 4..].to_vec())
}

/// Reads the raw socket of a client that stopped reading (so its library never answered a
/// ping) until the server hangs up, and returns the code of the close frame it sent, if any.
pub async fn raw_close_code(client: &mut Client) -> Option<u16> {
    let MaybeTlsStream::Plain(tcp) = client.ws.get_mut() else {
        panic!("test clients use plain TCP");
    };
    let mut raw = Vec::new();
    // The server drops the socket at most a few seconds after its close frame.
    let _ = timeout(WAIT, tcp.read_to_end(&mut raw)).await;
    let mut at = 0;
    while at + 2 <= raw.len() {
        let opcode = raw[at] & 0x0f;
        let (len, header) = match raw[at + 1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([raw[at + 2], raw[at + 3]])),
                4,
            ),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&raw[at + 2..at + 10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        let payload = raw.get(at + header..at + header + len)?;
        if opcode == 0x8 {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
        at += header + len;
    }
    None
}

/// The sorted names in a `joined` frame's `members`.
pub fn member_names(joined: &Value) -> Vec<String> {
    let mut names: Vec<String> = joined["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    names
}

/// Waits until the node's `/readyz` answers `status` (it follows a probe made every second).
pub async fn ready_becomes(node: &TestServer, status: u16) {
    tokio::time::timeout(WAIT * 2, async {
        while http_get(node.addr, "/readyz", "").await.0 != status {
            // The probe runs on its own clock: nothing to await but the next look.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("/readyz answers {status} in time"));
}
