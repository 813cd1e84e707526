//! Checks that need more than one value's type: ranges and relations between keys.
//!
//! Shapes (a number, a duration, an address) are checked while deserializing, in
//! [`crate::value`]; what is left here are values that parse but cannot work.

use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::error::ConfigError;
use crate::settings::{AuthMode, FilesBackend, FilesSettings, HistoryBackend, Settings};

/// Most messages one `joined` frame replays: more would make a single frame too large to send.
pub const MAX_ON_JOIN: usize = 200;

/// Smallest `ws.max_frame_bytes`: below it even a short `join` with a token would not fit.
pub const MIN_FRAME_BYTES: usize = 1024;

// The maxima below are far past what a deployment needs; they exist so that no value that
// parses can break the server later (a semaphore that panics past 2^61 permits, an
// `Instant` plus a duration that overflows, milliseconds that do not fit 64 bits).

/// Most `server.max_connections` and `server.max_connections_per_ip`: past it one process runs out of file descriptors unless the
/// kernel's per-process limit (`fs.nr_open`, 1,048,576 by default on Linux) is raised.
const MAX_CONNECTIONS: usize = 1_000_000;
/// Longest `server.shutdown_grace`: every connection is closed at once when shutdown begins,
/// the grace only bounds the wait for their close handshakes and the history's last flush.
const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(60 * 60);
/// Largest `ws.max_frame_bytes`: 64 MiB, the WebSocket library's own default message limit.
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// Most `ws.max_rooms`.
const MAX_ROOMS: usize = 100_000;
/// Most `ws.outbound_queue` frames.
const MAX_OUTBOUND_QUEUE: usize = 1_000_000;
/// Largest `ws.outbound_queue_bytes`: 1 GiB held for one client.
const MAX_OUTBOUND_QUEUE_BYTES: usize = 1024 * 1024 * 1024;
/// Longest `ws.ping_interval`: NATs forget an idle TCP connection within hours anyway.
const MAX_PING_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest `ws.idle_timeout`.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Most of each `[limits]` rate and bucket size.
const MAX_RATE: u32 = 1_000_000;
/// Least and most `history.memory_bytes`: 1 MiB holds a few hundred of the largest messages,
/// 1 TiB is past any machine this runs on.
const MEMORY_BYTES: (usize, usize) = (1 << 20, 1 << 40);
/// Most `history.max_per_room`.
const MAX_PER_ROOM: usize = 1_000_000_000;
/// Longest `history.max_age`: 100 years of 365.25 days, as `"100years"` reads.
const MAX_AGE: Duration = Duration::from_secs(100 * 31_557_600);

/// Shortest `auth.api_key`: a key anyone could guess is no key.
const MIN_API_KEY_LEN: usize = 16;

/// Returns the first problem found, naming its key.
pub(crate) fn validate(settings: &Settings) -> Result<(), ConfigError> {
    let Settings {
        server,
        ws,
        limits,
        history,
        broker,
        auth,
        files,
        log,
    } = settings;

    within(
        "server.max_connections",
        server.max_connections,
        1,
        MAX_CONNECTIONS,
    )?;
    within(
        "server.max_connections_per_ip",
        server.max_connections_per_ip,
        0,
        MAX_CONNECTIONS,
    )?;
    not_longer(
        "server.shutdown_grace",
        server.shutdown_grace,
        MAX_SHUTDOWN_GRACE,
    )?;
    if let Some(dir) = &server.web_dir {
        // Checked here rather than at the first request: a typo would otherwise serve 404 at
        // `/` and say nothing.
        if !dir.is_dir() {
            return Err(ConfigError::invalid(
                "server.web_dir",
                format!(
                    "{:?} is not a folder (expected an existing folder, or empty for the page built into the binary)",
                    dir.display().to_string()
                ),
            ));
        }
    }
    match (&server.tls_cert, &server.tls_key) {
        (Some(cert), None) => {
            return Err(ConfigError::invalid(
                "server.tls_key",
                format!(
                    "\"\" is empty while server.tls_cert is {:?} (expected both set or both empty)",
                    cert.display().to_string()
                ),
            ));
        }
        (None, Some(key)) => {
            return Err(ConfigError::invalid(
                "server.tls_cert",
                format!(
                    "\"\" is empty while server.tls_key is {:?} (expected both set or both empty)",
                    key.display().to_string()
                ),
            ));
        }
        _ => {}
    }

    within(
        "ws.max_frame_bytes",
        ws.max_frame_bytes,
        MIN_FRAME_BYTES,
        MAX_FRAME_BYTES,
    )?;
    at_least("ws.max_text_bytes", ws.max_text_bytes, 1)?;
    if ws.max_text_bytes > ws.max_frame_bytes {
        return Err(ConfigError::invalid(
            "ws.max_text_bytes",
            format!(
                "{} is larger than ws.max_frame_bytes (expected at most {})",
                ws.max_text_bytes, ws.max_frame_bytes
            ),
        ));
    }
    within("ws.max_rooms", ws.max_rooms, 1, MAX_ROOMS)?;
    within(
        "ws.outbound_queue",
        ws.outbound_queue,
        1,
        MAX_OUTBOUND_QUEUE,
    )?;
    // One answer of the largest kind must fit, or a client could never join a busy room.
    within(
        "ws.outbound_queue_bytes",
        ws.outbound_queue_bytes,
        65_536,
        MAX_OUTBOUND_QUEUE_BYTES,
    )?;
    if ws.ping_interval.is_zero() {
        return Err(ConfigError::invalid(
            "ws.ping_interval",
            format!(
                "{} is too short (expected more than \"0s\", e.g. \"25s\")",
                show(ws.ping_interval)
            ),
        ));
    }
    not_longer("ws.ping_interval", ws.ping_interval, MAX_PING_INTERVAL)?;
    if ws.idle_timeout <= ws.ping_interval {
        return Err(ConfigError::invalid(
            "ws.idle_timeout",
            format!(
                "{} is not longer than ws.ping_interval {} (expected more, so a pong can arrive in time)",
                show(ws.idle_timeout),
                show(ws.ping_interval)
            ),
        ));
    }
    not_longer("ws.idle_timeout", ws.idle_timeout, MAX_IDLE_TIMEOUT)?;

    within(
        "limits.messages_per_sec",
        limits.messages_per_sec,
        1,
        MAX_RATE,
    )?;
    within("limits.burst", limits.burst, 1, MAX_RATE)?;
    within(
        "limits.requests_per_sec",
        limits.requests_per_sec,
        1,
        MAX_RATE,
    )?;
    within("limits.requests_burst", limits.requests_burst, 1, MAX_RATE)?;

    if history.on_join > MAX_ON_JOIN {
        return Err(ConfigError::invalid(
            "history.on_join",
            format!(
                "{} is too large (expected at most {MAX_ON_JOIN}, the messages one joined frame may carry)",
                history.on_join
            ),
        ));
    }
    within(
        "history.max_per_room",
        history.max_per_room,
        1,
        MAX_PER_ROOM,
    )?;
    not_longer("history.max_age", history.max_age, MAX_AGE)?;
    within(
        "history.memory_bytes",
        history.memory_bytes,
        MEMORY_BYTES.0,
        MEMORY_BYTES.1,
    )?;
    if history.backend == HistoryBackend::Sqlite && history.path.as_os_str().is_empty() {
        return Err(ConfigError::invalid(
            "history.path",
            "\"\" is empty (expected a file path such as \"data/chat.db\" for backend \"sqlite\")",
        ));
    }

    redis_url(&broker.redis_url, broker.redis_cluster)?;
    redis_prefix(&broker.redis_prefix)?;
    if !(MIN_NODE_TTL..=MAX_NODE_TTL).contains(&broker.node_ttl) {
        return Err(ConfigError::invalid(
            "broker.node_ttl",
            format!(
                "{} is out of range (expected 2s to 20s: a dead node's members must leave within 30 s)",
                humantime::format_duration(broker.node_ttl)
            ),
        ));
    }

    if auth.mode == AuthMode::Jwt && auth.jwt_secret.is_blank() {
        return Err(ConfigError::invalid(
            "auth.jwt_secret",
            format!(
                "{:?} is empty (expected a secret when auth.mode = \"jwt\")",
                auth.jwt_secret
            ),
        ));
    }

    if !auth.api_key.is_blank() && auth.api_key.expose().len() < MIN_API_KEY_LEN {
        return Err(ConfigError::invalid(
            "auth.api_key",
            format!(
                "is {} characters long (expected at least {MIN_API_KEY_LEN}, or empty to turn the API off)",
                auth.api_key.expose().len()
            ),
        ));
    }

    files_settings(files)?;

    log_level(&log.level)
}

/// Largest `files.max_bytes`: 5 GiB, the most one S3 `PUT` may carry.
const MAX_FILE_BYTES: usize = 5 * 1024 * 1024 * 1024;
/// Most `files.max_pixels`: a billion pixels is 4 GB decoded.
const MAX_PIXELS: usize = 1_000_000_000;

/// `[files]`: sizes above zero, types that parse, and an S3 backend with its bucket.
fn files_settings(files: &FilesSettings) -> Result<(), ConfigError> {
    within("files.max_bytes", files.max_bytes, 1, MAX_FILE_BYTES)?;
    within("files.max_pixels", files.max_pixels, 1, MAX_PIXELS)?;
    within("files.uploads_per_min", files.uploads_per_min, 1, MAX_RATE)?;
    not_longer("files.keep_unreferenced", files.keep_unreferenced, MAX_AGE)?;
    if let Some(bad) = files.allowed_types.iter().find(|t| !is_media_type(t)) {
        return Err(ConfigError::invalid(
            "files.allowed_types",
            format!("{bad:?} is not a media type (expected type/subtype, e.g. \"image/png\")"),
        ));
    }
    if files.enabled && files.backend == FilesBackend::Local && files.dir.as_os_str().is_empty() {
        return Err(ConfigError::invalid(
            "files.dir",
            "\"\" is empty (expected a folder such as \"data/files\" for backend \"local\")",
        ));
    }
    if files.enabled && files.backend == FilesBackend::S3 && files.s3_bucket.trim().is_empty() {
        return Err(ConfigError::invalid(
            "files.s3_bucket",
            "\"\" is empty (expected a bucket name when files.backend = \"s3\")",
        ));
    }
    let endpoint = files.s3_endpoint.trim();
    let is_url = endpoint.starts_with("http://") || endpoint.starts_with("https://");
    if !endpoint.is_empty() && !is_url {
        return Err(ConfigError::invalid(
            "files.s3_endpoint",
            format!(
                "{endpoint:?} is not a URL (expected e.g. \"http://127.0.0.1:9000\", or empty for AWS)"
            ),
        ));
    }
    Ok(())
}

/// `type/subtype`, each a token of letters, digits and `!#$&-^_.+` (RFC 6838), no parameters.
fn is_media_type(text: &str) -> bool {
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    text.split_once('/')
        .is_some_and(|(kind, subtype)| token(kind) && token(subtype))
}

/// `broker.redis_url`: one Redis URL, or with `broker.redis_cluster` one or more
/// comma-separated nodes of the cluster.
fn redis_url(url: &str, cluster: bool) -> Result<(), ConfigError> {
    let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
    let expected = if cluster {
        "expected redis://HOST:PORT or rediss://HOST:PORT, comma-separated for several cluster nodes"
    } else {
        "expected redis://HOST:PORT or rediss://HOST:PORT"
    };
    let bad = nodes.len() > 1 && !cluster
        || nodes.iter().any(|node| {
            let rest = node
                .strip_prefix("redis://")
                .or_else(|| node.strip_prefix("rediss://"));
            rest.is_none_or(str::is_empty)
        });
    if bad {
        return Err(ConfigError::invalid(
            "broker.redis_url",
            format!("{url:?} is not a Redis URL ({expected})"),
        ));
    }
    Ok(())
}

/// Shortest `broker.node_ttl`: a node beats every second, so a shorter one would take a
/// live node for dead after one late beat.
const MIN_NODE_TTL: Duration = Duration::from_secs(2);
/// Longest `broker.node_ttl`: the ttl, the sweep's second and Redis's answers must fit the
/// contract's 30 s for a dead node's members to leave.
const MAX_NODE_TTL: Duration = Duration::from_secs(20);

/// Longest `broker.redis_prefix`.
const MAX_REDIS_PREFIX: usize = 64;

/// `broker.redis_prefix`: 1-64 characters of `A-Z a-z 0-9 _ - . :`. No braces: a room's
/// keys are hash-tagged `{room}`, and a brace in the prefix would move the tag.
fn redis_prefix(prefix: &str) -> Result<(), ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if prefix.is_empty() || prefix.len() > MAX_REDIS_PREFIX || !prefix.chars().all(allowed) {
        return Err(ConfigError::invalid(
            "broker.redis_prefix",
            format!(
                "{prefix:?} is not a key prefix (expected 1-{MAX_REDIS_PREFIX} characters of A-Z a-z 0-9 _ - . :, e.g. \"chat\")"
            ),
        ));
    }
    Ok(())
}

fn at_least<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid(
            key,
            format!("{value} is too small (expected at least {min})"),
        ));
    }
    Ok(())
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    at_least(key, value, min)?;
    if value > max {
        return Err(ConfigError::invalid(
            key,
            format!("{value} is too large (expected at most {max})"),
        ));
    }
    Ok(())
}

fn not_longer(key: &str, value: Duration, max: Duration) -> Result<(), ConfigError> {
    if value > max {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{} is too long (expected at most {})",
                show(value),
                show(max)
            ),
        ));
    }
    Ok(())
}

/// A duration the way it is written in the file, quoted.
fn show(duration: Duration) -> String {
    format!("\"{}\"", humantime::format_duration(duration))
}

/// The level names a bare directive may be; anything else would be read as a target name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `log.level` must parse as a tracing `EnvFilter`. Stricter than `EnvFilter` on one point: a
/// directive without `=` must be a level name. `EnvFilter` would take a typo such as `inf` as a
/// target name and quietly log nothing; a target is written `target=level`.
fn log_level(level: &str) -> Result<(), ConfigError> {
    const EXPECTED: &str = "expected e.g. \"info\" or \"info,chat_ws=debug\"";
    if level.trim().is_empty() {
        return Err(ConfigError::invalid(
            "log.level",
            format!("{level:?} is not a log filter ({EXPECTED})"),
        ));
    }
    if let Err(error) = EnvFilter::builder().parse(level) {
        return Err(ConfigError::invalid(
            "log.level",
            format!("{level:?} is not a log filter: {error} ({EXPECTED})"),
        ));
    }
    let bare_typo = level
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty() && !directive.contains(['=', '[']))
        .find(|directive| {
            !LEVELS
                .iter()
                .any(|name| name.eq_ignore_ascii_case(directive))
        });
    match bare_typo {
        Some(directive) => Err(ConfigError::invalid(
            "log.level",
            format!(
                "{level:?} is not a log filter: {directive:?} is neither a level nor target=level \
                 (expected one of {}, or target=level)",
                LEVELS.join(", ")
            ),
        )),
        None => Ok(()),
    }
}
