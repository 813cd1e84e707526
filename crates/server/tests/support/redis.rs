//! Redis for the tests with several nodes: the shared one at 127.0.0.1:6379 under a key
//! prefix of the test's own, or a private `redis-server` on a free port that a test may kill
//! and start again.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use tokio::process::{Child, Command};

use super::WAIT;

/// The shared Redis that `.ci/run` starts.
pub const SHARED: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test (or run) uses.
pub fn prefix(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "test:{test}:{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for a node over Redis at `url` with `prefix`, high rate limits (tests send
/// bursts), and `extra` TOML lines (first in `[broker]`; they may open other sections).
pub fn node_toml(url: &str, prefix: &str, extra: &str) -> String {
    format!(
        "[limits]\nmessages_per_sec = 100000\nburst = 100000\nrequests_per_sec = 100000\nrequests_burst = 100000\n\
         [broker]\nkind = \"redis\"\nredis_url = \"{url}\"\nredis_prefix = \"{prefix}\"\n{extra}"
    )
}

/// A client of its own to Redis at `url`, for what a test does to Redis directly.
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    tokio::time::timeout(WAIT, client.get_multiplexed_async_connection())
        .await
        .expect("redis answers in time")
        .expect("redis connection")
}

/// Deletes every key under `prefix` (the shared Redis outlives the tests).
pub async fn clean(url: &str, prefix: &str) {
    let mut conn = connect(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for key in keys {
        let _: Result<(), _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
    }
}

/// A free TCP port on the loopback (free when asked; the caller binds it at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` of the test's own, with `appendonly yes`, killed when dropped.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl PrivateRedis {
    /// Starts one on a free port, with `extra` arguments.
    pub async fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port and folder, and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        wait_for(self.port).await;
    }

    /// `kill -9`.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// Waits until a Redis on `port` answers PING.
pub async fn wait_for(port: u16) {
    let url = format!("redis://127.0.0.1:{port}");
    tokio::time::timeout(WAIT * 2, async {
        loop {
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            // Polling a process that has not opened its port yet: nothing to await instead.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("redis-server answers in time");
}

/// A free port whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A Redis Cluster of three primaries (no replicas) of the test's own.
pub struct PrivateCluster {
    pub ports: Vec<u16>,
    _nodes: Vec<Child>,
}

impl PrivateCluster {
    /// Starts three `redis-server --cluster-enabled yes` and joins them with
    /// `redis-cli --cluster create`; returns once the cluster answers `cluster_state:ok`.
    pub async fn start(dir: &Path) -> Self {
        let mut ports = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let port = free_cluster_port();
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("node folder");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server runs");
            nodes.push(child);
            wait_for(port).await;
            ports.push(port);
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create");
        for &port in &ports {
            tokio::time::timeout(WAIT * 4, async {
                let mut conn = connect(&format!("redis://127.0.0.1:{port}")).await;
                loop {
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if info.contains("cluster_state:ok") {
                        return;
                    }
                    // The nodes agree on their own clock: nothing to await but the next look.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await
            .expect("the cluster is ok in time");
        }
        Self {
            ports,
            _nodes: nodes,
        }
    }

    /// `broker.redis_url` for it: every node, comma-separated.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Waits until Redis lists `count` members of `room` under `prefix` (a node tells Redis after
/// it answered `joined`, so a join on another node right after may not list the newcomer yet:
/// it then gets its `presence` instead). Bounded by the contract's 30 s for a dead node's
/// members to leave.
pub async fn members_in_redis(url: &str, prefix: &str, room: &str, count: usize) {
    let mut conn = connect(url).await;
    let key = format!("{prefix}:{{{room}}}:members");
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now: usize = redis::cmd("HLEN")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("HLEN");
            if now == count {
                return;
            }
            // Another process's write: nothing to await but the next look.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} members of {room} in redis in time"));
}
