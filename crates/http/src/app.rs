use std::{path::PathBuf, sync::Arc};

use chat_ws::{client::ClientConfig, hub::HubHandle};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::per_ip::PerIp;

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
    pub fn new(
        config: HttpConfig,
        hub: HubHandle,
        client: ClientConfig,
        shutdown: CancellationToken,
        metrics: MetricsRenderer,
        storage_ok: StorageCheck,
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
        })
    }

    /// The WebSocket tasks; `close()` then `wait()` to let them finish.
    pub fn sockets(&self) -> &TaskTracker {
        &self.sockets
    }

    /// Number of open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.config.max_connections - self.connections.available_permits()
    }
}
