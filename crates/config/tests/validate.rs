//! Validation after loading: each rejected value is reported with its key, the value and what
//! is expected; the boundary values themselves are accepted.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use chat_config::{AuthMode, Settings};

/// Asserts that `toml` is rejected for `key`, and that the message shows `value` and what is
/// expected.
#[track_caller]
fn rejects(toml: &str, key: &str, value: &str) {
    let err = match Settings::from_toml_str(toml) {
        Ok(settings) => panic!("{toml:?} was accepted: {settings:?}"),
        Err(err) => err,
    };
    let message = err.to_string();
    assert_eq!(err.key(), Some(key), "{toml:?}: {message}");
    assert!(message.starts_with(&format!("{key}: ")), "{message}");
    assert!(message.contains(value), "{message:?} should show {value:?}");
    assert!(
        message.contains("expected"),
        "{message:?} should say what is expected"
    );
}

#[test]
fn server_limits() {
    rejects(
        "[server]\nmax_connections = 0",
        "server.max_connections",
        "0",
    );
    rejects("[server]\nlisten = \"8080\"", "server.listen", "\"8080\"");
}

#[test]
fn every_count_and_duration_has_a_maximum() {
    // Each of these once parsed and then panicked the server: at start (a semaphore past 2^61
    // permits), at SIGTERM or in every connection (an `Instant` plus the duration overflows).
    rejects(
        "[server]\nmax_connections = 2305843009213693952",
        "server.max_connections",
        "2305843009213693952",
    );
    rejects(
        "[server]\nshutdown_grace = \"500000000000y\"",
        "server.shutdown_grace",
        "years",
    );
    rejects(
        "[ws]\nidle_timeout = \"500000000000y\"",
        "ws.idle_timeout",
        "years",
    );
    rejects(
        "[ws]\nping_interval = \"500000000000y\"",
        "ws.ping_interval",
        "years",
    );
    rejects(
        "[history]\nmax_age = \"584542046years\"",
        "history.max_age",
        "years",
    );
    let cases = [
        (
            "[server]\nmax_connections = 1000001",
            "server.max_connections",
            "at most 1000000",
        ),
        (
            "[server]\nmax_connections_per_ip = 1000001",
            "server.max_connections_per_ip",
            "at most 1000000",
        ),
        (
            "[server]\nshutdown_grace = \"61m\"",
            "server.shutdown_grace",
            "at most \"1h\"",
        ),
        (
            "[ws]\nmax_frame_bytes = 67108865",
            "ws.max_frame_bytes",
            "at most 67108864",
        ),
        ("[ws]\nmax_rooms = 100001", "ws.max_rooms", "at most 100000"),
        (
            "[ws]\noutbound_queue = 1000001",
            "ws.outbound_queue",
            "at most 1000000",
        ),
        (
            "[ws]\noutbound_queue_bytes = 1073741825",
            "ws.outbound_queue_bytes",
            "at most 1073741824",
        ),
        (
            "[ws]\nping_interval = \"25h\"\nidle_timeout = \"2days\"",
            "ws.ping_interval",
            "at most \"1day\"",
        ),
        (
            "[ws]\nidle_timeout = \"8days\"",
            "ws.idle_timeout",
            "at most \"7days\"",
        ),
        (
            "[limits]\nmessages_per_sec = 1000001",
            "limits.messages_per_sec",
            "at most 1000000",
        ),
        (
            "[limits]\nburst = 1000001",
            "limits.burst",
            "at most 1000000",
        ),
        (
            "[history]\nmax_per_room = 1000000001",
            "history.max_per_room",
            "at most 1000000000",
        ),
        (
            "[history]\nmax_age = \"101years\"",
            "history.max_age",
            "at most \"100years\"",
        ),
        (
            "[history]\nmemory_bytes = 1099511627777",
            "history.memory_bytes",
            "at most 1099511627776",
        ),
        (
            "[history]\nmemory_bytes = 1048575",
            "history.memory_bytes",
            "at least 1048576",
        ),
    ];
    for (toml, key, expected) in cases {
        rejects(toml, key, expected);
    }

    // The maxima themselves are accepted.
    let edge = Settings::from_toml_str(
        "[server]\nmax_connections = 1000000\nshutdown_grace = \"1h\"\n\
         [ws]\nmax_frame_bytes = 67108864\nmax_rooms = 100000\noutbound_queue = 1000000\n\
         outbound_queue_bytes = 1073741824\nping_interval = \"1day\"\nidle_timeout = \"7days\"\n\
         [limits]\nmessages_per_sec = 1000000\nburst = 1000000\n\
         [history]\nmax_per_room = 1000000000\nmax_age = \"100years\"\n\
         memory_bytes = 1099511627776\n",
    );
    assert!(edge.is_ok(), "{edge:?}");
}

#[test]
fn a_set_web_dir_must_exist() {
    rejects(
        "[server]\nweb_dir = \"/nonexistent/chat-web\"",
        "server.web_dir",
        "\"/nonexistent/chat-web\"",
    );
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = crate_dir.join("Cargo.toml");
    rejects(
        &format!("[server]\nweb_dir = {:?}", file.display().to_string()),
        "server.web_dir",
        "not a folder",
    );
    let set = Settings::from_toml_str(&format!(
        "[server]\nweb_dir = {:?}",
        crate_dir.display().to_string()
    ))
    .unwrap();
    assert_eq!(set.server.web_dir.as_deref(), Some(crate_dir));
    let empty = Settings::from_toml_str("[server]\nweb_dir = \"\"").unwrap();
    assert_eq!(empty.server.web_dir, None, "empty means the built-in page");
}

#[test]
fn tls_needs_both_files() {
    rejects(
        "[server]\ntls_cert = \"cert.pem\"",
        "server.tls_key",
        "\"cert.pem\"",
    );
    rejects(
        "[server]\ntls_key = \"key.pem\"",
        "server.tls_cert",
        "\"key.pem\"",
    );
    let both =
        Settings::from_toml_str("[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"").unwrap();
    assert!(both.server.tls_cert.is_some() && both.server.tls_key.is_some());
}

#[test]
fn ws_sizes() {
    rejects("[ws]\nmax_frame_bytes = 1023", "ws.max_frame_bytes", "1023");
    rejects("[ws]\nmax_text_bytes = 0", "ws.max_text_bytes", "0");
    rejects("[ws]\nmax_text_bytes = 65537", "ws.max_text_bytes", "65537");
    rejects("[ws]\nmax_rooms = 0", "ws.max_rooms", "0");
    rejects("[ws]\noutbound_queue = 0", "ws.outbound_queue", "0");
    rejects(
        "[ws]\noutbound_queue_bytes = 65535",
        "ws.outbound_queue_bytes",
        "65535",
    );
    let edge =
        Settings::from_toml_str("[ws]\nmax_frame_bytes = 1024\nmax_text_bytes = 1024").unwrap();
    assert_eq!(
        (edge.ws.max_frame_bytes, edge.ws.max_text_bytes),
        (1024, 1024)
    );
}

#[test]
fn ws_timing() {
    rejects("[ws]\nping_interval = \"0s\"", "ws.ping_interval", "\"0s\"");
    rejects("[ws]\nidle_timeout = \"25s\"", "ws.idle_timeout", "\"25s\"");
    rejects(
        "[ws]\nping_interval = \"2m\"\nidle_timeout = \"1m\"",
        "ws.idle_timeout",
        "\"1m\"",
    );
    let tiny = Settings::from_toml_str("[ws]\nping_interval = \"10ms\"\nidle_timeout = \"30ms\"");
    assert!(
        tiny.is_ok(),
        "tiny values are how tests exercise timing: {tiny:?}"
    );
}

#[test]
fn rate_limit() {
    rejects(
        "[limits]\nmessages_per_sec = 0",
        "limits.messages_per_sec",
        "0",
    );
    rejects("[limits]\nburst = 0", "limits.burst", "0");
    rejects(
        "[limits]\nrequests_per_sec = 0",
        "limits.requests_per_sec",
        "0",
    );
    rejects("[limits]\nrequests_burst = 0", "limits.requests_burst", "0");
    rejects(
        "[limits]\nrequests_per_sec = 1000001",
        "limits.requests_per_sec",
        "at most 1000000",
    );
    rejects(
        "[limits]\nrequests_burst = 1000001",
        "limits.requests_burst",
        "at most 1000000",
    );
}

#[test]
fn history() {
    rejects("[history]\non_join = 201", "history.on_join", "201");
    let err = Settings::from_toml_str("[history]\non_join = 201").unwrap_err();
    assert!(err.to_string().contains("at most 200"), "{err}");
    rejects("[history]\nmax_per_room = 0", "history.max_per_room", "0");
    rejects("[history]\npath = \"\"", "history.path", "\"\"");
    assert!(Settings::from_toml_str("[history]\nbackend = \"memory\"\npath = \"\"").is_ok());
    assert_eq!(
        Settings::from_toml_str("[history]\non_join = 200")
            .unwrap()
            .history
            .on_join,
        200
    );
}

#[test]
fn jwt_needs_a_secret() {
    rejects("[auth]\nmode = \"jwt\"", "auth.jwt_secret", "\"\"");
    rejects(
        "[auth]\nmode = \"jwt\"\njwt_secret = \"  \"",
        "auth.jwt_secret",
        "\"  \"",
    );
    let ok = Settings::from_toml_str("[auth]\nmode = \"jwt\"\njwt_secret = \"s3cret\"").unwrap();
    assert_eq!(ok.auth.mode, AuthMode::Jwt);
}

#[test]
fn log_level_is_a_filter() {
    rejects(
        "[log]\nlevel = \"info,chat_ws=loud\"",
        "log.level",
        "\"info,chat_ws=loud\"",
    );
    rejects("[log]\nlevel = \"inf\"", "log.level", "\"inf\"");
    rejects("[log]\nlevel = \"\"", "log.level", "\"\"");
    for good in [
        "warn",
        "DEBUG",
        "info,chat_ws=debug",
        "off",
        "chat_http[conn]=trace",
    ] {
        let toml = format!("[log]\nlevel = {good:?}");
        assert!(
            Settings::from_toml_str(&toml).is_ok(),
            "{good} should be accepted"
        );
    }
}

#[test]
fn redis_url_scheme() {
    rejects(
        "[broker]\nredis_url = \"http://cache:6379\"",
        "broker.redis_url",
        "\"http://cache:6379\"",
    );
    rejects(
        "[broker]\nredis_url = \"redis://a:1,redis://b:1\"",
        "broker.redis_url",
        "\"redis://a:1,redis://b:1\"",
    );
    rejects(
        "[broker]\nredis_cluster = true\nredis_url = \"redis://a:1,\"",
        "broker.redis_url",
        "\"redis://a:1,\"",
    );
    let cluster = "[broker]\nredis_cluster = true\nredis_url = \"redis://a:1, rediss://b:2\"";
    assert!(
        Settings::from_toml_str(cluster)
            .unwrap()
            .broker
            .redis_cluster
    );
    for good in ["redis://cache:6379", "rediss://cache:6380/0"] {
        let toml = format!("[broker]\nkind = \"redis\"\nredis_url = {good:?}");
        assert_eq!(
            Settings::from_toml_str(&toml).unwrap().broker.redis_url,
            good
        );
    }
}

#[test]
fn redis_prefix_and_cluster_flag() {
    rejects(
        "[broker]\nredis_prefix = \"\"",
        "broker.redis_prefix",
        "\"\"",
    );
    rejects(
        "[broker]\nredis_prefix = \"a{b}\"",
        "broker.redis_prefix",
        "\"a{b}\"",
    );
    rejects(
        &format!("[broker]\nredis_prefix = {:?}", "p".repeat(65)),
        "broker.redis_prefix",
        "ppp",
    );
    rejects("[broker]\nredis_cluster = 1", "broker.redis_cluster", "1");
    let s = Settings::from_toml_str("[broker]\nredis_prefix = \"test:a-1.b_2\"").unwrap();
    assert_eq!(s.broker.redis_prefix, "test:a-1.b_2");
    assert!(!s.broker.redis_cluster);
}

#[test]
fn node_ttl_fits_the_thirty_seconds() {
    rejects("[broker]\nnode_ttl = \"1s\"", "broker.node_ttl", "1s");
    rejects("[broker]\nnode_ttl = \"21s\"", "broker.node_ttl", "21s");
    let s = Settings::from_toml_str("[broker]\nnode_ttl = \"2s\"").unwrap();
    assert_eq!(s.broker.node_ttl, std::time::Duration::from_secs(2));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let settings = Settings::from_toml_str(
        "[auth]\nmode = \"jwt\"\njwt_secret = \"jwt-s3cret-value\"\napi_key = \"api-key-s3cret-value\"",
    )
    .unwrap();
    let shown = format!("{settings:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(settings.auth.jwt_secret.expose(), "jwt-s3cret-value");
    let short = Settings::from_toml_str("[auth]\napi_key = \"short-s3cret\"").unwrap_err();
    assert!(short.to_string().contains("auth.api_key"), "{short}");
    assert!(!short.to_string().contains("s3cret"), "{short}");
}

#[test]
fn files_settings_name_their_key() {
    rejects("[files]\nbackend = \"ftp\"", "files.backend", "\"ftp\"");
    rejects("[files]\nbackend = \"s3\"", "files.s3_bucket", "\"\"");
    rejects("[files]\nmax_bytes = 0", "files.max_bytes", "0");
    rejects("[files]\nmax_pixels = 0", "files.max_pixels", "0");
    rejects("[files]\nuploads_per_min = 0", "files.uploads_per_min", "0");
    rejects(
        "[files]\nallowed_types = [\"image/png\", \"png\"]",
        "files.allowed_types",
        "\"png\"",
    );
    rejects(
        "[files]\nallowed_types = \"image/png; q=1\"",
        "files.allowed_types",
        "\"image/png; q=1\"",
    );
    rejects(
        "[files]\nbackend = \"s3\"\ns3_bucket = \"b\"\ns3_endpoint = \"127.0.0.1:9000\"",
        "files.s3_endpoint",
        "\"127.0.0.1:9000\"",
    );
    let s3 = Settings::from_toml_str(
        "[files]\nbackend = \"S3\"\ns3_bucket = \"chat\"\ns3_endpoint = \"http://127.0.0.1:5000\"\nallowed_types = \"image/png, text/plain\"",
    )
    .unwrap();
    assert_eq!(s3.files.backend, chat_config::FilesBackend::S3);
    assert_eq!(s3.files.allowed_types, ["image/png", "text/plain"]);
    // Off, an S3 backend without a bucket does not matter.
    Settings::from_toml_str("[files]\nenabled = false\nbackend = \"s3\"").unwrap();
}

#[test]
fn files_defaults_follow_config_md() {
    let files = Settings::default().files;
    assert!(files.enabled);
    assert_eq!(files.backend, chat_config::FilesBackend::Local);
    assert_eq!(files.dir, std::path::PathBuf::from("data/files"));
    assert_eq!(files.max_bytes, 10_485_760);
    assert_eq!(files.max_pixels, 40_000_000);
    assert_eq!(files.uploads_per_min, 20);
    assert_eq!(files.allowed_types.len(), 11);
    assert!(files.allowed_types.iter().any(|t| t == "video/webm"));
}
