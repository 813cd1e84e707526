//! Loading: defaults, sources and precedence, value parsing, unknown keys, missing files.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_config::{
    AuthMode, BrokerKind, ConfigError, FsyncPolicy, HistoryBackend, LogFormat, Settings, Sources,
};

/// Writes `text` to a file named after the test, under Cargo's per-target scratch directory.
fn write_file(name: &str, text: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chat-config-{name}.toml"));
    std::fs::write(&path, text).expect("write test file");
    path
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load(&Sources {
        env: env(pairs),
        ..Sources::default()
    })
}

/// Every `section.key` a source sets.
fn keys_of(source: impl config::Source + Send + Sync + 'static) -> Vec<String> {
    let tree = config::Config::builder()
        .add_source(source)
        .build()
        .unwrap();
    let sections: std::collections::HashMap<
        String,
        std::collections::HashMap<String, config::Value>,
    > = tree.try_deserialize().unwrap();
    let mut keys: Vec<String> = sections
        .iter()
        .flat_map(|(section, table)| table.keys().map(move |key| format!("{section}.{key}")))
        .collect();
    keys.sort();
    keys
}

/// Every `section.key` of the serialized defaults.
fn default_keys() -> Vec<String> {
    let tree = serde_json::to_value(Settings::default()).unwrap();
    let mut keys: Vec<String> = tree
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(section, table)| {
            let table = table.as_object().unwrap();
            table.keys().map(move |key| format!("{section}.{key}"))
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn defaults_match_the_contract() {
    let s = Settings::default();
    assert_eq!(
        s.server.listen,
        "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
    );
    // The contract's default `web` is the page in the repository's web/ folder, which the
    // binary carries built in: unset means that page, from any working directory.
    assert_eq!(s.server.web_dir, None);
    assert!(s.server.allowed_origins.is_empty());
    assert_eq!(s.server.max_connections, 10_000);
    assert_eq!(s.server.max_connections_per_ip, 0);
    assert_eq!(s.server.shutdown_grace, Duration::from_secs(10));
    assert_eq!((s.server.tls_cert, s.server.tls_key), (None, None));
    assert_eq!(s.ws.max_frame_bytes, 65_536);
    assert_eq!(s.ws.max_text_bytes, 4_096);
    assert_eq!(s.ws.max_rooms, 32);
    assert_eq!(s.ws.outbound_queue, 1_024);
    assert_eq!(s.ws.outbound_queue_bytes, 4_194_304);
    assert_eq!(s.ws.ping_interval, Duration::from_secs(25));
    assert_eq!(s.ws.idle_timeout, Duration::from_secs(60));
    assert_eq!(s.limits.messages_per_sec, 10);
    assert_eq!(s.limits.burst, 20);
    assert_eq!(s.limits.requests_per_sec, 20);
    assert_eq!(s.limits.requests_burst, 64);
    assert_eq!(s.history.backend, HistoryBackend::Sqlite);
    assert_eq!(s.history.path, PathBuf::from("data/chat.db"));
    assert_eq!(s.history.on_join, 50);
    assert_eq!(s.history.max_per_room, 10_000);
    assert_eq!(s.history.memory_bytes, 67_108_864);
    assert_eq!(s.history.max_age, Duration::ZERO);
    assert_eq!(s.history.fsync, FsyncPolicy::Normal);
    assert_eq!(s.broker.kind, BrokerKind::Local);
    assert_eq!(s.broker.redis_url, "redis://127.0.0.1:6379");
    assert_eq!(s.auth.mode, AuthMode::None);
    assert_eq!(s.auth.jwt_secret, "");
    assert_eq!(s.log.level, "info");
    assert_eq!(s.log.format, LogFormat::Text);
}

#[test]
fn no_sources_give_the_defaults() {
    assert_eq!(
        Settings::load(&Sources::default()).unwrap(),
        Settings::default()
    );
    assert_eq!(Settings::from_toml_str("").unwrap(), Settings::default());
}

#[test]
fn shipped_default_toml_equals_the_compiled_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let text = std::fs::read_to_string(&path).expect("config/default.toml exists");
    assert_eq!(Settings::from_toml_str(&text).unwrap(), Settings::default());

    // It also documents every key: same key set as the serialized defaults. A key whose
    // default follows another key is there commented out, so that the file does not set it.
    let mut documented = keys_of(config::File::from_str(&text, config::FileFormat::Toml));
    for (line, key) in [
        ("\n# max_text_bytes = 4096\n", "ws.max_text_bytes"),
        ("\n# idle_timeout = \"60s\"\n", "ws.idle_timeout"),
    ] {
        assert!(text.contains(line), "{key} documented as {line:?}");
        documented.push(key.to_owned());
    }
    documented.sort();
    assert_eq!(documented, default_keys());

    let loaded = Settings::load(&Sources {
        default_file: Some(path),
        ..Sources::default()
    });
    assert_eq!(loaded.unwrap(), Settings::default());
}

#[test]
fn precedence_is_default_file_then_config_file_then_env_then_flags() {
    let default_file = write_file(
        "precedence-default",
        "[ws]\nmax_rooms = 1\noutbound_queue = 1\nmax_text_bytes = 1\n[server]\nlisten = \"127.0.0.1:1\"\n",
    );
    let config_file = write_file(
        "precedence-config",
        "[ws]\noutbound_queue = 2\nmax_text_bytes = 2\n[server]\nlisten = \"127.0.0.1:2\"\n",
    );
    let s = Settings::load(&Sources {
        default_file: Some(default_file),
        config_file: Some(config_file),
        env: env(&[
            ("CHAT__WS__MAX_TEXT_BYTES", "3"),
            ("CHAT__SERVER__LISTEN", "127.0.0.1:3"),
            ("CHAT__LOG__LEVEL", "debug"),
        ]),
        listen: Some("127.0.0.1:4".to_owned()),
        log_level: Some("warn".to_owned()),
    })
    .unwrap();
    assert_eq!(s.ws.max_rooms, 1, "default file over compiled default");
    assert_eq!(s.ws.outbound_queue, 2, "--config over default file");
    assert_eq!(s.ws.max_text_bytes, 3, "env over --config");
    assert_eq!(
        s.server.listen,
        "127.0.0.1:4".parse::<SocketAddr>().unwrap(),
        "--listen over env"
    );
    assert_eq!(s.log.level, "warn", "--log-level over env");
    assert_eq!(
        s.ws.max_frame_bytes, 65_536,
        "untouched keys keep their default"
    );
}

#[test]
fn the_text_limit_follows_a_smaller_frame_limit_unless_it_is_set() {
    let text = |s: Settings| (s.ws.max_frame_bytes, s.ws.max_text_bytes);
    let small = Settings::from_toml_str("[ws]\nmax_frame_bytes = 1024\n").unwrap();
    assert_eq!(text(small), (1024, 1024));
    let from_env = load_env(&[("CHAT__WS__MAX_FRAME_BYTES", "2048")]).unwrap();
    assert_eq!(text(from_env), (2048, 2048));
    let large = Settings::from_toml_str("[ws]\nmax_frame_bytes = 131072\n").unwrap();
    assert_eq!(
        text(large),
        (131_072, 4096),
        "a larger frame limit leaves the default"
    );

    // The shipped default file sets no text limit, so it follows too.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let with_default_file = Settings::load(&Sources {
        default_file: Some(shipped),
        env: env(&[("CHAT__WS__MAX_FRAME_BYTES", "1024")]),
        ..Sources::default()
    });
    assert_eq!(text(with_default_file.unwrap()), (1024, 1024));

    // A text limit someone set must still fit, whichever source set either key.
    let config_file = write_file("text-limit-set", "[ws]\nmax_text_bytes = 4096\n");
    let err = Settings::load(&Sources {
        config_file: Some(config_file),
        env: env(&[("CHAT__WS__MAX_FRAME_BYTES", "1024")]),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(err.key(), Some("ws.max_text_bytes"), "{err}");
    assert!(err.to_string().contains("at most 1024"), "{err}");
}

#[test]
fn the_idle_timeout_follows_a_longer_ping_interval_unless_it_is_set() {
    let idle = |toml: &str| Settings::from_toml_str(toml).map(|s| s.ws.idle_timeout);
    assert_eq!(
        idle("[ws]\nping_interval = \"2m\"\n").unwrap(),
        Duration::from_secs(240)
    );
    assert_eq!(
        idle("[ws]\nping_interval = \"10s\"\n").unwrap(),
        Duration::from_secs(60),
        "a shorter ping interval leaves the default"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let with_default_file = Settings::load(&Sources {
        default_file: Some(shipped),
        env: env(&[("CHAT__WS__PING_INTERVAL", "2m")]),
        ..Sources::default()
    });
    assert_eq!(
        with_default_file.unwrap().ws.idle_timeout,
        Duration::from_secs(240)
    );
    let err = idle("[ws]\nping_interval = \"2m\"\nidle_timeout = \"1m\"\n").unwrap_err();
    assert_eq!(
        err.key(),
        Some("ws.idle_timeout"),
        "a set value must still be longer"
    );
}

#[test]
fn env_keys_with_underscores_and_numbers_parse() {
    let s = load_env(&[
        ("CHAT__WS__MAX_FRAME_BYTES", "131072"),
        ("CHAT__LIMITS__MESSAGES_PER_SEC", "5"),
        ("CHAT__HISTORY__BACKEND", "memory"),
        ("CHAT__LOG__FORMAT", "JSON"),
        ("CHAT__AUTH__MODE", "jwt"),
        ("CHAT__AUTH__JWT_SECRET", "12345"),
        ("CHAT__SERVER__TLS_CERT", ""),
    ])
    .unwrap();
    assert_eq!(s.ws.max_frame_bytes, 131_072);
    assert_eq!(s.limits.messages_per_sec, 5);
    assert_eq!(s.history.backend, HistoryBackend::Memory);
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(
        s.auth.jwt_secret, "12345",
        "a numeric secret stays the exact string"
    );
    assert_eq!(s.server.tls_cert, None, "empty means unset");
}

#[test]
fn env_list_is_comma_separated() {
    let s = load_env(&[(
        "CHAT__SERVER__ALLOWED_ORIGINS",
        "https://a.example,https://b.example",
    )])
    .unwrap();
    assert_eq!(
        s.server.allowed_origins,
        ["https://a.example", "https://b.example"]
    );

    let one = load_env(&[("CHAT__SERVER__ALLOWED_ORIGINS", "*")]).unwrap();
    assert_eq!(one.server.allowed_origins, ["*"]);
    let none = load_env(&[("CHAT__SERVER__ALLOWED_ORIGINS", "")]).unwrap();
    assert!(none.server.allowed_origins.is_empty());
}

#[test]
fn env_without_the_prefix_is_ignored() {
    let s = load_env(&[
        ("PATH", "/usr/bin"),
        ("CHATTY", "1"),
        ("CHAT_WS__MAX_ROOMS", "1"),
        ("RUST_LOG", "trace"),
    ])
    .unwrap();
    assert_eq!(s, Settings::default());
}

#[test]
fn durations_take_units() {
    let s = Settings::from_toml_str(
        "[ws]\nping_interval = \"500ms\"\nidle_timeout = \"1m 30s\"\n[history]\nmax_age = \"7days\"\n",
    )
    .unwrap();
    assert_eq!(s.ws.ping_interval, Duration::from_millis(500));
    assert_eq!(s.ws.idle_timeout, Duration::from_secs(90));
    assert_eq!(s.history.max_age, Duration::from_secs(7 * 86_400));

    let from_env = load_env(&[("CHAT__WS__IDLE_TIMEOUT", "2m")]).unwrap();
    assert_eq!(from_env.ws.idle_timeout, Duration::from_secs(120));
}

#[test]
fn a_bad_duration_names_key_value_and_expectation() {
    let err = load_env(&[("CHAT__WS__IDLE_TIMEOUT", "abc")]).unwrap_err();
    assert_eq!(err.key(), Some("ws.idle_timeout"));
    assert_eq!(
        err.to_string(),
        "ws.idle_timeout: \"abc\" is not a duration (expected e.g. \"25s\", \"500ms\")"
    );

    let bare = Settings::from_toml_str("[server]\nshutdown_grace = 10\n").unwrap_err();
    assert_eq!(bare.key(), Some("server.shutdown_grace"));
    assert!(bare.to_string().contains("10 is not a duration"), "{bare}");
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("[ws]\nmax_rooms = \"many\"", "ws.max_rooms", "\"many\""),
        ("[ws]\nmax_rooms = -1", "ws.max_rooms", "-1"),
        ("[ws]\nmax_rooms = 1.5", "ws.max_rooms", "1.5"),
        ("[limits]\nburst = 5000000000", "limits.burst", "5000000000"),
        (
            "[history]\nbackend = \"postgres\"",
            "history.backend",
            "\"postgres\"",
        ),
        (
            "[history]\nfsync = \"always\"",
            "history.fsync",
            "\"always\"",
        ),
        ("[log]\nformat = \"xml\"", "log.format", "\"xml\""),
        (
            "[server]\nlisten = \"localhost\"",
            "server.listen",
            "\"localhost\"",
        ),
        (
            "[server]\nallowed_origins = 3",
            "server.allowed_origins",
            "3",
        ),
        ("[log]\nlevel = [1]", "log.level", "sequence"),
    ];
    for (toml, key, value) in cases {
        let err = Settings::from_toml_str(toml).unwrap_err();
        assert_eq!(err.key(), Some(key), "{toml}: {err}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{key}: ")), "{message}");
        assert!(message.contains(value), "{message} should show {value}");
        assert!(
            message.contains("expected"),
            "{message} should say what is expected"
        );
    }
}

#[test]
fn a_bad_listen_flag_names_server_listen() {
    let err = Settings::load(&Sources {
        listen: Some("not-an-address".to_owned()),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(err.key(), Some("server.listen"));
    assert!(err.to_string().contains("\"not-an-address\""), "{err}");
}

#[test]
fn unknown_key_in_a_file_is_rejected_by_name() {
    let err = Settings::from_toml_str("[ws]\nmax_frame_byte = 1\n").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err:?}");
    assert_eq!(err.key(), Some("ws.max_frame_byte"));

    let section = Settings::from_toml_str("[websocket]\nmax_rooms = 1\n").unwrap_err();
    assert_eq!(section.key(), Some("websocket"));

    let empty_section = Settings::from_toml_str("[wss]\n").unwrap_err();
    assert_eq!(empty_section.key(), Some("wss"));
    let top_level = Settings::from_toml_str("listen = \"127.0.0.1:1\"\n").unwrap_err();
    assert_eq!(top_level.key(), Some("listen"));
}

#[test]
fn unknown_key_in_a_file_names_the_file() {
    let path = write_file("unknown-key", "[server]\nlistn = \"127.0.0.1:1\"\n");
    let err = Settings::load(&Sources {
        config_file: Some(path.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(err.key(), Some("server.listn"));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn unknown_key_in_env_is_rejected_with_its_variable() {
    let err = load_env(&[("CHAT__WS__IDLE_TIMEOUTS", "2s")]).unwrap_err();
    assert_eq!(err.key(), Some("ws.idle_timeouts"));
    assert!(
        err.to_string()
            .contains("environment variable CHAT__WS__IDLE_TIMEOUTS"),
        "{err}"
    );

    let section_only = load_env(&[("CHAT__WS", "1")]).unwrap_err();
    assert_eq!(section_only.key(), Some("ws"));
}

#[test]
fn missing_config_file_names_its_path() {
    let path = PathBuf::from("/nonexistent/chat-server.toml");
    let err = Settings::load(&Sources {
        config_file: Some(path.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/chat-server.toml"),
        "{err}"
    );
}

#[test]
fn a_config_file_over_1_mib_is_refused_by_name() {
    // A comment: valid TOML of any length, so only the size can refuse it.
    let path = write_file("huge", &format!("#{}\n", "x".repeat(1024 * 1024)));
    let err = Settings::load(&Sources {
        config_file: Some(path.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("larger than 1048576 bytes"), "{message}");

    let just_fits = write_file("just-fits", &format!("#{}\n", "x".repeat(1024 * 1024 - 2)));
    let loaded = Settings::load(&Sources {
        config_file: Some(just_fits),
        ..Sources::default()
    });
    assert_eq!(loaded.unwrap(), Settings::default());
}

#[cfg(unix)]
#[test]
fn an_endless_config_file_is_read_up_to_the_cap() {
    let err = Settings::load(&Sources {
        config_file: Some(PathBuf::from("/dev/zero")),
        ..Sources::default()
    })
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("/dev/zero"), "{message}");
    assert!(message.contains("larger than"), "{message}");
}

#[test]
fn missing_default_file_is_fine() {
    let s = Settings::load(&Sources {
        default_file: Some(PathBuf::from("/nonexistent/default.toml")),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(s, Settings::default());
}

#[test]
fn invalid_toml_names_the_file() {
    let path = write_file("syntax", "[ws\nmax_rooms = 1\n");
    let err = Settings::load(&Sources {
        config_file: Some(path.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn settings_round_trip_through_serde() {
    let mut s = Settings::default();
    s.server.tls_cert = Some(PathBuf::from("cert.pem"));
    s.server.tls_key = Some(PathBuf::from("key.pem"));
    s.server.allowed_origins = vec!["https://a.example".to_owned()];
    s.ws.ping_interval = Duration::from_millis(1500);
    let tree = config::Config::try_from(&s).unwrap();
    let back: Settings = tree.try_deserialize().unwrap();
    assert_eq!(back, s);
}

#[test]
fn broker_keys_from_the_environment() {
    let s = load_env(&[
        ("CHAT__BROKER__KIND", "redis"),
        (
            "CHAT__BROKER__REDIS_URL",
            "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
        ),
        ("CHAT__BROKER__REDIS_CLUSTER", "true"),
        ("CHAT__BROKER__REDIS_PREFIX", "chat-eu"),
    ])
    .unwrap();
    assert!(s.broker.redis_cluster);
    assert_eq!(s.broker.redis_prefix, "chat-eu");
    assert_eq!(
        s.broker.redis_url,
        "redis://10.0.0.1:7000,redis://10.0.0.2:7000"
    );
    let err = load_env(&[("CHAT__BROKER__REDIS_CLUSTER", "yes")]).unwrap_err();
    assert_eq!(err.key(), Some("broker.redis_cluster"), "{err}");
}
