use std::{path::PathBuf, sync::Arc};

use chat_broker_redis::{RedisBroker, RedisOptions};
use chat_config::{AuthMode, BrokerKind, FilesBackend, FsyncPolicy, HistoryBackend, Settings};
use chat_files::{Files, FilesConfig, LocalStorage, S3Storage, Storage, UploadTokens};
use chat_http::{ApiKey, HttpConfig, JwtAuth, Security, StorageCheck, Tls, TlsError, TlsFiles};
use chat_store::{Fsync, MemoryHistory, OpenError, SqliteHistory, SqliteOptions};
use chat_ws::{
    broker::{Broker, LocalBroker},
    client::ClientConfig,
    history::{History, Retention},
    hub::HubConfig,
    metrics::Metrics,
};
use tracing::info;

/// The SQLite file named by `history.path` cannot be used. The settings are valid but the
/// storage is not, so the server exits 1 (like a port it cannot bind), not 2.
#[derive(Debug, thiserror::Error)]
#[error("history.path {path:?} cannot be used: {problem}")]
pub struct HistoryUnusable {
    pub path: PathBuf,
    pub problem: OpenError,
}

/// TLS, sign-in and the API key as the settings ask: the certificate and key are read now, so
/// a bad file stops the start naming its key.
pub(crate) fn security(settings: &Settings) -> Result<Security, TlsError> {
    let tls = match (&settings.server.tls_cert, &settings.server.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })?),
        _ => None,
    };
    let auth = match settings.auth.mode {
        AuthMode::None => None,
        // Validation refused an empty secret in this mode.
        AuthMode::Jwt => JwtAuth::new(settings.auth.jwt_secret.expose()),
    };
    let api_key = (!settings.auth.api_key.is_blank())
        .then(|| ApiKey::new(settings.auth.api_key.expose().to_owned()));
    Ok(Security { tls, auth, api_key })
}

/// The broker the settings ask for: Redis shared by several nodes, or this process's own over
/// the history they ask for; and whether storage can still store, for `/readyz`.
pub(crate) fn broker(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<(Box<dyn Broker>, StorageCheck)> {
    if settings.broker.kind == BrokerKind::Redis {
        let options = RedisOptions {
            url: settings.broker.redis_url.clone(),
            cluster: settings.broker.redis_cluster,
            prefix: settings.broker.redis_prefix.clone(),
            on_join: settings.history.on_join,
            retention: retention(settings),
            node_ttl: settings.broker.node_ttl,
        };
        let (broker, health) = RedisBroker::spawn(options, metrics.history_append_seconds.clone())?;
        info!(cluster = settings.broker.redis_cluster, prefix = %settings.broker.redis_prefix, "rooms shared through redis");
        return Ok((Box::new(broker), Box::new(move || health.is_ok())));
    }
    let (history, storage_ok) = history(settings)?;
    let broker = LocalBroker::new(
        history,
        settings.history.on_join,
        metrics.history_append_seconds.clone(),
    );
    Ok((Box::new(broker), storage_ok))
}

/// The history the settings ask for: SQLite opened (and migrated) now, so a bad file stops
/// the start, or memory.
fn history(settings: &Settings) -> Result<(Box<dyn History>, StorageCheck), HistoryUnusable> {
    let history = &settings.history;
    let retention = retention(settings);
    match history.backend {
        HistoryBackend::Memory => Ok((
            Box::new(MemoryHistory::with_budget(retention, history.memory_bytes)),
            Box::new(|| true),
        )),
        HistoryBackend::Sqlite => {
            let mut options = SqliteOptions::new(&history.path, retention);
            options.fsync = match history.fsync {
                FsyncPolicy::Off => Fsync::Off,
                FsyncPolicy::Normal => Fsync::Normal,
                FsyncPolicy::Full => Fsync::Full,
            };
            // Joins without `since` and resends are then answered from memory.
            options.cache_per_room = history.on_join.max(SqliteOptions::DEFAULT_CACHE_PER_ROOM);
            options.cache_bytes = history.memory_bytes;
            let store = SqliteHistory::open(options).map_err(|problem| HistoryUnusable {
                path: history.path.clone(),
                problem,
            })?;
            info!(path = %history.path.display(), fsync = ?history.fsync, "history in SQLite");
            let health = store.health();
            Ok((Box::new(store), Box::new(move || health.is_ok())))
        }
    }
}

/// `history.max_per_room` and `history.max_age`, for every kind of storage.
fn retention(settings: &Settings) -> Retention {
    let history = &settings.history;
    Retention {
        max_per_room: history.max_per_room,
        max_age: (!history.max_age.is_zero()).then_some(history.max_age),
    }
}

/// File sharing as the settings ask: the folder created or the S3 client built now, so a bad
/// setting stops the start; `None` when it is off.
pub(crate) async fn files(settings: &Settings) -> anyhow::Result<Option<Arc<Files>>> {
    let files = &settings.files;
    if !files.enabled {
        return Ok(None);
    }
    let storage: Arc<dyn Storage> = match files.backend {
        FilesBackend::Local => Arc::new(LocalStorage::open(&files.dir).await.map_err(|e| {
            anyhow::anyhow!(
                "files.dir {:?} cannot be used: {e}",
                files.dir.display().to_string()
            )
        })?),
        FilesBackend::S3 => Arc::new(
            S3Storage::new(&files.s3_bucket, &files.s3_endpoint, &files.s3_region).map_err(
                |e| anyhow::anyhow!("files.s3_bucket {:?} cannot be used: {e}", files.s3_bucket),
            )?,
        ),
    };
    // Every node derives the same token key from the sign-in secret; without one the key is
    // this process's own.
    let secret = (!settings.auth.jwt_secret.is_blank()).then(|| settings.auth.jwt_secret.expose());
    let config = FilesConfig {
        max_bytes: files.max_bytes as u64,
        max_pixels: files.max_pixels as u64,
        allowed_types: files.allowed_types.clone(),
        uploads_per_min: files.uploads_per_min,
        keep_unreferenced: files.keep_unreferenced,
    };
    info!(backend = ?files.backend, "file sharing on");
    Ok(Some(Arc::new(Files::new(
        storage,
        config,
        UploadTokens::new(secret),
    ))))
}

pub(crate) fn hub_config(settings: &Settings) -> HubConfig {
    HubConfig {
        max_rooms: settings.ws.max_rooms,
        queue: client_config(settings).queue_limits(),
    }
}

pub(crate) fn http_config(settings: &Settings) -> HttpConfig {
    HttpConfig {
        web_dir: settings.server.web_dir.clone(),
        allowed_origins: settings.server.allowed_origins.clone(),
        max_connections: settings.server.max_connections,
        max_connections_per_ip: settings.server.max_connections_per_ip,
    }
}

pub(crate) fn client_config(settings: &Settings) -> ClientConfig {
    ClientConfig {
        max_text_bytes: settings.ws.max_text_bytes,
        max_rooms: settings.ws.max_rooms,
        outbound_queue: settings.ws.outbound_queue,
        outbound_queue_bytes: settings.ws.outbound_queue_bytes,
        ping_interval: settings.ws.ping_interval,
        idle_timeout: settings.ws.idle_timeout,
        messages_per_sec: settings.limits.messages_per_sec,
        burst: settings.limits.burst,
        requests_per_sec: settings.limits.requests_per_sec,
        requests_burst: settings.limits.requests_burst,
        max_frame_bytes: settings.ws.max_frame_bytes,
        server_name: format!("chat-server/{}", env!("CARGO_PKG_VERSION")),
        files: None,
    }
}
