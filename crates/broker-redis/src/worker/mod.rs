//! The task that talks to Redis for one node: it takes the hub's jobs a batch at a time, runs
//! the appends of every room as one script call (one per room on a cluster, every call at
//! once, pipelined on the connection), reads the streams for joins and pages, listens to the rooms' channels, and
//! sends every outcome back to the hub in one order. The hub never waits for it.
//!
//! This file: the loop and the hub's jobs. `channel.rs`: what the rooms' channels bring and
//! keeping every feed whole (probe, resync, holes). `members.rs`: presence and typing.
//! `nodes.rs`: heartbeats and the sweep of dead nodes.

mod channel;
mod members;
mod nodes;

use std::{
    mem,
    ops::Range,
    sync::Arc,
    time::{Duration, Instant},
};

use chat_ws::{
    broker::{Failed, Job, Origin, Outcome},
    history::{HistoryError, now_ms},
    log::{Draft, Event},
    protocol::{RoomName, User, UserId},
};
use foldhash::{HashMap, HashMapExt, HashSet};
use futures_util::future::join_all;
use metrics::Histogram;
use redis::{PushInfo, RedisError, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::debug;

use crate::{
    conn::Conn,
    feed::Feed,
    health::{Reach, is_outage},
    keys::Keys,
    presence::Change,
    reads::Reader,
    script::{self, AppendSettings, Appended, MAX_PER_CALL},
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

    /// The batch's appends in as few script calls as Redis allows, all at once: every room's
    /// in one call on a single Redis (at most [`MAX_PER_CALL`] drafts a call), one call per
    /// room on a cluster. What a call costs Redis besides its commands is paid per call.
    pub(super) async fn append(&mut self, appends: Vec<(Origin, Draft)>) {
        // Each room's drafts (in parts of at most MAX_PER_CALL), in the order of its first.
        let mut rooms: Vec<(RoomName, Vec<Origin>, Vec<Draft>)> = Vec::new();
        let mut open: HashMap<RoomName, usize> = HashMap::new();
        for (origin, draft) in appends {
            let at = match open.get(&draft.room) {
                Some(&at) if rooms[at].2.len() < MAX_PER_CALL => at,
                _ => {
                    open.insert(draft.room.clone(), rooms.len());
                    rooms.push((draft.room.clone(), Vec::new(), Vec::new()));
                    rooms.len() - 1
                }
            };
            rooms[at].1.push(origin);
            rooms[at].2.push(draft);
        }
        let calls = calls(&rooms, &self.settings.append);
        let started = Instant::now();
        let replies: Vec<Result<Value, RedisError>> = match self.commands.connect().await {
            Ok(()) => {
                let settings = &self.settings;
                join_all(calls.iter().map(|range| {
                    let parts = rooms[range.clone()].iter();
                    let call = script::invocation(
                        &settings.keys,
                        parts.map(|(room, _, drafts)| (room, drafts.as_slice())),
                        &settings.append,
                    );
                    let mut conn = self.commands.clone();
                    async move { call.invoke_async(&mut conn).await }
                }))
                .await
            }
            Err(error) => calls.iter().map(|_| Err(error.clone())).collect(),
        };
        self.settings
            .append_seconds
            .record(started.elapsed().as_secs_f64());
        let mut ready = Vec::new();
        let mut rooms = rooms.into_iter();
        for (range, reply) in calls.into_iter().zip(replies) {
            let parts: Vec<_> = rooms.by_ref().take(range.len()).collect();
            let drafts = parts.iter().map(|(_, _, drafts)| drafts.len()).sum();
            let answers = reply
                .and_then(|value| script::answers(value, drafts).ok_or_else(unexpected_answer));
            let mut offset = 0;
            for (room, origins, drafts) in parts {
                let count = drafts.len();
                let references: Vec<_> = drafts.iter().map(|d| d.client_id.clone()).collect();
                let answered = match &answers {
                    Ok((ts, items)) => {
                        script::outcomes(&room, drafts, (*ts, &items[offset..offset + count]))
                            .ok_or_else(unexpected_answer)
                    }
                    Err(error) => Err(error.clone()),
                };
                offset += count;
                match answered {
                    Ok(appended) => {
                        let answers = origins.into_iter().zip(appended).zip(references);
                        for ((origin, appended), reference) in answers {
                            let refused = (room.clone(), reference);
                            self.appended(origin, appended, refused, &mut ready);
                        }
                    }
                    Err(error) => {
                        self.failed_call(&error);
                        for (origin, reference) in origins.into_iter().zip(references) {
                            self.send(failed(origin, &room, Failed::Store, reference, &error));
                        }
                    }
                }
            }
        }
    }

    /// This node's own append came back: its event joins the room's feed; a resend is
    /// answered once the feed has passed it (before that, the sender gets it live); a change
    /// that stored nothing is answered at once (`refused`: the room and `ref` of its error).
    pub(super) fn appended(
        &mut self,
        origin: Origin,
        appended: Appended,
        refused: (RoomName, Option<Arc<str>>),
        ready: &mut Vec<Arc<Event>>,
    ) {
        match appended {
            Appended::Stored(mut event) => {
                // The files go once, from here: the channel's copy of a delete names none.
                if let Some(files) = event.released() {
                    self.send(Outcome::Released(files.clone()));
                    event = event.kept();
                }
                let room = event.room.clone();
                if let Some(feed) = self.feeds.get_mut(&room) {
                    feed.offer(event, false, ready);
                    self.deliver(ready);
                    self.note_hole(&room);
                }
            }
            Appended::Unchanged(target) => self.send(Outcome::Unchanged { origin, target }),
            Appended::Refused(refusal) => {
                let (room, reference) = refused;
                self.send(Outcome::Refused {
                    origin,
                    room,
                    refusal,
                    reference,
                });
            }
            Appended::Resent(event) => {
                let delivered = self
                    .feeds
                    .get(&event.room)
                    .is_none_or(|feed| feed.last() >= event.seq);
                if delivered {
                    self.send(Outcome::Resent { origin, event });
                }
            }
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

/// Which of `rooms` (consecutive) each script call takes: as many as fit in [`MAX_PER_CALL`]
/// drafts, or one each when a call may hold one room only.
fn calls(
    rooms: &[(RoomName, Vec<Origin>, Vec<Draft>)],
    settings: &AppendSettings,
) -> Vec<Range<usize>> {
    let mut calls: Vec<Range<usize>> = Vec::new();
    let mut size = 0;
    for (at, (_, _, drafts)) in rooms.iter().enumerate() {
        match calls.last_mut() {
            Some(call) if !settings.one_room_per_call && size + drafts.len() <= MAX_PER_CALL => {
                call.end = at + 1;
                size += drafts.len();
            }
            _ => {
                calls.push(at..at + 1);
                size = drafts.len();
            }
        }
    }
    calls
}

fn unexpected_answer() -> RedisError {
    RedisError::from((redis::ErrorKind::Client, "unexpected script answer"))
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
