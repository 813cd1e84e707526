//! The task that talks to Redis for one node: it takes the hub's jobs a batch at a time, runs
//! the appends of every room as one script call (one per room on a cluster, every call at
//! once, pipelined on the connection), reads the streams for joins and pages, listens to the rooms' channels, and
//! sends every outcome back to the hub in one order. The hub never waits for it.
//!
//! This file: the loop and the hub's jobs. `appends.rs`: the appends' script calls and their
//! answers. `channel.rs`: what the rooms' channels bring and
//! keeping every feed whole (probe, resync, holes). `members.rs`: presence and typing.
//! `nodes.rs`: heartbeats and the sweep of dead nodes.

mod appends;
mod channel;
mod members;
mod nodes;

use std::{
    mem,
    sync::Arc,
    time::{Duration, Instant},
};

use chat_ws::{
    broker::{Failed, Job, Origin, Outcome},
    history::{HistoryError, now_ms},
    log::Event,
    protocol::{RoomName, User, UserId},
};
use foldhash::{HashMap, HashSet};
use metrics::Histogram;
use redis::{PushInfo, RedisError};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::debug;

use crate::{
    conn::Conn,
    feed::Feed,
    health::{Reach, is_outage},
    keys::Keys,
    presence::Change,
    reads::Reader,
    script::AppendSettings,
};

/// How often both connections are probed with a PING: the pub/sub connection may go quiet
/// without closing (a silent stall), and `/readyz` follows what the probe finds.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a probe waits for its PONG.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long this node's own event may wait for the channel to bring the events before it,
/// before they are read from the stream instead.
pub(super) const HOLE_WAIT: Duration = Duration::from_millis(100);
/// Events read per stream read when filling.
pub(super) const FILL_COUNT: usize = 1000;

/// What the hub asks of the worker, in the hub's order.
#[derive(Debug)]
pub(crate) enum Work {
    Job(Job),
    /// The hub has nobody in the room any more: stop listening to it.
    Forget(RoomName),
}

/// The worker's fixed settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) keys: Keys,
    pub(crate) append: AppendSettings,
    pub(crate) on_join: usize,
    /// `history.max_age` in ms; 0 keeps everything.
    pub(crate) max_age_ms: u64,
    pub(crate) append_seconds: Histogram,
    /// This node's id, random at each start: its members in Redis carry it.
    pub(crate) node: String,
    /// `broker.node_ttl` in ms: a node that has not beaten for this long is dead.
    pub(crate) node_ttl_ms: u64,
}

pub(crate) struct Worker {
    pub(crate) settings: Settings,
    pub(crate) commands: Conn,
    pub(crate) pubsub: Conn,
    pub(crate) pushes: UnboundedReceiver<PushInfo>,
    pub(crate) inbox: UnboundedReceiver<Vec<Work>>,
    pub(crate) out: UnboundedSender<Outcome>,
    pub(crate) reach: Reach,
    /// Rooms with members on this node, each subscribed.
    pub(crate) feeds: HashMap<RoomName, Feed>,
    /// The rooms whose feed has a hole, so that finding the holes costs nothing per room.
    pub(crate) holes: HashSet<RoomName>,
    /// The pub/sub connection dropped (or Redis went away): once Redis answers again, every
    /// room is filled from its last seq.
    pub(crate) resync: bool,
    /// The users with a connection here, per room: what this node has told Redis (told
    /// again if other nodes took this node for dead, taken back when it stops).
    pub(crate) local: HashMap<RoomName, HashMap<UserId, User>>,
    /// Every node's users in each subscribed room as this node's members were told (in
    /// `joined` and by presence since): only a change to it is told, and after the pub/sub
    /// connection was down the difference from Redis's members.
    pub(crate) told: HashMap<RoomName, HashMap<UserId, User>>,
    /// The heartbeat has reached Redis once: a later beat that finds this node missing
    /// means another node swept it.
    pub(crate) registered: bool,
}

impl Worker {
    /// Serves until the broker is dropped.
    pub(crate) async fn run(mut self) {
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hole_due = self.next_hole().map(|opened| opened + HOLE_WAIT);
            let hole_at = tokio::time::Instant::from_std(hole_due.unwrap_or_else(Instant::now));
            tokio::select! {
                work = self.inbox.recv() => {
                    let Some(mut batch) = work else { break };
                    while let Ok(more) = self.inbox.try_recv() {
                        batch.extend(more);
                    }
                    self.work(batch).await;
                }
                Some(push) = self.pushes.recv() => {
                    self.on_push(push);
                    while let Ok(push) = self.pushes.try_recv() {
                        self.on_push(push);
                    }
                    if self.resync {
                        self.probe().await;
                    }
                    self.fill_holes(false).await;
                }
                () = tokio::time::sleep_until(hole_at), if hole_due.is_some() => {
                    self.fill_holes(true).await;
                }
                _ = probe.tick() => self.probe().await,
            }
        }
        self.goodbye().await;
    }

    /// Does a batch of the hub's work in order; consecutive appends go to Redis together, and
    /// so do consecutive presence and typing changes.
    pub(super) async fn work(&mut self, batch: Vec<Work>) {
        let mut appends = Vec::new();
        let mut changes = Vec::new();
        for work in batch {
            match work {
                Work::Job(Job::Append { origin, draft }) => {
                    if !changes.is_empty() {
                        self.present(mem::take(&mut changes)).await;
                    }
                    appends.push((origin, draft));
                }
                Work::Job(Job::Presence { room, user, event }) => {
                    if !appends.is_empty() {
                        self.append(mem::take(&mut appends)).await;
                    }
                    changes.push((room, Change::Member(user, event)));
                }
                Work::Job(Job::Typing { room, user, active }) => {
                    if !appends.is_empty() {
                        self.append(mem::take(&mut appends)).await;
                    }
                    changes.push((room, Change::Typing(user, active)));
                }
                other => {
                    if !appends.is_empty() {
                        self.append(mem::take(&mut appends)).await;
                    }
                    if !changes.is_empty() {
                        self.present(mem::take(&mut changes)).await;
                    }
                    match other {
                        Work::Job(Job::Catchup {
                            origin,
                            room,
                            since,
                            reference,
                        }) => self.catchup(origin, room, since, reference).await,
                        Work::Job(Job::Page {
                            origin,
                            room,
                            before,
                            limit,
                            reference,
                        }) => self.page(origin, room, (before, limit), reference).await,
                        Work::Forget(room) => self.forget(room).await,
                        Work::Job(
                            Job::Append { .. } | Job::Presence { .. } | Job::Typing { .. },
                        ) => {}
                    }
                }
            }
        }
        if !appends.is_empty() {
            self.append(appends).await;
        }
        if !changes.is_empty() {
            self.present(changes).await;
        }
    }

    pub(super) async fn catchup(
        &mut self,
        origin: Origin,
        room: RoomName,
        since: Option<u64>,
        reference: Option<Arc<str>>,
    ) {
        let upto = match self.feeds.get(&room) {
            Some(feed) => Ok(feed.last()),
            None => self.listen(&room).await,
        };
        let on_join = self.settings.on_join;
        let answer = match upto {
            Ok(upto) => {
                let history = self.reader().catchup(&room, since, upto, on_join).await;
                let members = self.members_elsewhere(&room).await;
                history.and_then(|(messages, complete)| Ok((upto, messages, complete, members?)))
            }
            Err(error) => Err(error),
        };
        match answer {
            Ok((seq, messages, complete, members)) => self.send(Outcome::Catchup {
                origin,
                room,
                seq,
                messages,
                complete,
                members,
            }),
            Err(error) => {
                self.failed_call(&error);
                self.send(failed(origin, &room, Failed::Join, reference, &error));
            }
        }
    }

    /// Subscribes to a room that has its first local member, then reads its latest seq: what
    /// is published from then on reaches the feed, what came before is in the stream.
    pub(super) async fn listen(&mut self, room: &RoomName) -> Result<u64, RedisError> {
        let channel = self.settings.keys.channel(room);
        self.pubsub.subscribe(&channel).await?;
        match self.reader().latest_seq(room).await {
            Ok(seq) => {
                self.feeds.insert(room.clone(), Feed::new(seq));
                Ok(seq)
            }
            Err(error) => {
                let _ = self.pubsub.unsubscribe(&channel).await;
                Err(error)
            }
        }
    }

    pub(super) async fn page(
        &mut self,
        origin: Origin,
        room: RoomName,
        (before, limit): (Option<u64>, usize),
        reference: Option<Arc<str>>,
    ) {
        let upto = match self.feeds.get(&room) {
            Some(feed) => Ok(feed.last()),
            None => self.reader().latest_seq(&room).await,
        };
        let answer = match upto {
            Ok(upto) => self.reader().page(&room, before, limit, upto).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok((messages, has_more)) => self.send(Outcome::Page {
                origin,
                room,
                messages,
                has_more,
            }),
            Err(error) => {
                self.failed_call(&error);
                self.send(failed(origin, &room, Failed::Read, reference, &error));
            }
        }
    }

    pub(super) async fn forget(&mut self, room: RoomName) {
        self.holes.remove(&room);
        self.told.remove(&room);
        if self.feeds.remove(&room).is_some() {
            let channel = self.settings.keys.channel(&room);
            if let Err(error) = self.pubsub.unsubscribe(&channel).await {
                // Its events are ignored from now on; the subscription goes with the
                // connection.
                debug!(%room, %error, "unsubscribe failed");
            }
        }
    }

    pub(super) fn reader(&mut self) -> Reader<'_> {
        let oldest_ts = match self.settings.max_age_ms {
            0 => 0,
            age => now_ms().saturating_sub(age),
        };
        Reader {
            conn: &mut self.commands,
            keys: &self.settings.keys,
            oldest_ts,
        }
    }

    /// Hands events now in order to the hub.
    pub(super) fn deliver(&self, ready: &mut Vec<Arc<Event>>) {
        for event in ready.drain(..) {
            self.send(Outcome::Stored(event));
        }
    }

    pub(super) fn send(&self, outcome: Outcome) {
        // The hub is gone only when the node stops.
        let _ = self.out.send(outcome);
    }

    /// A call failed: if Redis is away, `/readyz` says so from now on.
    pub(super) fn failed_call(&mut self, error: &RedisError) {
        if is_outage(error) {
            self.reach.set(false, Some(error));
            self.resync = true;
        }
    }
}

/// The outcome of a job that Redis did not answer.
pub(crate) fn failed(
    origin: Origin,
    room: &RoomName,
    job: Failed,
    reference: Option<Arc<str>>,
    error: &dyn std::fmt::Display,
) -> Outcome {
    Outcome::Failed {
        origin,
        room: room.clone(),
        job,
        reference,
        error: HistoryError(format!("redis: {error}")),
    }
}
