use std::{path::PathBuf, sync::Arc};

use chat_ws::{client::ClientConfig, hub::HubHandle};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{auth::JwtAuth, metrics::HttpMetrics, per_ip::PerIp, tls::Tls};

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Folder served at `/`; `None` serves the page built into the binary.
    pub web_dir: Option<PathBuf>,
    /// Origins allowed to open `/ws` besides the server's own host; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Open WebSocket connections allowed at once.
    pub max_connections: usize,
    /// Open WebSocket connections allowed from one peer address; 0 means no cap.
    pub max_connections_per_ip: usize,
}

/// What guards the server: TLS on the port, sign-in on `/ws`, the key of the server API.
#[derive(Debug, Default)]
pub struct Security {
    /// The port speaks TLS only.
    pub tls: Option<Tls>,
    /// `/ws` needs a JWT.
    pub auth: Option<JwtAuth>,
    /// The server API's bearer key; without it every `/api/` path is 404.
    pub api_key: Option<ApiKey>,
}

/// The server API's key, compared in constant time and never shown.
pub struct ApiKey(String);

impl ApiKey {
    /// The key an API request must bear.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// Whether `given` is the key, in time that does not depend on where they differ.
    pub(crate) fn matches(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// Renders the metrics page (Prometheus text format).
pub type MetricsRenderer = Box<dyn Fn() -> String + Send + Sync>;

/// Whether the storage behind the chat can still store, for `/readyz`.
pub type StorageCheck = Box<dyn Fn() -> bool + Send + Sync>;

/// Everything a request handler may need, shared by all connections.
pub struct App {
    pub(crate) config: HttpConfig,
    pub(crate) hub: HubHandle,
    pub(crate) client: Arc<ClientConfig>,
    /// One permit per open WebSocket; none left means 503.
    pub(crate) connections: Arc<Semaphore>,
    /// Open WebSockets per peer address; an address at its cap means 503.
    pub(crate) per_ip: Arc<PerIp>,
    /// Fires when the server starts shutting down.
    pub(crate) shutdown: CancellationToken,
    /// Every WebSocket task, so shutdown can wait for their close handshakes.
    pub(crate) sockets: TaskTracker,
    /// The `/metrics` page.
    pub(crate) metrics: MetricsRenderer,
    pub(crate) storage_ok: StorageCheck,
    /// TLS on the port; `None`: plain HTTP.
    pub(crate) tls: Option<Tls>,
    /// Sign-in on `/ws`; `None`: anyone may connect.
    pub(crate) auth: Option<JwtAuth>,
    /// The server API's key; `None`: the API is off.
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) http_metrics: HttpMetrics,
    /// File sharing; `None`: off, every `/files` path is 404.
    pub(crate) files: Option<Arc<chat_files::Files>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Shared state for one server.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: HttpConfig,
        hub: HubHandle,
        client: ClientConfig,
        shutdown: CancellationToken,
        metrics: MetricsRenderer,
        storage_ok: StorageCheck,
        security: Security,
        http_metrics: HttpMetrics,
        files: Option<Arc<chat_files::Files>>,
    ) -> Arc<Self> {
        if config.web_dir.is_none() {
            crate::embedded::prepare();
        }
        Arc::new(Self {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            per_ip: PerIp::new(config.max_connections_per_ip),
            config,
            hub,
            client: Arc::new(client),
            shutdown,
            sockets: TaskTracker::new(),
            metrics,
            storage_ok,
            tls: security.tls,
            auth: security.auth,
            api_key: security.api_key,
            http_metrics,
            files,
        })
    }

    /// The WebSocket tasks; `close()` then `wait()` to let them finish.
    pub fn sockets(&self) -> &TaskTracker {
        &self.sockets
    }

    /// Reads the TLS certificate and key again (SIGHUP); on failure the current pair stays.
    /// Nothing to do without TLS.
    pub fn reload_tls(&self) -> Result<(), crate::tls::TlsError> {
        self.tls.as_ref().map_or(Ok(()), Tls::reload)
    }

    /// Number of open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.config.max_connections - self.connections.available_permits()
    }
}
