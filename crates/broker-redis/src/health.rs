//! Whether Redis answers, for `/readyz`, and the outage logged once: a warning when it goes
//! away, a line when it is back, nothing per message in between.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tracing::{info, warn};

/// Whether this node reaches Redis; cheap to clone and to ask.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    /// True while the last word from Redis (commands and pub/sub) was an answer.
    pub fn is_ok(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The node's side of [`Health`]: sets it and logs each change once.
#[derive(Debug)]
pub(crate) struct Reach {
    health: Health,
    /// What was last logged; `None` before the first word from Redis.
    reported: Option<bool>,
}

impl Reach {
    pub(crate) fn new(health: Health) -> Self {
        Self {
            health,
            reported: None,
        }
    }

    /// Notes what the last exchange showed; returns true when Redis just came back after
    /// an outage (what the node missed meanwhile is then to be filled).
    pub(crate) fn set(&mut self, ok: bool, error: Option<&redis::RedisError>) -> bool {
        self.health.0.store(ok, Ordering::Relaxed);
        let before = self.reported.replace(ok);
        match (before, ok) {
            (Some(true) | None, false) => {
                let error = error.map_or_else(String::new, ToString::to_string);
                warn!(%error, "redis unreachable: sends answer internal until it is back");
            }
            (Some(false), true) => info!("redis reachable again"),
            (None, true) => info!("redis reachable"),
            _ => {}
        }
        before == Some(false) && ok
    }
}

/// Whether an error says Redis is away (the connection, not the request, failed).
pub(crate) fn is_outage(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || error.is_cluster_error()
}
