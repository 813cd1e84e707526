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
    for good in ["redis://cache:6379", "rediss://cache:6380/0"] {
        let toml = format!("[broker]\nkind = \"redis\"\nredis_url = {good:?}");
        assert_eq!(
            Settings::from_toml_str(&toml).unwrap().broker.redis_url,
            good
        );
    }
}
