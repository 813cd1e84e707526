use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Instant,
};

use tokio::sync::mpsc;
use tracing::{error, info};

use super::{Command, ConnId, HubConfig, Peer, room::Room};
use crate::{
    history::{Appended, Commit, History, HistoryError, now_ms},
    metrics::Metrics,
    protocol::{
        ChatMessage, ErrorCode, Frame, MessageDraft, PresenceEvent, RoomName, ServerFrame, User,
    },
};

/// Commands taken from the inbox per wake-up: amortizes the wake-up under load.
const COMMAND_BATCH: usize = 256;

/// All chat state. Owned by the hub task alone; its methods do no I/O but `try_send`.
pub(super) struct Hub {
    history: Box<dyn History>,
    config: HubConfig,
    rooms: HashMap<RoomName, Room>,
    /// Messages appended to a durable history, oldest first, waiting for their commit, with
    /// the connection that sent each (it alone hears about a failed write).
    awaiting_commit: VecDeque<(ConnId, Arc<ChatMessage>, Instant)>,
    metrics: Metrics,
}

impl Hub {
    pub(super) fn new(history: Box<dyn History>, config: HubConfig, metrics: Metrics) -> Self {
        Self {
            history,
            config,
            rooms: HashMap::new(),
            awaiting_commit: VecDeque::new(),
            metrics,
        }
    }

    /// Serves commands until every handle is gone, then makes the history durable.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        let mut commits = self.history.take_commits();
        let mut batch = Vec::with_capacity(COMMAND_BATCH);
        loop {
            tokio::select! {
                biased;
                Some(commit) = next_commit(&mut commits) => match commit {
                    Commit::Durable(n) => self.publish_committed(n),
                    Commit::Failed { count, error } => self.drop_failed(count, &error),
                },
                received = inbox.recv_many(&mut batch, COMMAND_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    for command in batch.drain(..) {
                        self.handle(command);
                    }
                }
            }
        }
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
                Err(e) => return internal_error(&peer, &e),
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
                internal_error(&peer, &e);
                return self.forget_if_idle(&name);
            }
        };
        let first_connection = room.add(peer.clone());
        let joined = ServerFrame::Joined {
            room: &name,
            seq: published,
            members: &room.users(),
            history: &messages,
            complete,
        }
        .encode();
        let mut failed = Vec::new();
        if !peer.deliver(&joined) {
            failed.push(peer.conn);
        }
        if first_connection {
            announce(room, &name, PresenceEvent::Join, &peer.user, &mut failed);
        }
        self.evict(&name, failed);
    }

    fn leave(&mut self, conn: ConnId, name: &RoomName, reply: bool) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let Some((peer, last_connection)) = room.remove(conn) else {
            return;
        };
        let mut failed = Vec::new();
        if last_connection {
            announce(room, name, PresenceEvent::Leave, &peer.user, &mut failed);
        }
        if reply && !peer.deliver(&ServerFrame::Left { room: name }.encode()) {
            peer.evict();
        }
        self.evict(name, failed);
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
                    if stored.seq <= room.published && !peer.deliver(&stored.encode()) {
                        peer.evict();
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => return internal_error(&peer, &e),
            }
        }
        let draft = MessageDraft {
            room: name,
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
            Err(e) => internal_error(&peer, &e),
        }
    }

    fn typing(&mut self, conn: ConnId, name: &RoomName, active: bool) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let Some(peer) = room.get(conn) else {
            return;
        };
        let frame = ServerFrame::Typing {
            room: name,
            user: &peer.user,
            active,
        }
        .encode();
        let mut failed = Vec::new();
        room.broadcast(&frame, Some(&peer.user.id), &mut failed);
        self.evict(name, failed);
    }

    fn history_page(&mut self, conn: ConnId, name: &RoomName, before: Option<u64>, limit: usize) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let Some(peer) = room.get(conn).cloned() else {
            return;
        };
        let before = before.unwrap_or(u64::MAX).min(room.published + 1);
        match self.history.page(name, before, limit) {
            Ok(page) => {
                let frame = ServerFrame::History {
                    room: name,
                    messages: &page.messages,
                    has_more: page.has_more,
                }
                .encode();
                if !peer.deliver(&frame) {
                    self.evict(name, vec![conn]);
                }
            }
            Err(e) => internal_error(&peer, &e),
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
            if let Some(peer) = room.get(conn).cloned() {
                let frame = ServerFrame::Error {
                    code: ErrorCode::Internal,
                    message: "the message could not be stored; send it again",
                    reference: message.client_id.as_deref(),
                }
                .encode();
                if !peer.deliver(&frame) {
                    self.evict(&message.room, vec![conn]);
                }
            }
            self.forget_if_idle(&message.room);
        }
    }

    /// Delivers a stored message to every member of its room, encoded once.
    fn publish(&mut self, message: &ChatMessage) {
        let Some(room) = self.rooms.get_mut(&message.room) else {
            return;
        };
        let started = Instant::now();
        room.published = message.seq;
        let mut failed = Vec::new();
        room.broadcast(&message.encode(), None, &mut failed);
        self.metrics.messages.increment(1);
        self.metrics
            .deliveries
            .increment(room.len().saturating_sub(failed.len()) as u64);
        self.metrics.fanout_seconds.record(started.elapsed());
        self.evict(&message.room, failed);
    }

    /// Cuts off connections that could not take a frame, announcing departures, which may in
    /// turn overflow others.
    fn evict(&mut self, name: &RoomName, mut failed: Vec<ConnId>) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        while let Some(conn) = failed.pop() {
            let Some((peer, last_connection)) = room.remove(conn) else {
                continue;
            };
            info!(conn, room = %name, "slow consumer evicted");
            self.metrics.slow_consumers.increment(1);
            peer.evict();
            if last_connection {
                announce(room, name, PresenceEvent::Leave, &peer.user, &mut failed);
            }
        }
        self.forget_if_idle(name);
    }

    fn forget_if_idle(&mut self, name: &RoomName) {
        if self.rooms.get(name).is_some_and(Room::is_idle) {
            self.rooms.remove(name);
            self.metrics.rooms.decrement(1.0);
        }
    }
}

/// Tells the room's other members that `user` arrived or left (never the user itself).
fn announce(
    room: &Room,
    name: &RoomName,
    event: PresenceEvent,
    user: &User,
    failed: &mut Vec<ConnId>,
) {
    let frame = ServerFrame::Presence {
        room: name,
        event,
        user,
    }
    .encode();
    room.broadcast(&frame, Some(&user.id), failed);
}

/// Answers a storage failure with `internal` and logs it.
fn internal_error(peer: &Peer, e: &HistoryError) {
    error!(conn = peer.conn, error = %e, "history store failed");
    let frame: Frame = ServerFrame::Error {
        code: ErrorCode::Internal,
        message: "the history store failed; try again",
        reference: None,
    }
    .encode();
    if !peer.deliver(&frame) {
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
