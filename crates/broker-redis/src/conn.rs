//! Connections to Redis: one for commands and one for pub/sub, to a single Redis (redis-rs's
//! `ConnectionManager`, which reconnects with backoff and, for pub/sub, resubscribes) or to a
//! Redis Cluster (its cluster connection, which follows the slots and resubscribes sharded
//! channels). Both are made lazily: a node starts while Redis is away and connects once it
//! is back.

use std::time::Duration;

use redis::{
    Client, Cmd, IntoConnectionInfo, ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};
use tokio::sync::mpsc::UnboundedSender;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one answer may take: past it the command fails (`internal` to a sender) rather
/// than holding every room of this node.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection backoff: first wait, and longest.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Attempts per reconnection before the command waiting for it fails; the next command
/// starts another round, so the node keeps trying for as long as Redis is away.
const RETRIES: usize = 2;

/// One connection, to a single Redis or to a cluster; cheap to clone (clones share it).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(Box<Lazy>),
}

/// A cluster connection made on first use (the cluster client needs a node to answer).
#[derive(Clone)]
pub(crate) struct Lazy {
    client: ClusterClient,
    conn: Option<ClusterConnection>,
}

impl Lazy {
    async fn get(&mut self) -> RedisResult<&mut ClusterConnection> {
        if self.conn.is_none() {
            self.conn = Some(self.client.get_async_connection().await?);
        }
        // Just set when it was missing.
        self.conn
            .as_mut()
            .ok_or_else(|| (redis::ErrorKind::Client, "no cluster connection").into())
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Conn::Single",
            Self::Cluster(_) => "Conn::Cluster",
        })
    }
}

/// Where Redis is: `urls` is one URL, or with `cluster` comma-separated cluster nodes.
/// `pushes` (pub/sub connections only) receives what is published and disconnections.
pub(crate) fn open(
    urls: &str,
    cluster: bool,
    pushes: Option<UnboundedSender<PushInfo>>,
) -> RedisResult<Conn> {
    if cluster {
        let nodes: Vec<&str> = urls.split(',').map(str::trim).collect();
        let mut builder = ClusterClient::builder(nodes)
            .use_protocol(ProtocolVersion::RESP3)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(RETRIES as u32)
            .min_retry_wait(BACKOFF_MIN.as_millis() as u64)
            .max_retry_wait(BACKOFF_MAX.as_millis() as u64);
        if let Some(pushes) = pushes {
            builder = builder.push_sender(pushes);
        }
        let client = builder.build()?;
        return Ok(Conn::Cluster(Box::new(Lazy { client, conn: None })));
    }
    let info = urls.trim().into_connection_info()?;
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = Client::open(info.set_redis_settings(redis))?;
    let mut config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RETRIES)
        .set_min_delay(BACKOFF_MIN)
        .set_max_delay(BACKOFF_MAX);
    if let Some(pushes) = pushes {
        config = config
            .set_push_sender(pushes)
            .set_automatic_resubscription();
    }
    Ok(Conn::Single(ConnectionManager::new_lazy_with_config(
        client, config,
    )?))
}

impl Conn {
    /// Makes the connection now if it is made lazily (a cluster's), so that clones share it.
    pub(crate) async fn connect(&mut self) -> RedisResult<()> {
        match self {
            Self::Single(_) => Ok(()),
            Self::Cluster(c) => c.get().await.map(drop),
        }
    }

    /// Subscribes to a room's channel (sharded on a cluster). Returns once Redis confirmed.
    pub(crate) async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(c) => c.subscribe(channel).await,
            Self::Cluster(c) => c.get().await?.ssubscribe(channel).await,
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(c) => c.unsubscribe(channel).await,
            Self::Cluster(c) => c.get().await?.sunsubscribe(channel).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self {
                Self::Single(c) => c.send_packed_command(cmd).await,
                Self::Cluster(c) => c.get().await?.req_packed_command(cmd).await,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self {
                Self::Single(c) => c.send_packed_commands(cmd, offset, count).await,
                Self::Cluster(c) => c.get().await?.req_packed_commands(cmd, offset, count).await,
            }
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
