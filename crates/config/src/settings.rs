//! The typed settings tree and its compiled-in defaults (the operator contract in CONFIG.md).
//!
//! Every struct is `#[serde(default)]`, so a source only names the keys it changes, and
//! `deny_unknown_fields`, so a misspelt key is an error rather than a silently ignored line.
//! The field-level `deserialize_with` helpers in [`crate::value`] give each bad value a message
//! that says what was expected.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{secret::Secret, value};

/// The whole configuration of one server process, one section per table of `config/default.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[server]`: listening socket, static files, origins, connection cap, TLS.
    pub server: ServerSettings,
    /// `[ws]`: WebSocket frame sizes, per-connection limits and keep-alive timing.
    pub ws: WsSettings,
    /// `[limits]`: the per-connection rate limits on `send` and `typing`, and on
    /// `join`, `leave` and `history`.
    pub limits: LimitSettings,
    /// `[history]`: where messages are kept and how many are replayed on join.
    pub history: HistorySettings,
    /// `[broker]`: how rooms are shared between nodes.
    pub broker: BrokerSettings,
    /// `[auth]`: who may connect.
    pub auth: AuthSettings,
    /// `[files]`: file sharing (uploads, downloads, where the bytes live).
    pub files: FilesSettings,
    /// `[log]`: log filter and output format.
    pub log: LogSettings,
}

/// `[server]`: the HTTP side of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind; port 0 picks a free port (tests, and the bound address is logged).
    #[serde(deserialize_with = "value::socket_addr")]
    pub listen: SocketAddr,
    /// Folder served at `/` instead of the page built into the binary. Empty (the default)
    /// serves the built-in page, so the binary works from any working directory; a folder set
    /// here must exist at startup.
    #[serde(with = "value::optional_path")]
    pub web_dir: Option<PathBuf>,
    /// Origins allowed to open `/ws` besides the server's own host; `*` allows any.
    /// Cross-site WebSocket hijacking is blocked by default, so this starts empty.
    #[serde(deserialize_with = "value::string_list")]
    pub allowed_origins: Vec<String>,
    /// Open WebSocket connections allowed at once; past it an upgrade gets 503.
    #[serde(deserialize_with = "value::count")]
    pub max_connections: usize,
    /// Open WebSocket connections from one peer address; past it an upgrade gets 503. Zero
    /// means no cap, the default: behind a reverse proxy every peer is the proxy.
    #[serde(deserialize_with = "value::count")]
    pub max_connections_per_ip: usize,
    /// How long a graceful shutdown may take before remaining connections are dropped.
    #[serde(with = "value::duration")]
    pub shutdown_grace: Duration,
    /// PEM certificate chain; with `tls_key` the port speaks TLS only. Empty means plain HTTP.
    #[serde(with = "value::optional_path")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`. Empty means plain HTTP.
    #[serde(with = "value::optional_path")]
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            web_dir: None,
            allowed_origins: Vec::new(),
            max_connections: 10_000,
            max_connections_per_ip: 0,
            shutdown_grace: Duration::from_secs(10),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[ws]`: limits and timing of one WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsSettings {
    /// Largest frame or reassembled message accepted; over it the connection is closed with 1009.
    #[serde(deserialize_with = "value::count")]
    pub max_frame_bytes: usize,
    /// Largest `send` text in UTF-8 bytes; over it the client gets a `too_large` error frame.
    #[serde(deserialize_with = "value::count")]
    pub max_text_bytes: usize,
    /// Rooms one connection may be in at once, so one client cannot grow the hub without bound.
    #[serde(deserialize_with = "value::count")]
    pub max_rooms: usize,
    /// Frames queued for one client before it is cut with 4008; a slow reader never stalls a room.
    #[serde(deserialize_with = "value::count")]
    pub outbound_queue: usize,
    /// Bytes queued for one client before it is cut with 4008: frames alone do not bound
    /// memory when frames are large.
    #[serde(deserialize_with = "value::count")]
    pub outbound_queue_bytes: usize,
    /// How often the server pings, to keep NATs open and notice dead peers.
    #[serde(with = "value::duration")]
    pub ping_interval: Duration,
    /// Silence after which a connection is closed; longer than `ping_interval` so a pong can arrive.
    #[serde(with = "value::duration")]
    pub idle_timeout: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            max_frame_bytes: 65_536,
            max_text_bytes: 4_096,
            max_rooms: 32,
            outbound_queue: 1_024,
            outbound_queue_bytes: 4 * 1024 * 1024,
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// `[limits]`: token buckets per connection, one on `send` and `typing`, one on the requests
/// that make the server read history or tell a room (`join`, `leave`, `history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Sustained rate (tokens added per second).
    #[serde(deserialize_with = "value::count")]
    pub messages_per_sec: u32,
    /// Bucket size: how many messages may arrive at once after a quiet spell.
    #[serde(deserialize_with = "value::count")]
    pub burst: u32,
    /// Sustained `join` + `leave` + `history` rate: each answer may be large and each join or
    /// leave reaches every member of the room, so they are limited apart from messages.
    #[serde(deserialize_with = "value::count")]
    pub requests_per_sec: u32,
    /// Bucket size for that rate: a client rejoining its rooms after a reconnect does not
    /// wait.
    #[serde(deserialize_with = "value::count")]
    pub requests_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            messages_per_sec: 10,
            burst: 20,
            requests_per_sec: 20,
            requests_burst: 64,
        }
    }
}

/// `[history]`: message storage and replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistorySettings {
    /// Where messages are kept.
    pub backend: HistoryBackend,
    /// SQLite database file (used by the `sqlite` backend only).
    pub path: PathBuf,
    /// Messages sent in `joined` when the client gives no `since`.
    #[serde(deserialize_with = "value::count")]
    pub on_join: usize,
    /// Retention per room, in messages.
    #[serde(deserialize_with = "value::count")]
    pub max_per_room: usize,
    /// Retention per room, by age; zero keeps messages until `max_per_room` drops them.
    #[serde(with = "value::duration")]
    pub max_age: Duration,
    /// How hard SQLite pushes each write to disk (see [`FsyncPolicy`]).
    pub fsync: FsyncPolicy,
    /// Bytes of messages held in memory: the SQLite backend's cache of recent messages
    /// (older ones are read from the file), or all the memory backend keeps.
    #[serde(deserialize_with = "value::count")]
    pub memory_bytes: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            backend: HistoryBackend::Sqlite,
            path: PathBuf::from("data/chat.db"),
            on_join: 50,
            max_per_room: 10_000,
            max_age: Duration::ZERO,
            fsync: FsyncPolicy::Normal,
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `history.backend`: `"sqlite"` or `"memory"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum HistoryBackend {
    /// Durable, embedded SQLite database at `history.path`.
    Sqlite,
    /// Kept in process memory; lost on restart.
    Memory,
}

impl TryFrom<String> for HistoryBackend {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(&text, &[("sqlite", Self::Sqlite), ("memory", Self::Memory)])
    }
}

/// `history.fsync`: SQLite's `synchronous` pragma for the history database (WAL mode).
///
/// With every level a committed message survives a crash of the server process (`kill -9`):
/// in WAL mode a commit has reached the operating system before it returns. The levels differ
/// on an OS crash or power loss.
///
/// Not in CONFIG.md's table; an extra key the project adds and documents in
/// `config/default.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum FsyncPolicy {
    /// `synchronous=OFF`: never waits for the disk; an OS crash or power loss may lose recent
    /// commits and may corrupt the database.
    Off,
    /// `synchronous=NORMAL`: syncs at checkpoints only; an OS crash or power loss may drop the
    /// last commits but never corrupts the database.
    Normal,
    /// `synchronous=FULL`: also survives an OS crash or power loss, at an fsync per commit.
    Full,
}

impl TryFrom<String> for FsyncPolicy {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(
            &text,
            &[
                ("off", Self::Off),
                ("normal", Self::Normal),
                ("full", Self::Full),
            ],
        )
    }
}

/// `[broker]`: fan-out between server nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// Single node, or several nodes sharing rooms through Redis.
    pub kind: BrokerKind,
    /// Redis to use when `kind = "redis"`; `redis://` or `rediss://` (TLS). With
    /// `redis_cluster`, one or more comma-separated nodes of the cluster.
    pub redis_url: String,
    /// The Redis is a Redis Cluster: rooms are spread over its shards (sharded pub/sub).
    #[serde(deserialize_with = "value::flag")]
    pub redis_cluster: bool,
    /// Every key and channel name starts with this, so several chats (or tests) can share
    /// one Redis. Not in CONFIG.md's table; an extra key the project adds.
    pub redis_prefix: String,
    /// How long after its last heartbeat a node is taken for dead and its members leave
    /// (a node beats every second). Not in CONFIG.md's table; an extra key the project adds.
    #[serde(with = "value::duration")]
    pub node_ttl: Duration,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            kind: BrokerKind::Local,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_cluster: false,
            redis_prefix: "chat".to_owned(),
            node_ttl: Duration::from_secs(10),
        }
    }
}

/// `broker.kind`: `"local"` or `"redis"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum BrokerKind {
    /// One node; rooms live in this process only.
    Local,
    /// Several nodes share rooms through Redis pub/sub at `broker.redis_url`.
    Redis,
}

impl TryFrom<String> for BrokerKind {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(&text, &[("local", Self::Local), ("redis", Self::Redis)])
    }
}

/// `[auth]`: who may connect, and the server API's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Anyone may connect, or a JWT is required.
    pub mode: AuthMode,
    /// HS256 secret for `mode = "jwt"`; required (non-empty) in that mode. Never shown.
    pub jwt_secret: Secret,
    /// Bearer key of the server API (`/api/`); empty: the API is off (every `/api/` path is
    /// 404). Never shown.
    pub api_key: Secret,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            jwt_secret: Secret::default(),
            api_key: Secret::default(),
        }
    }
}

/// `auth.mode`: `"none"` or `"jwt"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum AuthMode {
    /// No authentication; a client picks its own name.
    None,
    /// An HS256 JWT signed with `auth.jwt_secret` is required to connect.
    Jwt,
}

impl TryFrom<String> for AuthMode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(&text, &[("none", Self::None), ("jwt", Self::Jwt)])
    }
}

/// `[files]`: file sharing (`POST /files`, `files` in `send`, downloads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesSettings {
    /// File sharing on: the routes answer and `welcome` carries `upload`. Off: every
    /// `/files` path is 404.
    #[serde(deserialize_with = "value::flag")]
    pub enabled: bool,
    /// Where the bytes live: a local folder, or an S3-compatible object store (what several
    /// nodes need, unless they share one folder).
    pub backend: FilesBackend,
    /// The folder for `backend = "local"`, created at the first upload.
    pub dir: PathBuf,
    /// Largest upload in bytes; a body past it is cut off with 413 while it arrives.
    #[serde(deserialize_with = "value::count")]
    pub max_bytes: usize,
    /// Largest image (width × height), checked from the header before any decoding: a small
    /// file may claim a huge picture.
    #[serde(deserialize_with = "value::count")]
    pub max_pixels: usize,
    /// Types accepted, as found in the file's own bytes (`type/subtype`); others get 415.
    #[serde(deserialize_with = "value::string_list")]
    pub allowed_types: Vec<String>,
    /// Uploads per user per minute; past it 429.
    #[serde(deserialize_with = "value::count")]
    pub uploads_per_min: u32,
    /// The bucket for `backend = "s3"` (required then).
    pub s3_bucket: String,
    /// The S3 API's URL; empty: AWS itself. An `http://` endpoint (a local MinIO or moto)
    /// works too.
    pub s3_endpoint: String,
    /// The bucket's region; empty: `AWS_REGION` or `us-east-1`.
    pub s3_region: String,
    /// How long a file that no message references is kept after its upload (PROTOCOL.md:
    /// 24 h). Not in CONFIG.md's table; an extra key the project adds (tests shorten it).
    #[serde(with = "value::duration")]
    pub keep_unreferenced: Duration,
}

/// The default of `files.allowed_types` (CONFIG.md).
const DEFAULT_FILE_TYPES: [&str; 11] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "video/webm",
];

impl Default for FilesSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: FilesBackend::Local,
            dir: PathBuf::from("data/files"),
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
            allowed_types: DEFAULT_FILE_TYPES.map(str::to_owned).to_vec(),
            uploads_per_min: 20,
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: String::new(),
            keep_unreferenced: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// `files.backend`: `"local"` or `"s3"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum FilesBackend {
    /// A folder on this machine (`files.dir`).
    Local,
    /// An S3-compatible object store (`files.s3_*`, credentials from `AWS_*`).
    S3,
}

impl TryFrom<String> for FilesBackend {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(&text, &[("local", Self::Local), ("s3", Self::S3)])
    }
}

/// `[log]`: what is logged and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing `EnvFilter` directive, e.g. `info` or `info,chat_ws=debug`; `RUST_LOG` wins.
    pub level: String,
    /// Human-readable text or one JSON object per line.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// `log.format`: `"text"` or `"json"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        value::keyword(&text, &[("text", Self::Text), ("json", Self::Json)])
    }
}
