//! The hub: one task that owns every room, its members, every connection's outbox and the
//! order of every room's frames.
//!
//! Connections talk to it only through a [`HubHandle`] (a bounded channel of [`Command`]s);
//! storage through a [`Broker`], whose outcomes come back tagged. It talks back without ever
//! waiting: each batch of commands corks the frames it produces per member, then hands each
//! member its frames at once (one socket write when the socket takes them, else the
//! connection's bounded backlog). A client whose backlog overflows is evicted (4008).

mod api;
mod command;
mod connections;
mod flush;
mod member;
mod presence;
mod room;
mod rooms;
mod roomwire;
mod state;
#[cfg(test)]
mod tests;

use tokio::{sync::mpsc, task::JoinHandle};

use std::sync::Arc;

use crate::{broker::Broker, conn::QueueLimits, files::FileSharing, metrics::Metrics};

pub use command::Command;

/// Hub settings that do not change while it runs.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Rooms one connection may be in (or joining).
    pub max_rooms: usize,
    /// What may wait for one connection before it is cut off.
    pub queue: QueueLimits,
    /// File sharing, told of the files of each deleted message (`None`: sharing is off).
    pub files: Option<Arc<dyn FileSharing>>,
}

/// How many commands may wait for the hub before senders wait: deep enough to absorb a burst
/// of joins, small enough that a stuck hub shows up as backpressure instead of memory.
const COMMAND_QUEUE: usize = 16 * 1024;

/// A cloneable address of the hub.
#[derive(Debug, Clone)]
pub struct HubHandle {
    commands: mpsc::Sender<Command>,
    /// Shared, not cloned: every connection holds a handle.
    metrics: Arc<Metrics>,
}

/// The hub has stopped (the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the hub has stopped")]
pub struct HubGone;

impl HubHandle {
    /// Starts the hub task over `broker`. The task ends, after flushing the broker, when the
    /// last handle is dropped.
    pub fn spawn(
        broker: Box<dyn Broker>,
        config: HubConfig,
        metrics: Metrics,
    ) -> (Self, JoinHandle<()>) {
        let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
        let task = tokio::spawn(state::Hub::new(broker, config, metrics.clone()).run(inbox));
        let metrics = Arc::new(metrics);
        (Self { commands, metrics }, task)
    }

    /// The metrics every part of the core counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Queues a command for the hub. Waits only while the hub's queue is full.
    ///
    /// Cancel-safe: if cancelled, the command was not queued.
    pub async fn send(&self, command: Command) -> Result<(), HubGone> {
        self.commands.send(command).await.map_err(|_| HubGone)
    }

    /// Queues a command if the hub's queue has room (nearly always), without a future to
    /// keep: a connection's reader lives for hours and should not carry one.
    pub fn try_send(&self, command: Command) -> Result<(), mpsc::error::TrySendError<Command>> {
        self.commands.try_send(command)
    }
}
