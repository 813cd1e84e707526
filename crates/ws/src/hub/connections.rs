//! Every attached connection as the hub keeps it: who it is, which rooms it is in or joining,
//! and its outbox, with the waits that go with outboxes (a socket to become writable, a
//! closing connection to be cut off).

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt};
use futures_util::{StreamExt, stream::FuturesUnordered};
use smallvec::SmallVec;

use crate::{
    conn::{ConnId, Delivery, Outbox, QueueLimits, Writable},
    protocol::{Frame, RoomName, User},
};

/// Where a connection sits in [`Connections`]: members hold it, so a fan-out reaches the
/// outbox without a lookup.
pub(super) type Slot = u32;

/// How long a closing connection has to get its close frame out and hear the client's
/// answer before it is cut off.
const CLOSE_GRACE: Duration = Duration::from_secs(4);

/// One attached connection.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) user: User,
    /// Rooms it is a member of (`true`) or waiting to join (`false`, until its catchup).
    /// Most connections are in one room: kept inline, that costs no allocation.
    pub(super) rooms: SmallVec<[(RoomName, bool); 1]>,
    outbox: Outbox,
    /// A wait for the socket to take more is under way.
    waiting: bool,
}

impl Connection {
    /// Whether it is a member of `room`, or joining it.
    pub(super) fn is_in(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|(name, _)| name == room)
    }

    /// Whether it is a member of `room` (its catchup has come).
    pub(super) fn is_member(&self, room: &RoomName) -> bool {
        self.rooms
            .iter()
            .any(|(name, joined)| *joined && name == room)
    }

    /// Forgets `room`; whether it was a member (not only joining).
    pub(super) fn forget(&mut self, room: &RoomName) -> Option<bool> {
        let at = self.rooms.iter().position(|(name, _)| name == room)?;
        Some(self.rooms.swap_remove(at).1)
    }
}

/// A slot: free, or a connection with its id.
type Slotted = Option<(ConnId, Connection)>;

/// Slots per chunk of [`Slots`] (a power of two: a slot's chunk and place are a shift and a
/// mask).
const CHUNK: usize = 128;

/// Where connections sit, in chunks of [`CHUNK`] slots: growing adds a chunk, where one
/// vector would copy every connection and hold up to twice the room they need.
#[derive(Default)]
struct Slots {
    /// Fixed-size chunks: a place within one needs no bounds check on the fan-out's path.
    chunks: Vec<Box<[Slotted; CHUNK]>>,
    /// Slots handed out so far (the next new one is this).
    used: usize,
}

impl Slots {
    fn get(&self, slot: Slot) -> Option<&(ConnId, Connection)> {
        let slot = slot as usize;
        self.chunks.get(slot / CHUNK)?[slot % CHUNK].as_ref()
    }

    fn get_mut(&mut self, slot: Slot) -> Option<&mut (ConnId, Connection)> {
        let slot = slot as usize;
        self.chunks.get_mut(slot / CHUNK)?[slot % CHUNK].as_mut()
    }

    fn put(
        &mut self,
        slot: Slot,
        entry: Option<(ConnId, Connection)>,
    ) -> Option<(ConnId, Connection)> {
        let slot = slot as usize;
        std::mem::replace(&mut self.chunks[slot / CHUNK][slot % CHUNK], entry)
    }

    /// A slot never used before.
    fn fresh(&mut self) -> Slot {
        if self.used == self.chunks.len() * CHUNK {
            self.chunks.push(Box::new(std::array::from_fn(|_| None)));
        }
        self.used += 1;
        // Four billion connections at once is beyond any process.
        (self.used - 1) as Slot
    }
}

/// The attached connections.
pub(super) struct Connections {
    slots: Slots,
    free: Vec<Slot>,
    by_id: HashMap<ConnId, Slot>,
    limits: QueueLimits,
    /// Outboxes waiting for their socket to take more.
    writable: FuturesUnordered<Writable>,
    /// Closing connections, with when each is cut off, earliest first.
    closing: VecDeque<(Instant, ConnId)>,
}

impl Connections {
    pub(super) fn new(limits: QueueLimits) -> Self {
        Self {
            slots: Slots::default(),
            free: Vec::new(),
            by_id: HashMap::new(),
            limits,
            writable: FuturesUnordered::new(),
            closing: VecDeque::new(),
        }
    }

    /// Takes in a new connection.
    pub(super) fn attach(&mut self, conn: ConnId, user: User, outbox: Outbox) {
        let connection = Connection {
            user,
            rooms: SmallVec::new(),
            outbox,
            waiting: false,
        };
        let slot = self.free.pop().unwrap_or_else(|| self.slots.fresh());
        let waits = connection.outbox.has_backlog();
        self.slots.put(slot, Some((conn, connection)));
        self.by_id.insert(conn, slot);
        if waits {
            // A welcome the socket did not take all of at once.
            self.track(conn, slot, Delivery::Waiting);
        }
    }

    /// Forgets a connection; its outbox (and what waits in it) goes with it.
    pub(super) fn detach(&mut self, conn: ConnId) -> Option<Connection> {
        let slot = self.by_id.remove(&conn)?;
        let (_, connection) = self.slots.put(slot, None)?;
        self.free.push(slot);
        Some(connection)
    }

    pub(super) fn slot(&self, conn: ConnId) -> Option<Slot> {
        self.by_id.get(&conn).copied()
    }

    pub(super) fn get(&self, conn: ConnId) -> Option<&Connection> {
        self.at(self.slot(conn)?)
    }

    pub(super) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Connection> {
        self.entry(conn).map(|(_, c)| c)
    }

    /// The connection and its slot.
    pub(super) fn entry(&mut self, conn: ConnId) -> Option<(Slot, &mut Connection)> {
        let slot = self.slot(conn)?;
        self.slots.get_mut(slot).map(|(_, c)| (slot, c))
    }

    fn at(&self, slot: Slot) -> Option<&Connection> {
        self.slots.get(slot).map(|(_, c)| c)
    }

    /// The user of the connection at `slot`.
    pub(super) fn user(&self, slot: Slot) -> Option<&User> {
        self.at(slot).map(|c| &c.user)
    }

    /// The connections of the user with id `user` (for the server API: a linear walk).
    pub(super) fn of_user(&self, user: &str) -> Vec<ConnId> {
        self.by_id
            .iter()
            .filter(|(_, slot)| self.user(**slot).is_some_and(|u| &*u.id == user))
            .map(|(conn, _)| *conn)
            .collect()
    }

    /// Hands the connection at `slot` its frames (emptying the vector). False when it cannot
    /// take them: it must be evicted.
    pub(super) fn deliver(&mut self, slot: Slot, frames: &mut Vec<Frame>) -> bool {
        let Some((conn, connection)) = self.slots.get_mut(slot) else {
            frames.clear();
            return true;
        };
        let delivery = connection.outbox.send(frames, self.limits);
        let conn = *conn;
        self.track(conn, slot, delivery)
    }

    /// Sends a close frame after what waits, and cuts the connection off if the client has
    /// not ended it within [`CLOSE_GRACE`].
    pub(super) fn close(&mut self, conn: ConnId, frame: Frame) {
        self.closing_with(conn, |outbox| outbox.close(frame));
    }

    /// Cuts off a client that cannot keep up (4008).
    pub(super) fn evict(&mut self, conn: ConnId) {
        self.closing_with(conn, Outbox::evict);
    }

    fn closing_with(&mut self, conn: ConnId, close: impl FnOnce(&mut Outbox) -> Delivery) {
        let Some((slot, connection)) = self.entry(conn) else {
            return;
        };
        if connection.outbox.is_closing() {
            return;
        }
        let delivery = close(&mut connection.outbox);
        self.closing.push_back((Instant::now() + CLOSE_GRACE, conn));
        self.track(conn, slot, delivery);
    }

    /// Starts a wait for the socket when frames wait for it. True unless refused.
    fn track(&mut self, conn: ConnId, slot: Slot, delivery: Delivery) -> bool {
        match delivery {
            Delivery::Sent => true,
            Delivery::Refused => false,
            Delivery::Waiting => {
                let Some((_, connection)) = self.slots.get_mut(slot) else {
                    return true;
                };
                if !connection.waiting
                    && let Some(writable) = connection.outbox.writable(conn)
                {
                    connection.waiting = true;
                    self.writable.push(writable);
                }
                true
            }
        }
    }

    /// Whether some outbox waits for its socket.
    pub(super) fn any_waiting(&self) -> bool {
        !self.writable.is_empty()
    }

    /// The next connection whose socket can take more. Cancel-safe; pending forever when
    /// none waits.
    pub(super) async fn next_writable(&mut self) -> ConnId {
        match self.writable.next().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    /// The socket can take more: writes what waits there (accepted already: never refused).
    pub(super) fn resume(&mut self, conn: ConnId) {
        let Some((slot, connection)) = self.entry(conn) else {
            return;
        };
        connection.waiting = false;
        let delivery = connection.outbox.resume();
        self.track(conn, slot, delivery);
    }

    /// Whether a close frame is on its way to the connection.
    pub(super) fn is_closing(&self, conn: ConnId) -> bool {
        self.get(conn).is_some_and(|c| c.outbox.is_closing())
    }

    /// When the next closing connection is cut off.
    pub(super) fn next_cut(&self) -> Option<Instant> {
        self.closing.front().map(|(at, _)| *at)
    }

    /// Cuts off the closing connections whose grace ended by `now`: their readers see the end
    /// of their streams and detach them.
    pub(super) fn cut_due(&mut self, now: Instant) {
        while let Some(&(at, conn)) = self.closing.front() {
            if at > now {
                break;
            }
            self.closing.pop_front();
            if let Some(connection) = self.get(conn) {
                connection.outbox.cut();
            }
        }
    }
}
