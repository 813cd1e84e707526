//! The binary's command line and configuration errors, as an operator meets them.

mod support;

use std::time::Duration;

use support::{
    http_get,
    process::{ServerProcess, command},
};

async fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(support::WAIT, command(args, env).output())
        .await
        .expect("exits in time")
        .expect("run chat-server");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn version_and_help_exit_0() {
    let (code, stdout, _) = run_to_end(&["--version"], &[]).await;
    assert_eq!(
        (code, stdout.trim()),
        (Some(0), concat!("chat-server ", env!("CARGO_PKG_VERSION")))
    );
    let (code, stdout, _) = run_to_end(&["--help"], &[]).await;
    assert_eq!(code, Some(0));
    for flag in ["--config", "--listen", "--log-level", "--help", "--version"] {
        assert!(stdout.contains(flag), "help lists {flag}: {stdout}");
    }
    // Written for the person running it: what it is, where to point a browser, where
    // settings come from.
    for words in [
        "chat server",
        "http://localhost:8080",
        "CHAT__SECTION__KEY",
        "config/default.toml",
    ] {
        assert!(stdout.contains(words), "help says {words:?}: {stdout}");
    }
    assert!(!stdout.contains("wired together"), "no insides: {stdout}");
}

#[tokio::test]
async fn a_bad_value_names_its_key_and_exits_2() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 4] = [
        (&[], &[("CHAT__WS__IDLE_TIMEOUT", "abc")], "ws.idle_timeout"),
        (&["--listen", "nowhere"], &[], "server.listen"),
        (&["--log-level", "loud"], &[], "log.level"),
        (
            &[],
            &[("CHAT__SERVER__MAX_CONNECTIONS", "-3")],
            "server.max_connections",
        ),
    ];
    for (args, env, key) in cases {
        let (code, _, stderr) = run_to_end(args, env).await;
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "the error names {key}: {stderr}");
    }
}

#[tokio::test]
async fn settings_that_would_break_the_server_later_exit_2() {
    // Each was once accepted, then panicked: at start, at SIGTERM, or in every connection.
    let cases: [(&str, &str, &str); 5] = [
        (
            "CHAT__SERVER__MAX_CONNECTIONS",
            "2305843009213693952",
            "server.max_connections",
        ),
        (
            "CHAT__SERVER__SHUTDOWN_GRACE",
            "500000000000y",
            "server.shutdown_grace",
        ),
        ("CHAT__WS__IDLE_TIMEOUT", "500000000000y", "ws.idle_timeout"),
        (
            "CHAT__WS__PING_INTERVAL",
            "500000000000y",
            "ws.ping_interval",
        ),
        (
            "CHAT__HISTORY__MAX_AGE",
            "584542046years",
            "history.max_age",
        ),
    ];
    for (name, value, key) in cases {
        let env = [(name, value), ("CHAT__HISTORY__BACKEND", "memory")];
        let (code, _, stderr) = run_to_end(&["--listen", "127.0.0.1:0"], &env).await;
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "the error names {key}: {stderr}");
    }
}

#[tokio::test]
async fn a_web_dir_that_does_not_exist_stops_the_start() {
    let env = [("CHAT__SERVER__WEB_DIR", "/nonexistent/chat-web")];
    let (code, _, stderr) = run_to_end(&["--listen", "127.0.0.1:0"], &env).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("server.web_dir"), "{stderr}");
    assert!(stderr.contains("/nonexistent/chat-web"), "{stderr}");
}

#[tokio::test]
async fn an_endless_config_file_is_named() {
    let (code, _, stderr) = run_to_end(&["--config", "/dev/zero"], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/dev/zero"), "{stderr}");
}

#[tokio::test]
async fn a_missing_config_file_is_named() {
    let (code, _, stderr) = run_to_end(&["--config", "/nonexistent/chat.toml"], &[]).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/chat.toml"), "{stderr}");
}

#[tokio::test]
async fn flags_beat_env_beat_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chat.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:1\"\nmax_connections = 1\n[ws]\nmax_rooms = 3\n",
    )
    .expect("write");
    let file = file.to_string_lossy().into_owned();
    // The file says port 1 and one connection; the env raises the connections; the flag
    // (added by ServerProcess) moves the port to a free one.
    let mut server = ServerProcess::start(
        &["--config", &file],
        &[("CHAT__SERVER__MAX_CONNECTIONS", "2")],
    )
    .await;
    assert_ne!(server.addr.port(), 1);
    let mut a = support::Client::connect(server.addr, "/ws").await;
    let welcome = a.recv_type("welcome").await;
    assert_eq!(welcome["limits"]["max_rooms"], 3, "the file applied");
    let _b = support::Client::connect(server.addr, "/ws").await;
    assert_eq!(
        support::upgrade_status(server.addr, &[]).await,
        503,
        "env set the cap to 2"
    );
    server.signal("TERM");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// The Docker image runs the binary with the ENV lines of docker/Dockerfile: the same
/// environment must start a healthy server here.
#[tokio::test]
async fn the_docker_image_environment_starts_a_healthy_server() {
    let dockerfile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docker/Dockerfile"
    ))
    .expect("docker/Dockerfile exists");
    let env: Vec<(String, String)> = dockerfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENV "))
        .flat_map(|rest| rest.split_whitespace())
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .filter(|(k, _)| k.starts_with("CHAT__"))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "CHAT__SERVER__LISTEN"),
        "the image sets its listen address"
    );
    let data = tempfile::tempdir().expect("temp dir");
    // Paths inside the image (/app/...) are mapped to a temporary folder here.
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| (k, v.replace("/app/data", &data.path().to_string_lossy())))
        .collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = ServerProcess::start(&[], &env_refs).await;
    assert_eq!(http_get(server.addr, "/healthz", "").await.0, 200);
    // The image holds no web/ folder: the page comes from the binary, whatever the folder.
    let (status, _, body) = http_get(server.addr, "/", "").await;
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&body).contains("<title>Chat</title>"),
        "the built-in page"
    );
    server.signal("TERM");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}
