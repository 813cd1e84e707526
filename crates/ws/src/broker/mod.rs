//! The seam between the hub and storage: the hub hands the broker [`Job`]s and takes back
//! [`Outcome`]s, each tagged with what it answers (the asking connection, the room, the stored
//! event), so nothing is matched by position and the hub never waits for storage.
//!
//! A message's path is the same whatever is behind the seam: hub → broker ([`Job::Append`]) →
//! stored event ([`Outcome::Stored`]) → fan-out by the hub. [`LocalBroker`] serves one process
//! over a [`crate::history::History`] (SQLite or memory) in the hub's own thread: most outcomes
//! are ready when `submit` returns, and a durable store's commits at the end of the hub's
//! batch. A broker over a network store (Redis, for several nodes) answers later, through
//! [`Broker::poll_outcomes`].
//!
//! # What a broker promises
//! - Outcomes come out in one order, and every [`Outcome::Catchup`] reflects exactly the
//!   [`Outcome::Stored`] events of its room that came out before it: its `seq` is the room's
//!   latest such event. The hub makes a joiner a member when it takes the catchup, so the
//!   joiner gets every later event live and none twice.
//! - An event comes out as `Stored` only once it is kept for good (durable stores: committed),
//!   a room's events in seq order.
//! - Every job gets exactly one outcome, except an append whose resend id names an event not
//!   yet stored (its sender gets that event when it is stored), jobs taken after a failure
//!   the hub was already told about, and [`Job::Presence`] and [`Job::Typing`], which only
//!   tell other nodes (a one-node broker drops them).
//! - A stored delete's files (its message's) come out once, as [`Outcome::Released`] right
//!   before the delete's `Stored`, from the broker that stored it: with several nodes, the
//!   other nodes' copies of the delete do not name them, so one node removes the files.
//! - [`Outcome::Typing`] comes only from other nodes: this node's own members were told by
//!   the hub already. [`Outcome::Presence`] comes from other nodes, and, from a broker that
//!   [decides presence](Broker::decides_presence), for this node's users too: a user with
//!   connections on several nodes is one member, so only the broker knows whether a
//!   connection here is the user's first (or last) anywhere.

mod local;

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

use crate::{
    history::HistoryError,
    log::{Draft, Event, Files, Refusal},
    protocol::{PresenceEvent, RoomName, User},
};

pub use local::LocalBroker;

/// The connection a job is for, and whose outcome answers it.
pub type Origin = u64;

/// A request from the hub to storage.
#[derive(Debug)]
pub enum Job {
    /// Sequence and store an event (after the resend rule: a `client_id` stored recently
    /// is answered with [`Outcome::Resent`] instead). A change is checked against its target
    /// in the same atomic step ([`crate::log::apply`]): [`Outcome::Refused`] or
    /// [`Outcome::Unchanged`] when it stores nothing.
    Append { origin: Origin, draft: Draft },
    /// What a joiner gets in `joined`: the events after `since` (the latest
    /// [`MAX_ANSWER_EVENTS`] of them), or the last `on_join` ones.
    Catchup {
        origin: Origin,
        room: RoomName,
        since: Option<u64>,
        /// The asking frame's `id`, for a failure's `ref`.
        reference: Option<Arc<str>>,
    },
    /// One page of older events.
    Page {
        origin: Origin,
        room: RoomName,
        before: Option<u64>,
        limit: usize,
        /// The asking frame's `id`, for a failure's `ref`.
        reference: Option<Arc<str>>,
    },
    /// A user's first connection on this node joined the room, or its last one left: other
    /// nodes' members are told, and their `joined` lists it. A broker that decides presence
    /// tells this node's members too, once the user's first connection on any node joined
    /// or its last anywhere left.
    Presence {
        room: RoomName,
        user: User,
        event: PresenceEvent,
    },
    /// A member is typing (or stopped): other nodes' members are told. Never stored.
    Typing {
        room: RoomName,
        user: User,
        active: bool,
    },
}

/// What storage answers, tagged with what it answers.
#[derive(Debug)]
pub enum Outcome {
    /// An event is stored for good: deliver it to the room.
    Stored(Arc<Event>),
    /// A delete stored by this node released its message's files: file sharing removes them.
    Released(Files),
    /// The append repeated a stored event's `client_id`: the sender alone gets it again.
    Resent { origin: Origin, event: Arc<Event> },
    /// A change that changed nothing (a reaction the user has, or lacks): the sender alone
    /// gets its target as it stands.
    Unchanged { origin: Origin, target: Arc<Event> },
    /// A change the rules refuse: the sender alone gets the error, with `reference` as `ref`.
    Refused {
        origin: Origin,
        room: RoomName,
        refusal: Refusal,
        reference: Option<Arc<str>>,
    },
    /// The joiner's history, up to the room's latest stored `seq`.
    Catchup {
        origin: Origin,
        room: RoomName,
        seq: u64,
        messages: Vec<Arc<Event>>,
        complete: bool,
        /// The room's members on other nodes (none with one node), for `joined`.
        members: Vec<User>,
    },
    /// A page of older events.
    Page {
        origin: Origin,
        room: RoomName,
        messages: Vec<Arc<Event>>,
        has_more: bool,
    },
    /// A user arrived in a room (its first connection anywhere) or left it (its last).
    Presence {
        room: RoomName,
        user: User,
        event: PresenceEvent,
    },
    /// A member on another node is typing (or stopped).
    Typing {
        room: RoomName,
        user: User,
        active: bool,
    },
    /// A job failed: the asker gets `internal`, with the asking frame's `id` as `ref`.
    Failed {
        origin: Origin,
        room: RoomName,
        job: Failed,
        reference: Option<Arc<str>>,
        error: HistoryError,
    },
}

/// Which kind of job failed, which decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// A join: the connection did not become a member.
    Join,
    /// A read (a page), or an append refused before it was sequenced.
    Read,
    /// An event that was sequenced but could not be stored: the sender may send it again.
    Store,
}

/// Most events in one answer (`joined.history`, `history.messages`).
pub const MAX_ANSWER_EVENTS: usize = 200;

/// Outcomes waiting for the hub, oldest first; the hub takes them after every call.
pub type Outcomes = VecDeque<Outcome>;

/// Storage as the hub sees it (see the module documentation).
pub trait Broker: Send + 'static {
    /// Takes a job. Outcomes ready at once go to `out`; the others come from
    /// [`Broker::end_batch`] or [`Broker::poll_outcomes`].
    fn submit(&mut self, job: Job, out: &mut Outcomes);

    /// The hub has handled a batch of commands and is about to flush what it produced: a
    /// broker that groups writes commits them now and puts their outcomes in `out`.
    fn end_batch(&mut self, out: &mut Outcomes);

    /// The hub has nobody in `room` any more: what the broker keeps of it in memory may go
    /// (once its writes in flight are done).
    fn forget(&mut self, room: &RoomName);

    /// Outcomes that arrive on their own (a commit on another thread, a network store's
    /// answer): `Ready` once some were put in `out`. Polled by the hub's run loop.
    fn poll_outcomes(&mut self, cx: &mut Context<'_>, out: &mut Outcomes) -> Poll<()>;

    /// Makes everything appended so far durable, putting the last outcomes in `out`; called
    /// once when the hub stops.
    fn flush(&mut self, out: &mut Outcomes) -> Result<(), HistoryError>;

    /// Whether the broker decides when a user arrives in a room or leaves it (a user with
    /// connections on several nodes is one member): the hub then announces none of its own
    /// connections' arrivals and departures and tells its members what the broker's
    /// [`Outcome::Presence`] says instead. False for one node, where the hub knows.
    fn decides_presence(&self) -> bool {
        false
    }
}

/// Hands on a stored event: first the files it released (a delete's), then the event as
/// stores keep it.
pub(crate) fn push_stored(out: &mut Outcomes, event: Arc<Event>) {
    match event.released() {
        Some(files) => {
            out.push_back(Outcome::Released(files.clone()));
            out.push_back(Outcome::Stored(event.kept()));
        }
        None => out.push_back(Outcome::Stored(event)),
    }
}
