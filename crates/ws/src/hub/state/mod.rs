//! The hub's state and its one loop: commands from connections and outcomes from the broker
//! in, frames out. The handlers are one state machine over `Connections` and `Rooms`, which
//! own the data: a connection's requests in `requests.rs`, the broker's outcomes in
//! `outcomes.rs`, and here the loop and what both share (answers, leaving, eviction, flushing).

mod outcomes;
mod requests;

use std::{
    future::poll_fn,
    sync::Arc,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt};
use tokio::sync::mpsc;
use tracing::{error, info};

use super::{
    Command, HubConfig,
    api::{Api, Parts},
    connections::Connections,
    member::Member,
    rooms::Rooms,
};
use crate::{
    broker::{Broker, Job, Outcomes},
    conn::ConnId,
    files::FileSharing,
    metrics::Metrics,
    protocol::{ErrorCode, Frame, PresenceEvent, RoomName, ServerFrame, User},
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
    /// Told of the files of each deleted message.
    files: Option<Arc<dyn FileSharing>>,
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
            files: config.files,
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

    fn submit(&mut self, job: Job) {
        self.broker.submit(job, &mut self.outcomes);
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
