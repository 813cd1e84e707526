use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt};

use tokio::sync::mpsc;
use tracing::{error, info};

use super::{Command, ConnId, HubConfig, Peer, room::Room};
use crate::{
    history::{Appended, Commit, History, HistoryError, now_ms},
    metrics::Metrics,
    protocol::{
        ChatMessage, ErrorCode, Frame, Joined, MessageDraft, PresenceEvent, RoomName, ServerFrame,
        User,
    },
};

/// Commands taken from the inbox per wake-up: amortizes the wake-up under load.
const COMMAND_BATCH: usize = 256;

/// All chat state. Owned by the hub task alone; its only I/O is non-blocking: `flush` writes
/// each member's corked frames, or queues what the socket did not take.
pub(super) struct Hub {
    history: Box<dyn History>,
    config: HubConfig,
    rooms: HashMap<RoomName, Room>,
    /// Messages appended to a durable history, oldest first, waiting for their commit, with
    /// the connection that sent each (it alone hears about a failed write).
    awaiting_commit: VecDeque<(ConnId, Arc<ChatMessage>, Instant)>,
    metrics: Metrics,
    /// Rooms with corked frames, in the order they were corked: flushed in slices between
    /// batches of commands (see [`FLUSH_SLICE`]).
    corked_rooms: VecDeque<RoomName>,
    /// Frames corked since the last flush slice: past `CORK_LIMIT` the hub finishes the flush
    /// before it takes another command, so one huge batch cannot hold its first frames back
    /// for long.
    corked_frames: usize,
    /// Rooms whose presence frames are held back, with the time they go out, earliest first.
    presence_due: VecDeque<(Instant, RoomName)>,
}

/// Members written per flush slice; between slices the hub takes in what arrived. 64 writes
/// are 0.2–0.7 ms here: a message that arrives meanwhile joins the flush in progress (see
/// [`Room::flush_some`]) instead of waiting for all of it, and the cost is one more poll of
/// the sockets per 64 writes.
const FLUSH_SLICE: usize = 64;

/// Most frames corked before they are flushed, even in the middle of a batch. It caps how
/// many messages share one write per member (64k frames = 128 messages in a room of 500): at
/// 8k, a 25% CPU cap held the server to 500k deliveries/s with a growing backlog.
const CORK_LIMIT: usize = 64 * 1024;

/// Presence goes out to a room at most once per window: a join or leave after a quiet window
/// goes out at once, later ones wait for the window's end and then share one write per member.
/// Without it every join costs a write to every member, so a room of N filling up (a
/// reconnect storm after a restart) costs N² writes. Anything else sent to the room takes the
/// held presence along first, so frames of one room never change order.
///
/// The window grows with the room so that its presence costs about
/// [`PRESENCE_WRITES_PER_SEC`] writes: 250 ms up to 25 members, 1 s at 100, 2 s from 200 on.
/// At 250 ms, 10,000 clients joining 100 rooms spent a third of the server's CPU on presence.
fn presence_window(members: usize) -> Duration {
    let paced = Duration::from_secs(1).mul_f64(members as f64 / PRESENCE_WRITES_PER_SEC);
    paced.clamp(MIN_PRESENCE_WINDOW, MAX_PRESENCE_WINDOW)
}

const PRESENCE_WRITES_PER_SEC: f64 = 100.0;
const MIN_PRESENCE_WINDOW: Duration = Duration::from_millis(250);
/// The longest a join or leave waits (in a quiet room: any other frame takes it along).
const MAX_PRESENCE_WINDOW: Duration = Duration::from_secs(2);

impl Hub {
    pub(super) fn new(history: Box<dyn History>, config: HubConfig, metrics: Metrics) -> Self {
        Self {
            history,
            config,
            rooms: HashMap::new(),
            awaiting_commit: VecDeque::new(),
            metrics,
            corked_rooms: VecDeque::new(),
            corked_frames: 0,
            presence_due: VecDeque::new(),
        }
    }

    /// Serves commands until every handle is gone, then makes the history durable.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        let mut commits = self.history.take_commits();
        let mut batch = Vec::with_capacity(COMMAND_BATCH);
        let presence_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(presence_timer);
        let mut armed = None;
        loop {
            let due = self.presence_due.front().map(|(at, _)| *at);
            if let Some(at) = due.filter(|at| armed != Some(*at)) {
                presence_timer.as_mut().reset(at.into());
                armed = Some(at);
            }
            let flushing = !self.corked_rooms.is_empty();
            tokio::select! {
                biased;
                // Every other commit reported by now is taken below: they share one flush.
                Some(commit) = next_commit(&mut commits) => self.on_commit(commit),
                () = &mut presence_timer, if due.is_some() => self.release_presence(Instant::now()),
                received = inbox.recv_many(&mut batch, COMMAND_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    for command in batch.drain(..) {
                        self.handle(command);
                        if self.corked_frames > CORK_LIMIT {
                            self.flush_all();
                        }
                    }
                    self.history.end_batch();
                }
                // Nothing arrived: go on with the flush in progress.
                () = std::future::ready(()), if flushing => {}
            }
            while let Some(commit) = commits.as_mut().and_then(|rx| rx.try_recv().ok()) {
                self.on_commit(commit);
            }
            if self.flush_slice() {
                // Lets the readers hand over what arrived during this slice.
                tokio::task::yield_now().await;
            }
        }
        self.flush_all();
        if let Err(e) = self.history.flush() {
            error!(error = %e, "history could not be made durable at shutdown");
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Join { peer, room, since } => self.join(peer, room, since),
            Command::Leave { conn, room, reply } => self.leave(conn, &room, reply),
            Command::Send {
                conn,
                room,
                text,
                client_id,
            } => self.send(conn, room, text, client_id),
            Command::Typing { conn, room, active } => self.typing(conn, &room, active),
            Command::History {
                conn,
                room,
                before,
                limit,
            } => self.history_page(conn, &room, before, limit),
        }
    }

    fn join(&mut self, peer: Arc<Peer>, name: RoomName, since: Option<u64>) {
        let room = match self.rooms.entry(name.clone()) {
            std::collections::hash_map::Entry::Occupied(room) => room.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => match self.history.last_seq(&name) {
                Ok(seq) => {
                    self.metrics.rooms.increment(1.0);
                    slot.insert(Room::new(seq))
                }
                Err(e) => return answer_internal_error(&peer, &e),
            },
        };
        let published = room.published;
        let history = match since {
            Some(after) => self
                .history
                .since(&name, after, published)
                .map(|s| (s.messages, s.complete)),
            None => self
                .history
                .page(&name, published + 1, self.config.on_join)
                .map(|p| (p.messages, true)),
        };
        let (messages, complete) = match history {
            Ok(found) => found,
            Err(e) => {
                answer_internal_error(&peer, &e);
                return self.forget_if_idle(&name);
            }
        };
        let first_connection = room.add(peer.clone());
        let joined = Joined {
            room: &name,
            seq: published,
            members: room.member_list(),
            history: &messages,
            complete,
        }
        .encode();
        self.answer(&name, peer.conn, joined);
        if first_connection {
            self.announce(&name, PresenceEvent::Join, &peer.user);
        }
    }

    fn leave(&mut self, conn: ConnId, name: &RoomName, reply: bool) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let Some((mut member, last_connection)) = room.remove(conn) else {
            return;
        };
        // What the room had for the leaver goes out first, then `left`.
        if reply {
            member.cork.push(ServerFrame::Left { room: name }.encode());
        }
        if !member.peer.send(&mut member.cork) {
            member.peer.evict();
        }
        if last_connection {
            self.announce(name, PresenceEvent::Leave, &member.peer.user);
        }
        self.forget_if_idle(name);
    }

    fn send(&mut self, conn: ConnId, name: RoomName, text: Arc<str>, client_id: Option<Arc<str>>) {
        // A sender missing from the room was evicted since it asked: nothing to answer.
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        let Some(peer) = room.get(conn).cloned() else {
            return;
        };
        if let Some(id) = &client_id {
            match self.history.find_resend(&name, id, now_ms()) {
                // Stored before: the sender alone gets it again. One still waiting for its
                // commit reaches the sender when it is published.
                Ok(Some(stored)) => {
                    if stored.seq <= room.published {
                        self.answer(&name, conn, stored.encode());
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => return self.internal_error(&name, conn, &e),
            }
        }
        let draft = MessageDraft {
            room: name.clone(),
            from: peer.user.clone(),
            text,
            client_id,
        };
        match self.history.append(draft, now_ms()) {
            Ok(Appended::Stored(message)) => self.publish(&message),
            Ok(Appended::Queued(message)) => {
                room.pending += 1;
                self.awaiting_commit
                    .push_back((conn, message, Instant::now()));
            }
            Err(e) => self.internal_error(&name, conn, &e),
        }
    }

    fn typing(&mut self, conn: ConnId, name: &RoomName, active: bool) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let Some(peer) = room.get(conn).cloned() else {
            return;
        };
        let frame = ServerFrame::Typing {
            room: name,
            user: &peer.user,
            active,
        }
        .encode();
        let corked = room.broadcast(frame, Some(&peer.user.id));
        self.corked(name, corked);
    }

    fn history_page(&mut self, conn: ConnId, name: &RoomName, before: Option<u64>, limit: usize) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        if room.get(conn).is_none() {
            return;
        }
        let before = before.unwrap_or(u64::MAX).min(room.published + 1);
        match self.history.page(name, before, limit) {
            Ok(page) => {
                let frame = ServerFrame::History {
                    room: name,
                    messages: &page.messages,
                    has_more: page.has_more,
                }
                .encode();
                self.answer(name, conn, frame);
            }
            Err(e) => self.internal_error(name, conn, &e),
        }
    }

    fn on_commit(&mut self, commit: Commit) {
        match commit {
            Commit::Durable(n) => self.publish_committed(n),
            Commit::Failed { count, error } => self.drop_failed(count, &error),
        }
    }

    /// Delivers `n` more messages of `awaiting_commit`, now durable, in order.
    fn publish_committed(&mut self, n: usize) {
        for _ in 0..n {
            let Some((_, message, appended)) = self.awaiting_commit.pop_front() else {
                error!("history reported more commits than appends");
                return;
            };
            self.metrics
                .history_append_seconds
                .record(appended.elapsed());
            if let Some(room) = self.rooms.get_mut(&message.room) {
                room.pending -= 1;
            }
            self.publish(&message);
        }
    }

    /// Drops `count` more messages of `awaiting_commit` whose write failed: nobody saw them,
    /// and each sender still in the room gets `internal` (its `id` as `ref`) so it can resend.
    fn drop_failed(&mut self, count: usize, e: &HistoryError) {
        error!(count, error = %e, "history write failed; messages not delivered");
        for _ in 0..count {
            let Some((conn, message, _)) = self.awaiting_commit.pop_front() else {
                error!("history reported more failures than appends");
                return;
            };
            let Some(room) = self.rooms.get_mut(&message.room) else {
                continue;
            };
            room.pending -= 1;
            let frame = ServerFrame::Error {
                code: ErrorCode::Internal,
                message: "the message could not be stored; send it again",
                reference: message.client_id.as_deref(),
            }
            .encode();
            self.answer(&message.room, conn, frame);
            self.forget_if_idle(&message.room);
        }
    }

    /// Delivers a stored message to every member of its room, encoded once.
    fn publish(&mut self, message: &ChatMessage) {
        let Some(room) = self.rooms.get_mut(&message.room) else {
            return;
        };
        room.published = message.seq;
        let corked = room.broadcast(message.encode(), None);
        self.metrics.messages.increment(1);
        self.metrics.deliveries.increment(corked as u64);
        self.corked(&message.room, corked);
    }

    /// Notes that `corked` frames wait in `name`'s members' corks.
    fn corked(&mut self, name: &RoomName, corked: usize) {
        if corked == 0 {
            return;
        }
        self.corked_frames += corked;
        if !self.corked_rooms.contains(name) {
            self.corked_rooms.push_back(name.clone());
        }
    }

    /// Tells the room's other members that `user` arrived or left: with this batch after a
    /// quiet window, else held back until the window ends (or the room's next flush).
    fn announce(&mut self, name: &RoomName, event: PresenceEvent, user: &User) {
        // Once the room has corked frames in this batch, presence joins them: a held frame
        // goes out before the corked ones, so it must be older than all of them.
        let corked_now = self.corked_rooms.contains(name);
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let frame = ServerFrame::Presence {
            room: name,
            event,
            user,
        }
        .encode();
        let now = Instant::now();
        let window = presence_window(room.len());
        let window_open = room.presence_sent.is_some_and(|sent| now < sent + window);
        if corked_now || !(window_open || room.is_holding()) {
            room.presence_sent = Some(now);
            let corked = room.broadcast(frame, Some(&user.id));
            return self.corked(name, corked);
        }
        if !room.is_holding() {
            let due = room.presence_sent.map_or(now, |sent| sent + window);
            self.presence_due.push_back((due, name.clone()));
        }
        room.hold(frame, &user.id);
    }

    /// Lets held presence go out to the rooms whose window has ended by `now`.
    fn release_presence(&mut self, now: Instant) {
        while let Some((_, name)) = self.presence_due.front().filter(|(at, _)| *at <= now) {
            let name = name.clone();
            self.presence_due.pop_front();
            // A room flushed meanwhile has nothing held any more.
            if self.rooms.get(&name).is_some_and(Room::is_holding) {
                self.corked(&name, 1);
            }
        }
    }

    /// Writes `frame`, an answer meant for one member alone, now: after what the room holds
    /// for that member, leaving the rest of the room for the end of the batch. Nothing when
    /// the connection is not a member (any more).
    fn answer(&mut self, name: &RoomName, conn: ConnId, frame: Frame) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        if !room.send_to(conn, frame) {
            return;
        }
        let mut failed = Vec::new();
        let (frames, bytes) = room.flush_one(conn, &mut failed);
        self.metrics.frames_out.increment(frames as u64);
        self.metrics.bytes_out.increment(bytes as u64);
        if !failed.is_empty() {
            self.evict(name, failed);
        }
    }

    /// Goes on handing every member of every corked room what was corked for it, one socket
    /// write per member when its socket takes it, for up to [`FLUSH_SLICE`] members; returns
    /// whether some are left. Members that cannot keep up are evicted, which corks presence
    /// frames for the others; those go out in the same flush.
    fn flush_slice(&mut self) -> bool {
        self.corked_frames = 0;
        let mut budget = FLUSH_SLICE;
        let now = Instant::now();
        while budget > 0 {
            let Some(name) = self.corked_rooms.pop_front() else {
                break;
            };
            let Some(room) = self.rooms.get_mut(&name) else {
                continue;
            };
            let mut failed = Vec::new();
            let (frames, bytes, done) = room.flush_some(now, &mut budget, &mut failed);
            self.metrics.frames_out.increment(frames as u64);
            self.metrics.bytes_out.increment(bytes as u64);
            match done {
                Some(took) => self.metrics.fanout_seconds.record(took),
                // Round robin: a big room that keeps getting frames holds no other room back.
                None => self.corked_rooms.push_back(name.clone()),
            }
            if !failed.is_empty() {
                self.evict(&name, failed);
            }
        }
        !self.corked_rooms.is_empty()
    }

    /// Finishes the flush in progress and flushes everything corked, without a break.
    fn flush_all(&mut self) {
        while self.flush_slice() {}
    }

    /// Cuts off connections that could not take their frames, corking the departures for the
    /// others (the flush that is running sends them).
    fn evict(&mut self, name: &RoomName, failed: Vec<ConnId>) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let mut departed = Vec::new();
        for conn in failed {
            let Some((member, last_connection)) = room.remove(conn) else {
                continue;
            };
            info!(conn, room = %name, "slow consumer evicted");
            self.metrics.slow_consumers.increment(1);
            member.peer.evict();
            if last_connection {
                departed.push(member.peer);
            }
        }
        for peer in departed {
            self.announce(name, PresenceEvent::Leave, &peer.user);
        }
        self.forget_if_idle(name);
    }

    /// Answers a storage failure to a member, after what it was already corked in the room.
    fn internal_error(&mut self, name: &RoomName, conn: ConnId, e: &HistoryError) {
        self.answer(name, conn, internal_frame(conn, e));
    }

    fn forget_if_idle(&mut self, name: &RoomName) {
        if self.rooms.get(name).is_some_and(Room::is_idle) {
            self.rooms.remove(name);
            self.metrics.rooms.decrement(1.0);
        }
    }
}

/// The `internal` error frame for a storage failure, which is logged.
fn internal_frame(conn: ConnId, e: &HistoryError) -> Frame {
    error!(conn, error = %e, "history store failed");
    ServerFrame::Error {
        code: ErrorCode::Internal,
        message: "the history store failed; try again",
        reference: None,
    }
    .encode()
}

/// Answers a storage failure to a connection that is not (yet) in the room.
fn answer_internal_error(peer: &Peer, e: &HistoryError) {
    if !peer.send(&mut vec![internal_frame(peer.conn, e)]) {
        peer.evict();
    }
}

/// The next commit count, or never when the history has no commit channel (or it closed).
async fn next_commit(commits: &mut Option<mpsc::UnboundedReceiver<Commit>>) -> Option<Commit> {
    match commits {
        Some(rx) => match rx.recv().await {
            Some(n) => Some(n),
            None => {
                *commits = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod flush_tests {
    use super::*;
    use crate::hub::tests::{Scripted, next, peer_as};
    use crate::protocol::User;

    #[tokio::test]
    async fn a_room_that_keeps_getting_frames_holds_no_other_room_back() {
        let mut hub = Hub::new(
            Box::new(Scripted::default()),
            HubConfig { on_join: 0 },
            Metrics::noop(),
        );
        let (big, small) = (
            RoomName::parse("big").expect("room"),
            RoomName::parse("small").expect("room"),
        );
        let mut outs = Vec::new();
        for conn in 0..=FLUSH_SLICE as u64 {
            let (peer, out) = peer_as(conn, User::new(format!("u_{conn}"), "x")).await;
            hub.rooms
                .entry(big.clone())
                .or_insert_with(|| Room::new(0))
                .add(peer);
            outs.push(out);
        }
        let (bob, mut bob_out) = peer_as(1000, User::new("u_bob", "bob")).await;
        hub.rooms
            .entry(small.clone())
            .or_insert_with(|| Room::new(0))
            .add(bob);
        let cork = |hub: &mut Hub, name: &RoomName, n: u32| {
            let frame = Frame::from_json(format!(r#"{{"n":{n}}}"#));
            let corked = hub
                .rooms
                .get_mut(name)
                .expect("room")
                .broadcast(frame, None);
            hub.corked(name, corked);
        };
        cork(&mut hub, &big, 1);
        cork(&mut hub, &small, 2);
        // A frame for the big room arrives during every slice, so its flush never ends.
        for n in 3..6 {
            assert!(hub.flush_slice());
            cork(&mut hub, &big, n);
        }
        assert_eq!(next(&mut bob_out).await, r#"{"n":2}"#);
    }
}

#[cfg(test)]
mod presence_window_tests {
    use super::*;

    #[test]
    fn presence_window_grows_with_the_room_within_its_bounds() {
        assert_eq!(presence_window(1), MIN_PRESENCE_WINDOW);
        assert_eq!(presence_window(100), Duration::from_secs(1));
        assert_eq!(presence_window(100_000), MAX_PRESENCE_WINDOW);
        let mut last = Duration::ZERO;
        for members in 0..500 {
            let window = presence_window(members);
            assert!(window >= last, "shrinks at {members} members");
            last = window;
        }
    }
}
