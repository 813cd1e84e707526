//! The hub: one task that owns every room, its members and the order of its messages.
//!
//! Connections talk to it only through a [`HubHandle`] (a bounded channel of [`Command`]s).
//! It talks back without ever waiting: each batch of commands corks the frames it produces
//! per member, then hands each member its frames at once ([`Outlet`]): one socket write straight
//! to the socket when nothing is waiting there, else the connection's bounded queue. A client
//! whose queue overflows is evicted (closed with 4008).
//! Every command names its room, so rooms can later be spread over several hub tasks by
//! hashing the room name in [`HubHandle`] without the client side noticing.

mod command;
mod outlet;
mod peer;
mod room;
mod roomwire;
mod state;
#[cfg(test)]
mod tests;

use tokio::{sync::mpsc, task::JoinHandle};

use std::sync::Arc;

use crate::{history::History, metrics::Metrics};

pub use command::Command;
pub(crate) use outlet::write_now;
pub use outlet::{Outlet, Sender};
pub use peer::{ConnId, Peer};

/// Hub settings that do not change while it runs.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Messages sent in `joined` when the join gives no `since`.
    pub on_join: usize,
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
    /// Starts the hub task over `history`. The task ends, after flushing the history, when the
    /// last handle is dropped.
    pub fn spawn(
        history: Box<dyn History>,
        config: HubConfig,
        metrics: Metrics,
    ) -> (Self, JoinHandle<()>) {
        let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
        let task = tokio::spawn(state::Hub::new(history, config, metrics.clone()).run(inbox));
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
