//! The plain HTTP routes: the page, static files, health, readiness, refusals before upgrade.

mod support;

use std::net::SocketAddr;

use chat_config::Settings;
use support::{Client, TestServer, WAIT, http_get, upgrade_status};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

async fn server_with_web_dir() -> (TestServer, tempfile::TempDir) {
    let web = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>chat</title>",
    )
    .expect("write");
    std::fs::write(web.path().join("app.js"), "export {};").expect("write");
    std::fs::write(web.path().join(".secret"), "hidden").expect("write");
    let mut settings = Settings::default();
    settings.history.backend = chat_config::HistoryBackend::Memory;
    settings.server.web_dir = Some(web.path().to_path_buf());
    (TestServer::start_with(settings).await, web)
}

#[tokio::test]
async fn root_serves_the_page_with_a_strict_policy() {
    let (server, _web) = server_with_web_dir().await;
    let (status, head, body) = http_get(server.addr, "/", "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'self'; script-src 'self'"),
        "{head}"
    );
    assert_eq!(body, b"<!doctype html><title>chat</title>");
    let (status, head, _) = http_get(server.addr, "/app.js", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"), "{head}");
}

#[tokio::test]
async fn unknown_paths_and_escapes_are_404() {
    let (server, _web) = server_with_web_dir().await;
    for path in [
        "/nope.html",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.secret",
    ] {
        let (status, _, _) = http_get(server.addr, path, "").await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn health_and_readiness_answer_while_serving() {
    let server = TestServer::start("").await;
    assert_eq!(http_get(server.addr, "/healthz", "").await.0, 200);
    assert_eq!(http_get(server.addr, "/readyz", "").await.0, 200);
}

#[tokio::test]
async fn plain_get_on_ws_is_426() {
    let server = TestServer::start("").await;
    let (status, head, _) = http_get(server.addr, "/ws", "").await;
    assert_eq!(status, 426);
    assert!(head.contains("upgrade: websocket"));
}

/// The key of RFC 6455 §1.3, and the accept value it gets.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pplmbitxaq9kygzzhzrbk+xoo=";

/// Sends `request_line` and `headers` as raw bytes (a header with an empty name is left out)
/// and returns the answer's status and its header block, lower-cased.
async fn raw_handshake(
    addr: SocketAddr,
    request_line: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = format!("{request_line}\r\nHost: {addr}\r\n");
    for (name, value) in headers.iter().filter(|(name, _)| !name.is_empty()) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    // A 101 leaves the connection open, so read up to the end of the head only.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(WAIT, read).await.expect("response in time");
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, head)
}

/// The headers of a valid opening handshake with `key` as its `Sec-WebSocket-Key`.
fn upgrade_headers(key: &str) -> [(&str, &str); 4] {
    [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key),
    ]
}

#[tokio::test]
async fn a_raw_handshake_gets_101_with_the_accept_key() {
    let server = TestServer::start("").await;
    let (status, head) =
        raw_handshake(server.addr, "GET /ws HTTP/1.1", &upgrade_headers(KEY)).await;
    assert_eq!(status, 101, "{head}");
    assert!(
        head.contains(&format!("sec-websocket-accept: {ACCEPT}")),
        "{head}"
    );
}

#[tokio::test]
async fn a_key_that_is_not_16_bytes_in_base64_is_400() {
    let server = TestServer::start("").await;
    for key in [
        "",
        "not base64 at all",
        "dGhlIHNhbXBsZQ==",         // "the sample": 10 bytes
        "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
        "dGhlIHNhbXBsZSBub25jZQ",   // 16 bytes without the padding
    ] {
        let (status, head) =
            raw_handshake(server.addr, "GET /ws HTTP/1.1", &upgrade_headers(key)).await;
        assert_eq!(status, 400, "key {key:?}: {head}");
    }
    let mut no_key = upgrade_headers(KEY);
    no_key[3].0 = "";
    let (status, head) = raw_handshake(server.addr, "GET /ws HTTP/1.1", &no_key).await;
    assert_eq!(status, 400, "no key: {head}");
}

#[tokio::test]
async fn an_upgrade_by_another_method_is_405_allowing_get() {
    let server = TestServer::start("").await;
    for method in ["POST", "PUT", "DELETE"] {
        let (status, head) = raw_handshake(
            server.addr,
            &format!("{method} /ws HTTP/1.1"),
            &[
                ("Content-Length", "0"),
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", KEY),
            ],
        )
        .await;
        assert_eq!(status, 405, "{method}: {head}");
        assert!(head.contains("\r\nallow: get\r\n"), "{method}: {head}");
    }
}

#[tokio::test]
async fn an_upgrade_over_http_1_0_is_426_never_101() {
    let server = TestServer::start("").await;
    let (status, head) =
        raw_handshake(server.addr, "GET /ws HTTP/1.0", &upgrade_headers(KEY)).await;
    assert_eq!(status, 426, "{head}");
    assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
}

#[tokio::test]
async fn a_wrong_or_missing_version_is_426_naming_13() {
    let server = TestServer::start("").await;
    for version in [Some("8"), Some("14"), None] {
        let mut headers = upgrade_headers(KEY);
        match version {
            Some(version) => headers[2].1 = version,
            None => headers[2].0 = "",
        }
        let (status, head) = raw_handshake(server.addr, "GET /ws HTTP/1.1", &headers).await;
        assert_eq!(status, 426, "version {version:?}: {head}");
        assert!(
            head.contains("\r\nsec-websocket-version: 13\r\n"),
            "version {version:?}: {head}"
        );
    }
}

/// The name a server gives a client that asks for `name` (percent-encoded).
async fn name_given(server: &TestServer, name: &str) -> String {
    let mut client = Client::connect(server.addr, &format!("/ws?name={name}")).await;
    let welcome = client.recv_type("welcome").await;
    welcome["user"]["name"].as_str().expect("a name").to_owned()
}

#[tokio::test]
async fn names_are_nfc_and_invisible_ones_get_a_guest_name() {
    let server = TestServer::start("").await;
    // `e` + COMBINING ACUTE ACCENT becomes the one character `é`.
    assert_eq!(name_given(&server, "Zoe%CC%81").await, "Zo\u{e9}");
    for name in [
        "%E2%80%AEevil",       // a right-to-left override first
        "al%E2%80%8Bice",      // a zero-width space inside
        "alice%EF%BB%BF",      // a byte order mark after
        "%E2%81%A6x%E2%81%A9", // bidi isolates around
        "%E2%80%8B%E2%80%8B",  // nothing but zero-width spaces
        "%CC%81%CC%82",        // nothing but combining marks
        "%E3%85%A4",           // a Hangul filler
    ] {
        let given = name_given(&server, name).await;
        assert!(given.starts_with("guest-"), "{name} became {given:?}");
    }
}

#[tokio::test]
async fn foreign_origins_are_403_unless_allowed() {
    let server = TestServer::start("").await;
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade_status(server.addr, &[("Origin", &own)]).await, 101);
    assert_eq!(
        upgrade_status(server.addr, &[("Origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(
        upgrade_status(server.addr, &[]).await,
        101,
        "no Origin: not a browser"
    );

    let listed =
        TestServer::start("[server]\nallowed_origins = [\"https://good.example\"]\n").await;
    assert_eq!(
        upgrade_status(listed.addr, &[("Origin", "https://good.example")]).await,
        101
    );
    assert_eq!(
        upgrade_status(listed.addr, &[("Origin", "https://evil.example")]).await,
        403
    );

    let any = TestServer::start("[server]\nallowed_origins = [\"*\"]\n").await;
    assert_eq!(
        upgrade_status(any.addr, &[("Origin", "https://evil.example")]).await,
        101
    );
}

#[tokio::test]
async fn metrics_count_connections_and_messages() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    alice
        .send(serde_json::json!({"type": "send", "room": "r", "text": "hi"}))
        .await;
    alice.recv_type("message").await;
    let (status, head, body) = http_get(server.addr, "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain"), "{head}");
    let body = String::from_utf8_lossy(&body);
    for line in [
        "chat_connections 1",
        "chat_messages_total 1",
        "chat_deliveries_total 1",
        "chat_rooms 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} in:\n{body}");
    }
}

/// Every metric the Grafana dashboard in docker/ queries is one the server exports.
#[tokio::test]
async fn the_dashboard_queries_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docker/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard exists"))
            .expect("dashboard is JSON");
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    alice.say("r", "hi").await;
    alice.send_text("{not json").await;
    alice.recv_error().await;
    let (_, _, body) = http_get(server.addr, "/metrics", "").await;
    let exported = String::from_utf8_lossy(&body).into_owned();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("chat_"))
            {
                queried += 1;
                assert!(
                    exported.lines().any(|line| line.starts_with(name)),
                    "{name} (panel {}) is not exported",
                    panel["title"]
                );
            }
        }
    }
    assert!(queried >= 8, "the dashboard queries the server's metrics");
}

/// Without `server.web_dir` the page comes from the binary: gzipped for a browser that takes
/// it, with an `ETag` that a revalidation answers with 304 and no body.
#[tokio::test]
async fn the_built_in_page_is_compressed_and_revalidated() {
    let mut settings = Settings::default();
    settings.history.backend = chat_config::HistoryBackend::Memory;
    assert_eq!(settings.server.web_dir, None);
    let server = TestServer::start_with(settings).await;

    let (status, head, plain) = http_get(server.addr, "/", "").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&plain).contains("<title>Chat</title>"));
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    let etag = header(&head, "etag").expect("an etag");

    let (status, head, packed) = http_get(server.addr, "/", "Accept-Encoding: gzip, br\r\n").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(packed.len() < plain.len());
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .expect("valid gzip");
    assert_eq!(unpacked, plain);
    let etag_gzip = header(&head, "etag").expect("an etag");
    assert_ne!(etag, etag_gzip, "each encoding has its own tag");

    for tag in [&etag, &etag_gzip] {
        let (status, _, body) =
            http_get(server.addr, "/", &format!("If-None-Match: {tag}\r\n")).await;
        assert_eq!((status, body.len()), (304, 0), "{tag}");
    }
    let (status, _, _) = http_get(server.addr, "/", "If-None-Match: \"stale\"\r\n").await;
    assert_eq!(status, 200);

    let (status, head, _) = http_get(server.addr, "/js/app.js", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"), "{head}");
    for path in ["/nope.js", "/../Cargo.toml", "/%2e%2e/README.md"] {
        assert_eq!(http_get(server.addr, path, "").await.0, 404, "{path}");
    }
}

/// A header's value in a lower-cased response head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::to_owned)
}
