//! The storage engine behind the in-process broker ([`crate::broker::LocalBroker`]): where a
//! room's events get their seq and are kept.
//!
//! A [`History`] is synchronous and lives in the hub's thread, driven by the local broker; the
//! implementations (in memory, SQLite) live in the `chat-store` crate. A store that writes in
//! the background answers [`Appended::Queued`] and later reports each write's outcome, naming
//! the events it stored or lost, through [`History::take_commits`]. Nothing is matched by
//! position: a report carries its events.

#[cfg(test)]
pub(crate) mod scripted;

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::{
    log::{Draft, Event, Refusal},
    protocol::RoomName,
};

/// How long an event stays retained, per room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many events per room; older ones are dropped.
    pub max_per_room: usize,
    /// Events older than this are dropped; `None` keeps them until `max_per_room` does.
    pub max_age: Option<Duration>,
}

/// What [`History::append`] did with an event.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored for good: deliver it now.
    Stored(Arc<Event>),
    /// Sequenced and queued for a durable write: deliver it when its commit is reported.
    Queued(Arc<Event>),
    /// A change that changes nothing (a reaction the user has, or lacks): nothing was
    /// stored, and the sender alone gets its target as it stands.
    Unchanged(Arc<Event>),
    /// A change the rules refuse (see [`crate::log::apply`]): nothing was stored.
    Refused(Refusal),
}

/// Events after a seq, for `join` with `since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Since {
    /// Oldest first.
    pub messages: Vec<Arc<Event>>,
    /// False when retention dropped some of the requested events.
    pub complete: bool,
}

/// One page of older events, for `history` and the tail sent in `joined`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Oldest first.
    pub messages: Vec<Arc<Event>>,
    /// True exactly when the room still holds events older than the first one returned.
    pub has_more: bool,
}

/// A storage failure: the request gets an `internal` error and the failure is logged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("history store: {0}")]
pub struct HistoryError(pub String);

/// What became of queued appends, reported on [`History::take_commits`]'s channel. Every
/// [`Appended::Queued`] event is named by exactly one report, a room's in seq order.
#[derive(Debug, Clone)]
pub enum Commit {
    /// These events are durable: deliver them.
    Durable(Vec<Arc<Event>>),
    /// These events will never be stored (the write failed): nobody gets them, their senders
    /// get an `internal` error, and the store reuses none of their seqs for an event that is
    /// delivered.
    Failed {
        events: Vec<Arc<Event>>,
        error: HistoryError,
    },
}

/// Where rooms' events are sequenced and kept. Called only from the hub's thread, so no
/// method may block for long: a durable store commits without waiting for the disk's sync
/// (at [`History::end_batch`]), or on a thread of its own.
pub trait History: Send + 'static {
    /// The room's latest seq, counting queued appends (0 for a room never written to).
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError>;

    /// Gives the draft the room's next seq and the server time `ts`, and stores it. A change
    /// (edit, delete, react) is checked against its target by [`crate::log::apply`] first,
    /// and its target's stored state updated with it, in the same step.
    fn append(&mut self, draft: Draft, ts: u64) -> Result<Appended, HistoryError>;

    /// Every event with `after < seq <= upto`, oldest first.
    fn since(&mut self, room: &RoomName, after: u64, upto: u64) -> Result<Since, HistoryError>;

    /// The newest `limit` events with `seq < before`, oldest first.
    fn page(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, HistoryError>;

    /// The room's event whose `client_id` is `id`, if it is recent enough for the resend
    /// rule (among the room's last 1,000 events or the last 10 minutes).
    fn find_resend(
        &mut self,
        room: &RoomName,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Arc<Event>>, HistoryError>;

    /// For stores that answer [`Appended::Queued`]: a channel of what became of the queued
    /// appends (see [`Commit`]). Taken once; `None` when every append is stored before
    /// `append` returns.
    fn take_commits(&mut self) -> Option<mpsc::UnboundedReceiver<Commit>> {
        None
    }

    /// Nobody is in `room` any more and none of its appends waits for a commit: a store may
    /// drop what it keeps of the room in memory (its events stay stored).
    fn release(&mut self, _room: &RoomName) {}

    /// The hub has handled a batch of commands and is about to flush what they produced: a
    /// store that commits in the hub's thread commits the batch's appends here and reports
    /// them before returning, so they go out in this flush.
    fn end_batch(&mut self) {}

    /// Makes everything appended so far durable; called once when the hub stops.
    fn flush(&mut self) -> Result<(), HistoryError> {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, the protocol's `ts`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
