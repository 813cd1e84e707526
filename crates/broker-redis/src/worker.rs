//! The task that talks to Redis for one node: it takes the hub's jobs a batch at a time, runs
//! each room's appends as one script call (every room's calls at once, pipelined on the
//! connection), reads the streams for joins and pages, listens to the rooms' channels, and
//! sends every outcome back to the hub in one order. The hub never waits for it.

use std::{
    mem,
    sync::Arc,
    time::{Duration, Instant},
};

use chat_ws::{
    broker::{Failed, Job, Origin, Outcome},
    history::{HistoryError, now_ms},
    log::{Draft, Event},
    protocol::{PresenceEvent, RoomName, User, UserId},
};
use foldhash::{HashMap, HashMapExt, HashSet};
use futures_util::future::join_all;
use metrics::Histogram;
use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::{
    sync::mpsc::{UnboundedReceiver, UnboundedSender},
    time::timeout,
};
use tracing::{debug, warn};

use crate::{
    codec::{self, Published},
    conn::Conn,
    feed::Feed,
    health::{Reach, is_outage},
    keys::Keys,
    presence::{self, Change},
    reads::Reader,
    script::{self, AppendSettings, Appended, MAX_PER_CALL},
};

/// How often both connections are probed with a PING: the pub/sub connection may go quiet
/// without closing (a silent stall), and `/readyz` follows what the probe finds.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a probe waits for its PONG.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long this node's own event may wait for the channel to bring the events before it,
/// before they are read from the stream instead.
const HOLE_WAIT: Duration = Duration::from_millis(100);
/// Events read per stream read when filling.
const FILL_COUNT: usize = 1000;

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
    async fn work(&mut self, batch: Vec<Work>) {
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

    /// Presence and typing changes, one script call per room, all at once. Nobody waits for
    /// an answer: a failure is logged with the outage, and what this node told Redis is told
    /// again when it is back.
    async fn present(&mut self, changes: Vec<(RoomName, Change)>) {
        let mut calls: Vec<(RoomName, Vec<Change>)> = Vec::new();
        let mut open: HashMap<RoomName, usize> = HashMap::new();
        for (room, change) in changes {
            match &change {
                Change::Member(user, PresenceEvent::Join) => {
                    let users = self.local.entry(room.clone()).or_default();
                    users.insert(user.id.clone(), user.clone());
                }
                Change::Member(user, PresenceEvent::Leave) => {
                    if let Some(users) = self.local.get_mut(&room) {
                        users.remove(&user.id);
                        if users.is_empty() {
                            self.local.remove(&room);
                        }
                    }
                }
                Change::Typing(..) | Change::Sweep(_) | Change::Reset => {}
            }
            let at = *open.entry(room.clone()).or_insert_with(|| {
                calls.push((room.clone(), Vec::new()));
                calls.len() - 1
            });
            calls[at].1.push(change);
        }
        if let Err(error) = self.commands.connect().await {
            return self.failed_call(&error);
        }
        let settings = &self.settings;
        let node_rooms = settings.keys.node_rooms(&settings.node);
        let joined: Vec<&RoomName> = calls
            .iter()
            .filter(|(_, changes)| {
                changes
                    .iter()
                    .any(|c| matches!(c, Change::Member(_, PresenceEvent::Join)))
            })
            .map(|(room, _)| room)
            .collect();
        let mut conn = self.commands.clone();
        let remember = async move {
            if joined.is_empty() {
                return Ok(());
            }
            let mut sadd = redis::cmd("SADD");
            sadd.arg(&node_rooms);
            for room in joined {
                sadd.arg(room.as_str());
            }
            sadd.query_async::<Value>(&mut conn).await.map(drop)
        };
        let scripts = join_all(calls.iter().map(|(room, changes)| {
            let call = presence::invocation(
                &settings.keys,
                room,
                &settings.node,
                settings.append.publish,
                changes,
            );
            let mut conn = self.commands.clone();
            async move { call.invoke_async::<Value>(&mut conn).await }
        }));
        let (remembered, answers) = tokio::join!(remember, scripts);
        for result in answers.into_iter().map(|a| a.map(drop)).chain([remembered]) {
            if let Err(error) = result {
                self.failed_call(&error);
            }
        }
    }

    /// One script call per room (per [`MAX_PER_CALL`] drafts), all at once.
    async fn append(&mut self, appends: Vec<(Origin, Draft)>) {
        let mut calls: Vec<(RoomName, Vec<Origin>, Vec<Draft>)> = Vec::new();
        let mut open: HashMap<RoomName, usize> = HashMap::new();
        for (origin, draft) in appends {
            let at = match open.get(&draft.room) {
                Some(&at) if calls[at].2.len() < MAX_PER_CALL => at,
                _ => {
                    open.insert(draft.room.clone(), calls.len());
                    calls.push((draft.room.clone(), Vec::new(), Vec::new()));
                    calls.len() - 1
                }
            };
            calls[at].1.push(origin);
            calls[at].2.push(draft);
        }
        let started = Instant::now();
        let replies: Vec<Result<Value, RedisError>> = match self.commands.connect().await {
            Ok(()) => {
                let settings = &self.settings;
                join_all(calls.iter().map(|(room, _, drafts)| {
                    let call = script::invocation(&settings.keys, room, drafts, &settings.append);
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
        for ((room, origins, drafts), reply) in calls.into_iter().zip(replies) {
            let references: Vec<_> = drafts.iter().map(|d| d.client_id.clone()).collect();
            let answered = match reply {
                Ok(value) => script::outcomes(&room, drafts, &value).ok_or_else(|| {
                    RedisError::from((redis::ErrorKind::Client, "unexpected script answer"))
                }),
                Err(error) => Err(error),
            };
            match answered {
                Ok(appended) => {
                    for (origin, appended) in origins.into_iter().zip(appended) {
                        self.appended(origin, appended, &mut ready);
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

    /// This node's own append came back: its event joins the room's feed; a resend is
    /// answered once the feed has passed it (before that, the sender gets it live).
    fn appended(&mut self, origin: Origin, appended: Appended, ready: &mut Vec<Arc<Event>>) {
        match appended {
            Appended::Stored(event) => {
                let room = event.room.clone();
                if let Some(feed) = self.feeds.get_mut(&room) {
                    feed.offer(event, false, ready);
                    self.deliver(ready);
                    self.note_hole(&room);
                }
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

    async fn catchup(
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

    /// The room's members on other nodes.
    async fn members_elsewhere(&mut self, room: &RoomName) -> Result<Vec<User>, RedisError> {
        let reply: Value = redis::cmd("HGETALL")
            .arg(self.settings.keys.members(room))
            .query_async(&mut self.commands)
            .await?;
        Ok(presence::others(&reply, &self.settings.node))
    }

    /// Subscribes to a room that has its first local member, then reads its latest seq: what
    /// is published from then on reaches the feed, what came before is in the stream.
    async fn listen(&mut self, room: &RoomName) -> Result<u64, RedisError> {
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

    async fn page(
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

    async fn forget(&mut self, room: RoomName) {
        self.holes.remove(&room);
        if self.feeds.remove(&room).is_some() {
            let channel = self.settings.keys.channel(&room);
            if let Err(error) = self.pubsub.unsubscribe(&channel).await {
                // Its events are ignored from now on; the subscription goes with the
                // connection.
                debug!(%room, %error, "unsubscribe failed");
            }
        }
    }

    /// Something arrived on the pub/sub connection.
    fn on_push(&mut self, push: PushInfo) {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let [channel, payload] = push.data.as_slice() else {
                    return;
                };
                let (Some(channel), Some(payload)) = (codec::bytes(channel), codec::bytes(payload))
                else {
                    return;
                };
                let Some(room) = self.settings.keys.room_of(channel) else {
                    return;
                };
                let Some(feed) = self.feeds.get_mut(&room) else {
                    return;
                };
                let mut ready = Vec::new();
                let mut told = Vec::new();
                for line in codec::decode_published(&room, payload) {
                    match line {
                        Published::Event(event) => feed.offer(event, true, &mut ready),
                        // This node's own members were told by its hub.
                        Published::Presence { node, .. } | Published::Typing { node, .. }
                            if node == self.settings.node => {}
                        Published::Presence { user, event, .. } => {
                            told.push(Outcome::Presence {
                                room: room.clone(),
                                user,
                                event,
                            });
                        }
                        Published::Typing { user, active, .. } => told.push(Outcome::Typing {
                            room: room.clone(),
                            user,
                            active,
                        }),
                    }
                }
                self.deliver(&mut ready);
                self.note_hole(&room);
                for outcome in told {
                    self.send(outcome);
                }
            }
            PushKind::Disconnection => {
                // Resubscribed on reconnection; what was published meanwhile is read back.
                self.resync = true;
            }
            _ => {}
        }
    }

    /// Probes both connections; once Redis answers after an outage or a dropped pub/sub
    /// connection, fills every room from its last seq.
    async fn probe(&mut self) {
        let ping = |mut conn: Conn| async move {
            match timeout(
                PROBE_TIMEOUT,
                redis::cmd("PING").query_async::<Value>(&mut conn),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer to PING in time",
                ))),
            }
        };
        // A cluster's connections are made on first use: made here, so the clones share them.
        let connect = async {
            self.commands.connect().await?;
            self.pubsub.connect().await
        };
        let connected = timeout(PROBE_TIMEOUT, connect).await.unwrap_or_else(|_| {
            Err(RedisError::from((
                redis::ErrorKind::Io,
                "no connection in time",
            )))
        });
        if let Err(error) = connected {
            self.reach.set(false, Some(&error));
            self.resync = true;
            return;
        }
        let (commands, pubsub) =
            tokio::join!(ping(self.commands.clone()), ping(self.pubsub.clone()));
        match commands.and(pubsub) {
            Ok(()) => {
                let back = self.reach.set(true, None);
                if back || self.resync {
                    self.resync_all().await;
                }
                if back {
                    // Joins and leaves may have been lost while Redis was away.
                    self.tell_members_again().await;
                }
                if let Err(error) = self.heartbeat().await {
                    self.failed_call(&error);
                }
            }
            Err(error) => {
                self.reach.set(false, Some(&error));
                self.resync = true;
            }
        }
    }

    /// Tells Redis this node is alive until `node_ttl` from now, then sweeps the nodes whose
    /// deadline has passed: one node, the one whose `ZREM` took the dead node out, removes
    /// its members and publishes their `leave`.
    async fn heartbeat(&mut self) -> Result<(), RedisError> {
        let now = now_ms();
        let nodes = self.settings.keys.nodes();
        let added: u64 = redis::cmd("ZADD")
            .arg(&nodes)
            .arg(now + self.settings.node_ttl_ms)
            .arg(&self.settings.node)
            .query_async(&mut self.commands)
            .await?;
        if added == 1 && self.registered {
            warn!("this node was taken for dead (no heartbeat in time); telling its members again");
            self.tell_members_again().await;
        }
        self.registered = true;
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&nodes)
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(16)
            .query_async(&mut self.commands)
            .await?;
        for node in dead {
            let claimed: u64 = redis::cmd("ZREM")
                .arg(&nodes)
                .arg(&node)
                .query_async(&mut self.commands)
                .await?;
            if claimed == 1 {
                self.sweep(&node).await?;
            }
        }
        Ok(())
    }

    /// Makes Redis's members of this node exactly its local ones, in every room it has or had
    /// members in: the missing join, the others leave.
    async fn tell_members_again(&mut self) {
        let had: Result<Vec<String>, _> = redis::cmd("SMEMBERS")
            .arg(self.settings.keys.node_rooms(&self.settings.node))
            .query_async(&mut self.commands)
            .await;
        let mut rooms: HashSet<RoomName> = self.local.keys().cloned().collect();
        match had {
            Ok(had) => rooms.extend(had.iter().filter_map(|room| RoomName::parse(room).ok())),
            Err(error) => return self.failed_call(&error),
        }
        let mut changes = Vec::new();
        for room in rooms {
            changes.push((room.clone(), Change::Reset));
            for user in self.local.get(&room).into_iter().flat_map(HashMap::values) {
                changes.push((
                    room.clone(),
                    Change::Member(user.clone(), PresenceEvent::Join),
                ));
            }
        }
        self.present(changes).await;
    }

    /// Takes a dead node's members out of every room it had members in.
    async fn sweep(&mut self, node: &str) -> Result<(), RedisError> {
        let key = self.settings.keys.node_rooms(node);
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query_async(&mut self.commands)
            .await?;
        let changes: Vec<_> = rooms
            .iter()
            .filter_map(|room| RoomName::parse(room).ok())
            .map(|room| (room, Change::Sweep(node.to_owned())))
            .collect();
        warn!(
            node,
            rooms = changes.len(),
            "a node stopped beating: its members leave"
        );
        self.present(changes).await;
        redis::cmd("DEL")
            .arg(&key)
            .query_async::<Value>(&mut self.commands)
            .await
            .map(drop)
    }

    /// The node stops: its members leave every room, and it is no longer a node.
    async fn goodbye(&mut self) {
        let changes: Vec<_> = mem::take(&mut self.local)
            .into_iter()
            .flat_map(|(room, users)| {
                users
                    .into_values()
                    .map(move |user| (room.clone(), Change::Member(user, PresenceEvent::Leave)))
            })
            .collect();
        let node = self.settings.node.clone();
        let nodes = self.settings.keys.nodes();
        let key = self.settings.keys.node_rooms(&node);
        let mut conn = self.commands.clone();
        let leave = async {
            self.present(changes).await;
            let _: Result<Value, _> = redis::cmd("ZREM")
                .arg(&nodes)
                .arg(&node)
                .query_async(&mut conn)
                .await;
            let _: Result<Value, _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
        };
        if timeout(PROBE_TIMEOUT, leave).await.is_err() {
            warn!("redis did not answer at shutdown: other nodes will sweep this node's members");
        }
    }

    /// Subscribes every room again (a no-op where the connection kept it) and reads what
    /// each missed since its last seq.
    async fn resync_all(&mut self) {
        let rooms: Vec<RoomName> = self.feeds.keys().cloned().collect();
        for room in &rooms {
            let channel = self.settings.keys.channel(room);
            if let Err(error) = self.pubsub.subscribe(&channel).await {
                self.failed_call(&error);
                return;
            }
        }
        for room in rooms {
            if let Err(error) = self.fill(&room, None).await {
                self.failed_call(&error);
                return;
            }
        }
        self.resync = false;
    }

    /// Fills the holes that are due (all of them when `waited`, else only the urgent ones).
    async fn fill_holes(&mut self, waited: bool) {
        let now = Instant::now();
        let due_before = if waited {
            now - HOLE_WAIT
        } else {
            now - 100 * HOLE_WAIT
        };
        let due: Vec<(RoomName, u64)> = self
            .holes
            .iter()
            .filter_map(|room| Some((room, self.feeds.get(room)?)))
            .filter(|(_, feed)| feed.hole_due(due_before))
            .filter_map(|(room, feed)| Some((room.clone(), feed.hole()?.1)))
            .collect();
        for (room, before) in due {
            if let Err(error) = self.fill(&room, Some(before - 1)).await {
                self.failed_call(&error);
                if let Some(feed) = self.feeds.get_mut(&room) {
                    feed.retry_later();
                }
            }
        }
    }

    /// Reads the room's events after its last seq (up to `upto`, or all) into its feed. What
    /// retention dropped is passed over.
    async fn fill(&mut self, room: &RoomName, upto: Option<u64>) -> Result<(), RedisError> {
        loop {
            let Some(after) = self.feeds.get(room).map(Feed::last) else {
                return Ok(());
            };
            let events = self.reader().range(room, after, upto, FILL_COUNT).await?;
            let read = events.len();
            let Some(feed) = self.feeds.get_mut(room) else {
                return Ok(());
            };
            let mut ready = Vec::new();
            for event in events {
                feed.offer(event, false, &mut ready);
            }
            if feed.last() == after || (read < FILL_COUNT && feed.hole().is_some()) {
                if let Some((from, to)) = feed.hole() {
                    warn!(%room, from, to, "events dropped by retention before this node read them");
                }
                feed.skip_hole(&mut ready);
            }
            let more = read == FILL_COUNT;
            self.deliver(&mut ready);
            self.note_hole(room);
            if !more {
                return Ok(());
            }
        }
    }

    /// When the oldest open hole opened.
    fn next_hole(&self) -> Option<Instant> {
        self.holes
            .iter()
            .filter_map(|room| self.feeds.get(room)?.hole_opened())
            .min()
    }

    /// Keeps [`Self::holes`] true for `room` after its feed took events.
    fn note_hole(&mut self, room: &RoomName) {
        if self
            .feeds
            .get(room)
            .is_some_and(|f| f.hole_opened().is_some())
        {
            if !self.holes.contains(room) {
                self.holes.insert(room.clone());
            }
        } else {
            self.holes.remove(room);
        }
    }

    fn reader(&mut self) -> Reader<'_> {
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
    fn deliver(&self, ready: &mut Vec<Arc<Event>>) {
        for event in ready.drain(..) {
            self.send(Outcome::Stored(event));
        }
    }

    fn send(&self, outcome: Outcome) {
        // The hub is gone only when the node stops.
        let _ = self.out.send(outcome);
    }

    /// A call failed: if Redis is away, `/readyz` says so from now on.
    fn failed_call(&mut self, error: &RedisError) {
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
