//! The plain HTTP routes: the page, static files, health, readiness, refusals before upgrade.

mod support;

use chat_config::Settings;
use support::{TestServer, http_get, upgrade_status};

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
    settings.server.web_dir = web.path().to_path_buf();
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
