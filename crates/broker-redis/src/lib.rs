//! The Redis broker: several `chat-server` processes share every room through one Redis or a
//! Redis Cluster, behind the chat core's [`Broker`] seam.
//!
//! The hub never waits for Redis: [`RedisBroker`] hands each hub batch's jobs to a task of its
//! own (the worker) and gives back its outcomes through [`Broker::poll_outcomes`]. For each
//! room with appends in a batch the worker makes one script call that checks resend ids,
//! gives seqs, appends to the room's stream and publishes, atomically; a send is delivered only
//! once Redis has answered that call (stored before delivered). Rooms with local members are
//! subscribed (one subscription per room, never per client), and every room's events reach the
//! hub in seq order with no gap: a seq skipped on the channel is read from the stream first.
//!
//! # Layout
//! - `keys`: a room's keys and channel, hash-tagged `{room}` under the configured prefix.
//! - `codec`: an event as stored in the stream and as published.
//! - `script` (with `append.lua`): the one atomic step per room per batch, a change's rules
//!   included.
//! - `conn`: the command and pub/sub connections (a single Redis or a cluster).
//! - `feed`: a room's events on their way to the hub, in order, holes noticed.
//! - `presence` (with `presence.lua`): members per node, first join and last leave across
//!   nodes, typing, and the sweep of a dead node's members (who sweeps: `worker/nodes.rs`).
//! - `reads` (with `read.lua`): the stream reads behind `joined`, `history` and filling a
//!   hole, each event as it stands (a changed message's state from the room's state hash).
//! - `worker`: the task that does all of the above.
//! - `health`: whether Redis answers (`/readyz`), the outage logged once.

mod codec;
mod conn;
mod feed;
mod health;
mod keys;
mod presence;
mod reads;
mod script;
mod worker;

use std::{
    mem,
    task::{Context, Poll},
    time::Duration,
};

use chat_ws::{
    broker::{Broker, Failed, Job, Outcome, Outcomes},
    history::{HistoryError, Retention},
    protocol::RoomName,
};
use foldhash::HashMap;
use metrics::Histogram;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

pub use health::Health;

use crate::{
    health::Reach,
    keys::Keys,
    script::AppendSettings,
    worker::{Work, Worker, failed},
};

/// What the broker needs to know.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `broker.redis_url`: one URL, or with `cluster` comma-separated cluster nodes.
    pub url: String,
    /// `broker.redis_cluster`.
    pub cluster: bool,
    /// `broker.redis_prefix`: the start of every key and channel.
    pub prefix: String,
    /// `history.on_join`.
    pub on_join: usize,
    /// `history.max_per_room` and `history.max_age`.
    pub retention: Retention,
    /// `broker.node_ttl`: how long after its last heartbeat a node is taken for dead.
    pub node_ttl: Duration,
}

/// The broker of a node that shares its rooms through Redis.
pub struct RedisBroker {
    /// This hub batch's work, sent to the worker at the batch's end.
    batch: Vec<Work>,
    to_worker: UnboundedSender<Vec<Work>>,
    outcomes: UnboundedReceiver<Outcome>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("batch", &self.batch.len())
            .finish_non_exhaustive()
    }
}

/// The URL cannot be used (it parses, yet redis-rs refuses it).
#[derive(Debug, thiserror::Error)]
#[error("broker.redis_url: {0}")]
pub struct BadUrl(#[from] redis::RedisError);

impl RedisBroker {
    /// Starts the worker (in the current tokio runtime) and returns the broker with the
    /// health `/readyz` reports. Redis need not answer yet: the node connects once it does.
    pub fn spawn(
        options: RedisOptions,
        append_seconds: Histogram,
    ) -> Result<(Self, Health), BadUrl> {
        let (pushes_tx, pushes) = mpsc::unbounded_channel();
        let commands = conn::open(&options.url, options.cluster, None)?;
        let pubsub = conn::open(&options.url, options.cluster, Some(pushes_tx))?;
        let (to_worker, inbox) = mpsc::unbounded_channel();
        let (out, outcomes) = mpsc::unbounded_channel();
        let health = Health::default();
        let max_age_ms = options
            .retention
            .max_age
            .map_or(0, |age| age.as_millis().clamp(1, u64::MAX as u128) as u64);
        let worker = Worker {
            settings: worker::Settings {
                keys: Keys::new(&options.prefix),
                append: AppendSettings {
                    max_per_room: options.retention.max_per_room,
                    max_age_ms,
                    publish: if options.cluster {
                        "SPUBLISH"
                    } else {
                        "PUBLISH"
                    },
                },
                on_join: options.on_join,
                max_age_ms,
                append_seconds,
                node: node_id(),
                node_ttl_ms: options.node_ttl.as_millis().clamp(1, u64::MAX as u128) as u64,
            },
            commands,
            pubsub,
            pushes,
            inbox,
            out,
            reach: Reach::new(health.clone()),
            feeds: HashMap::default(),
            holes: Default::default(),
            resync: false,
            local: HashMap::default(),
            told: HashMap::default(),
            registered: false,
        };
        tokio::spawn(worker.run());
        let broker = Self {
            batch: Vec::new(),
            to_worker,
            outcomes,
        };
        Ok((broker, health))
    }

    /// Hands the batch's work to the worker; if it is gone, every job fails.
    fn send(&mut self, out: &mut Outcomes) {
        if self.batch.is_empty() {
            return;
        }
        if let Err(mpsc::error::SendError(batch)) = self.to_worker.send(mem::take(&mut self.batch))
        {
            for work in batch {
                if let Work::Job(job) = work
                    && let Some(outcome) = refused(job)
                {
                    out.push_back(outcome);
                }
            }
        }
    }

    fn drain(&mut self, out: &mut Outcomes) {
        while let Ok(outcome) = self.outcomes.try_recv() {
            out.push_back(outcome);
        }
    }
}

/// A node id no other node has: 64 random bits.
fn node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The outcome of a job taken after the worker stopped (presence and typing have none).
fn refused(job: Job) -> Option<Outcome> {
    let error = HistoryError("the redis worker has stopped".to_owned());
    let (origin, room, kind, reference): (_, RoomName, _, _) = match job {
        Job::Append { origin, draft } => (origin, draft.room, Failed::Store, draft.client_id),
        Job::Catchup {
            origin,
            room,
            reference,
            ..
        } => (origin, room, Failed::Join, reference),
        Job::Page {
            origin,
            room,
            reference,
            ..
        } => (origin, room, Failed::Read, reference),
        Job::Presence { .. } | Job::Typing { .. } => return None,
    };
    Some(failed(origin, &room, kind, reference, &error))
}

impl Broker for RedisBroker {
    fn submit(&mut self, job: Job, _out: &mut Outcomes) {
        self.batch.push(Work::Job(job));
    }

    fn end_batch(&mut self, out: &mut Outcomes) {
        self.send(out);
        self.drain(out);
    }

    fn forget(&mut self, room: &RoomName) {
        self.batch.push(Work::Forget(room.clone()));
    }

    fn poll_outcomes(&mut self, cx: &mut Context<'_>, out: &mut Outcomes) -> Poll<()> {
        // Work queued outside a batch (a room forgotten by an eviction) goes now.
        self.send(out);
        match self.outcomes.poll_recv(cx) {
            Poll::Ready(Some(outcome)) => {
                out.push_back(outcome);
                self.drain(out);
                Poll::Ready(())
            }
            Poll::Ready(None) => Poll::Pending,
            Poll::Pending if out.is_empty() => Poll::Pending,
            Poll::Pending => Poll::Ready(()),
        }
    }

    fn flush(&mut self, out: &mut Outcomes) -> Result<(), HistoryError> {
        // Everything sent is stored once Redis answered; what is still on its way is
        // answered by Redis or lost with the node, as a crash would lose it.
        self.send(out);
        self.drain(out);
        Ok(())
    }

    /// A user on several nodes is one member: Redis counts its nodes per room, and its
    /// presence reaches every node's members, this one's too, from Redis's answer.
    fn decides_presence(&self) -> bool {
        true
    }
}
