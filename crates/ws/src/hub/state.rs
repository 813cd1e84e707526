//! The hub's state and its one loop: commands from connections and outcomes from the broker
//! in, frames out. One file, a little over 400 lines: the loop and the handlers are one state
//! machine, each handler a few lines over `Connections` and `Rooms`, which own the data.

use std::{
    future::poll_fn,
    sync::Arc,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt};
use tokio::sync::mpsc;
use tracing::{debug, error, info};

use super::{
    Command, HubConfig,
    api::{Api, Parts},
    connections::Connections,
    member::Member,
    rooms::Rooms,
};
use crate::{
    broker::{Broker, Failed, Job, Outcome, Outcomes},
    conn::ConnId,
    history::HistoryError,
    log::{Draft, Event, EventKind},
    metrics::Metrics,
    protocol::{
        ErrorCode, Frame, MAX_ANSWER_BYTES, PresenceEvent, Request, RoomName, SendFiles,
        ServerFrame, User, keep_latest_within,
    },
};

/// Commands taken from the inbox per wake-up: amortizes the wake-up under load.
const COMMAND_BATCH: usize = 256;

/// All chat state. Owned by the hub task alone; its only I/O is non-blocking writes.
pub(super) struct Hub {
    broker: Box<dyn Broker>,
    /// The broker's outcomes not yet taken.
    outcomes: Outcomes,
    conns: Connections,
    rooms: Rooms,
    max_rooms: usize,
    metrics: Metrics,
    /// Connections found unable to keep up, to evict once the write at hand is done.
    failed: Vec<ConnId>,
    /// Joins waiting for their catchup, per room: a room is forgotten only once none is.
    joining: HashMap<RoomName, u32>,
    /// Server API requests waiting for storage.
    api: Api,
}

impl Hub {
    pub(super) fn new(broker: Box<dyn Broker>, config: HubConfig, metrics: Metrics) -> Self {
        let announce_own = !broker.decides_presence();
        Self {
            broker,
            outcomes: Outcomes::new(),
            conns: Connections::new(config.queue),
            rooms: Rooms::new(metrics.clone(), announce_own),
            max_rooms: config.max_rooms,
            metrics,
            failed: Vec::new(),
            joining: HashMap::new(),
            api: Api::new(),
        }
    }

    /// Serves commands until every handle is gone, then makes what the broker holds durable.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(COMMAND_BATCH);
        let presence_timer = tokio::time::sleep(Duration::ZERO);
        let cut_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(presence_timer, cut_timer);
        let (mut presence_armed, mut cut_armed) = (None, None);
        loop {
            let presence_due = self.rooms.next_presence();
            rearm(presence_timer.as_mut(), presence_due, &mut presence_armed);
            let cut_due = self.conns.next_cut();
            rearm(cut_timer.as_mut(), cut_due, &mut cut_armed);
            let flushing = self.rooms.is_flushing();
            let waiting = self.conns.any_waiting();
            tokio::select! {
                biased;
                () = poll_fn(|cx| self.broker.poll_outcomes(cx, &mut self.outcomes)) => {}
                conn = self.conns.next_writable(), if waiting => self.conns.resume(conn),
                () = &mut presence_timer, if presence_due.is_some() => {
                    self.rooms.release_presence(Instant::now());
                }
                () = &mut cut_timer, if cut_due.is_some() => self.conns.cut_due(Instant::now()),
                received = inbox.recv_many(&mut batch, COMMAND_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    for command in batch.drain(..) {
                        self.handle(command);
                        self.take_outcomes();
                        if self.rooms.is_full() {
                            self.flush_all();
                        }
                    }
                    self.broker.end_batch(&mut self.outcomes);
                }
                // Nothing arrived: go on with the flush in progress.
                () = std::future::ready(()), if flushing => {}
            }
            self.take_outcomes();
            if self.flush_slice() {
                // Lets the readers hand over what arrived during this slice.
                tokio::task::yield_now().await;
            }
        }
        if let Err(e) = self.broker.flush(&mut self.outcomes) {
            error!(error = %e, "history could not be made durable at shutdown");
        }
        self.take_outcomes();
        self.flush_all();
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Attach { conn, user, outbox } => self.conns.attach(conn, user, *outbox),
            Command::Request {
                conn,
                request,
                reference,
            } => self.request(conn, request, reference),
            Command::Write { conn, frame } => self.deliver(conn, vec![frame]),
            Command::Close { conn, frame } => self.conns.close(conn, frame),
            Command::Detach { conn } => self.detach(conn),
            Command::Api { request, reply } => {
                let parts = Parts {
                    broker: &mut *self.broker,
                    outcomes: &mut self.outcomes,
                    rooms: &mut self.rooms,
                    conns: &mut self.conns,
                };
                self.api.request(request, reply, parts);
            }
        }
    }

    fn request(&mut self, conn: ConnId, request: Request, reference: Option<Arc<str>>) {
        // A connection being closed (evicted, timed out) asks for nothing more.
        if self.conns.is_closing(conn) {
            return;
        }
        let Some(connection) = self.conns.get_mut(conn) else {
            return;
        };
        match request {
            Request::Join { room, since } => {
                if !connection.is_in(&room) {
                    if connection.rooms.len() >= self.max_rooms {
                        let message =
                            format!("a connection may be in at most {} rooms", self.max_rooms);
                        return self.refuse(conn, ErrorCode::TooManyRooms, &message, reference);
                    }
                    connection.rooms.push((room.clone(), false));
                }
                *self.joining.entry(room.clone()).or_default() += 1;
                self.submit(Job::Catchup {
                    origin: conn,
                    room,
                    since,
                    reference,
                });
            }
            Request::Leave { room } => {
                let user = connection.user.clone();
                let was_member = connection.forget(&room) == Some(true);
                // Leaving a room one is not in (or only joining) already holds: say so.
                let mut rest = match self.leave_room(&room, conn, &user).filter(|_| was_member) {
                    Some(member) => member.cork,
                    None => Vec::new(),
                };
                rest.push(ServerFrame::Left { room: &room }.encode());
                self.deliver(conn, rest);
            }
            Request::Send {
                room,
                text,
                id,
                files,
            } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                let mut draft = Draft::message(room, connection.user.clone(), text, id);
                // The reader resolved the files before handing the send over.
                if let Some(SendFiles::Attached(files)) = files {
                    draft = draft.with_files(files);
                }
                self.submit(Job::Append {
                    origin: conn,
                    draft,
                });
            }
            Request::Edit {
                room,
                target,
                text,
                id,
            } => {
                let kind = EventKind::Edit {
                    target,
                    text: Some(text),
                };
                self.change(conn, (room, kind, id), reference);
            }
            Request::Delete { room, target, id } => {
                self.change(conn, (room, EventKind::Delete { target }, id), reference);
            }
            Request::React {
                room,
                target,
                emoji,
                active,
                id,
            } => {
                let kind = EventKind::React {
                    target,
                    emoji,
                    active,
                };
                self.change(conn, (room, kind, id), reference);
            }
            Request::Typing { room, active } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                let user = connection.user.clone();
                self.tell_typing(&room, &user, active);
                self.submit(Job::Typing { room, user, active });
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                self.submit(Job::Page {
                    origin: conn,
                    room,
                    before,
                    limit,
                    reference,
                });
            }
        }
    }

    /// A change to a message: a member's, stored like a send; the store checks its target.
    fn change(
        &mut self,
        conn: ConnId,
        (room, kind, id): (RoomName, EventKind, Option<Arc<str>>),
        reference: Option<Arc<str>>,
    ) {
        let Some(connection) = self.conns.get_mut(conn) else {
            return;
        };
        if !connection.is_in(&room) {
            return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
        }
        let draft = Draft::new(room, connection.user.clone(), id, kind);
        self.submit(Job::Append {
            origin: conn,
            draft,
        });
    }

    /// Tells the room's other members that `user` is typing (or stopped).
    fn tell_typing(&mut self, room: &RoomName, user: &User, active: bool) {
        let frame = ServerFrame::Typing { room, user, active }.encode();
        self.rooms.broadcast_about(room, frame, user);
    }

    fn submit(&mut self, job: Job) {
        self.broker.submit(job, &mut self.outcomes);
    }

    /// Acts on every outcome the broker has given so far, in order.
    fn take_outcomes(&mut self) {
        while let Some(outcome) = self.outcomes.pop_front() {
            self.on_outcome(outcome);
        }
        self.evict_failed();
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        // Without API requests waiting (nearly always), outcomes go straight to the rooms.
        let outcome = match self.api.is_waiting() {
            false => outcome,
            true => match self.api.outcome(outcome) {
                Some(outcome) => outcome,
                None => return,
            },
        };
        match outcome {
            Outcome::Stored(event) => {
                if self.api.is_waiting() {
                    self.api.stored(&event);
                }
                self.rooms.publish(&event);
            }
            Outcome::Resent { origin, event }
            | Outcome::Unchanged {
                origin,
                target: event,
            } => {
                let room = event.room.clone();
                self.answer(&room, origin, event.encode());
            }
            Outcome::Refused {
                origin,
                room,
                refusal,
                reference,
            } => {
                self.metrics.error(refusal.code()).increment(1);
                let frame = error_frame(refusal.code(), refusal.message(), reference.as_deref());
                self.answer_in(&room, origin, frame);
            }
            Outcome::Catchup {
                origin,
                room,
                seq,
                mut messages,
                complete,
                members,
            } => {
                let cut = keep_latest_within(&mut messages, MAX_ANSWER_BYTES);
                let answer = (seq, &messages[..], complete && !cut, &members[..]);
                self.joined(origin, &room, answer);
                self.caught_up(&room);
            }
            // Other nodes' users, and this node's when the broker decides presence.
            Outcome::Presence { room, user, event } => self.rooms.announce(&room, event, &user),
            Outcome::Typing { room, user, active } => self.tell_typing(&room, &user, active),
            Outcome::Page {
                origin,
                room,
                mut messages,
                has_more,
            } => {
                let has_more = keep_latest_within(&mut messages, MAX_ANSWER_BYTES) || has_more;
                let frame = ServerFrame::History {
                    room: &room,
                    messages: crate::protocol::EventsWire(&messages),
                    has_more,
                }
                .encode();
                self.rooms
                    .answer(&room, origin, frame, &mut self.conns, &mut self.failed);
            }
            Outcome::Failed {
                origin,
                room,
                job,
                reference,
                error,
            } => {
                self.failed(origin, &room, job, reference, &error);
                if job == Failed::Join {
                    self.caught_up(&room);
                }
            }
        }
    }

    /// The joiner's catchup has come: it becomes a member, unless it left meanwhile.
    fn joined(
        &mut self,
        conn: ConnId,
        name: &RoomName,
        answer: (u64, &[Arc<Event>], bool, &[User]),
    ) {
        let Some((slot, connection)) = self.conns.entry(conn) else {
            return;
        };
        let Some(entry) = connection.rooms.iter_mut().find(|(room, _)| room == name) else {
            return;
        };
        entry.1 = true;
        let user = connection.user.clone();
        let first = self.rooms.join(
            name,
            (conn, slot, &user),
            answer,
            &mut self.conns,
            &mut self.failed,
        );
        if first {
            self.share_presence(name, user, PresenceEvent::Join);
        }
    }

    /// A join's catchup came back (taken or failed): once no join of the room is in flight
    /// and nobody is in it here, the broker forgets it. A room is never forgotten while a
    /// join waits for it: a broker that set the room up for the joiner keeps it.
    fn caught_up(&mut self, room: &RoomName) {
        if let Some(waiting) = self.joining.get_mut(room) {
            *waiting -= 1;
            if *waiting == 0 {
                self.joining.remove(room);
                if !self.rooms.contains(room) {
                    self.broker.forget(room);
                }
            }
        }
    }

    /// Tells the broker (other nodes) that a user arrived here or left.
    fn share_presence(&mut self, room: &RoomName, user: User, event: PresenceEvent) {
        let room = room.clone();
        self.submit(Job::Presence { room, user, event });
    }

    /// A job failed: the asker gets `internal`, after what its room had for it.
    fn failed(
        &mut self,
        conn: ConnId,
        room: &RoomName,
        job: Failed,
        reference: Option<Arc<str>>,
        e: &HistoryError,
    ) {
        // The broker logs the failure itself, once (a commit, an outage), not per request.
        debug!(conn, %room, error = %e, "history store failed");
        let message = match job {
            Failed::Store => "the message could not be stored; send it again",
            Failed::Join | Failed::Read => "the history store failed; try again",
        };
        let reference = reference.as_deref();
        if job == Failed::Join
            && let Some(connection) = self.conns.get_mut(conn)
            && !connection.is_member(room)
        {
            connection.forget(room);
        }
        self.metrics.error(ErrorCode::Internal).increment(1);
        let frame = error_frame(ErrorCode::Internal, message, reference);
        self.answer_in(room, conn, frame);
    }

    /// Answers `conn` in its place among the room's frames when it is a member there, else
    /// straight (it left the room meanwhile).
    fn answer_in(&mut self, room: &RoomName, conn: ConnId, frame: Frame) {
        if !self.rooms.has_member(room, conn) {
            return self.deliver(conn, vec![frame]);
        }
        self.answer(room, conn, frame);
    }

    /// Answers a refused request with an `error` frame.
    fn refuse(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: &str,
        reference: Option<Arc<str>>,
    ) {
        self.metrics.error(code).increment(1);
        let frame = error_frame(code, message, reference.as_deref());
        self.deliver(conn, vec![frame]);
    }

    /// Writes an answer to a member of `room` in its place among the room's frames.
    fn answer(&mut self, room: &RoomName, conn: ConnId, frame: Frame) {
        self.rooms
            .answer(room, conn, frame, &mut self.conns, &mut self.failed);
        self.evict_failed();
    }

    /// Hands frames straight to the connection, outside any room.
    fn deliver(&mut self, conn: ConnId, mut frames: Vec<Frame>) {
        let Some(slot) = self.conns.slot(conn) else {
            return;
        };
        self.metrics.frames_out.increment(frames.len() as u64);
        if !self.conns.deliver(slot, &mut frames) {
            self.failed.push(conn);
        }
        self.evict_failed();
    }

    /// The connection is gone: out of every room, then forgotten.
    fn detach(&mut self, conn: ConnId) {
        self.leave_every_room(conn);
        self.conns.detach(conn);
    }

    fn leave_every_room(&mut self, conn: ConnId) {
        let Some(connection) = self.conns.get_mut(conn) else {
            return;
        };
        let rooms = std::mem::take(&mut connection.rooms);
        let user = connection.user.clone();
        for (room, member) in rooms {
            if member {
                self.leave_room(&room, conn, &user);
            }
        }
    }

    /// Takes a member out of a room; a room left empty is forgotten by the broker too.
    fn leave_room(&mut self, room: &RoomName, conn: ConnId, user: &User) -> Option<Member> {
        let (member, forgotten, last) = self.rooms.leave(room, conn, user)?;
        if last {
            self.share_presence(room, user.clone(), PresenceEvent::Leave);
        }
        if forgotten && !self.joining.contains_key(room) {
            self.broker.forget(room);
        }
        Some(member)
    }

    /// Cuts off the connections that could not take their frames: out of every room (the
    /// others get `presence` `leave`), and closed with 4008.
    fn evict_failed(&mut self) {
        while let Some(conn) = self.failed.pop() {
            // Gone, or evicted already (a closing outbox refuses nothing).
            if self.conns.get(conn).is_none() || self.conns.is_closing(conn) {
                continue;
            }
            info!(conn, "slow consumer evicted");
            self.metrics.slow_consumers.increment(1);
            self.conns.evict(conn);
            self.leave_every_room(conn);
        }
    }

    /// Goes on with the flush in progress for one slice; whether some is left.
    fn flush_slice(&mut self) -> bool {
        let more = self.rooms.flush_slice(&mut self.conns, &mut self.failed);
        self.evict_failed();
        more || self.rooms.is_flushing()
    }

    /// Finishes the flush in progress and flushes everything corked, without a break.
    fn flush_all(&mut self) {
        while self.flush_slice() {}
    }
}

/// Points `timer` at `due` when that changed.
fn rearm(
    timer: std::pin::Pin<&mut tokio::time::Sleep>,
    due: Option<Instant>,
    armed: &mut Option<Instant>,
) {
    if let Some(at) = due.filter(|at| *armed != Some(*at)) {
        timer.reset(at.into());
        *armed = Some(at);
    }
}

fn error_frame(code: ErrorCode, message: &str, reference: Option<&str>) -> Frame {
    ServerFrame::Error {
        code,
        message,
        reference,
    }
    .encode()
}

fn not_joined(room: &RoomName) -> String {
    format!("join room {room} first")
}
