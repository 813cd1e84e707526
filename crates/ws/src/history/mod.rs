//! The history seam: where a room's messages get their seq and are kept.
//!
//! The hub calls a [`History`] synchronously and never learns what is behind it: the
//! implementations (in memory, SQLite) live in the `chat-store` crate. A store that writes in
//! the background answers [`Appended::Queued`] and later reports each write's outcome through
//! [`History::take_commits`]; the hub delivers a message only once it is stored, so nobody
//! ever sees a message that a crash could lose, and a message whose write failed is answered
//! with an `internal` error to its sender alone.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::protocol::{ChatMessage, MessageDraft, RoomName};

/// How long a message stays retained, per room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many messages per room; older ones are dropped.
    pub max_per_room: usize,
    /// Messages older than this are dropped; `None` keeps them until `max_per_room` does.
    pub max_age: Option<Duration>,
}

/// What [`History::append`] did with a message.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored for good: deliver it now.
    Stored(Arc<ChatMessage>),
    /// Sequenced and queued for a durable write: deliver it when the commit is reported.
    Queued(Arc<ChatMessage>),
}

/// Messages after a seq, for `join` with `since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Since {
    /// Oldest first.
    pub messages: Vec<Arc<ChatMessage>>,
    /// False when retention dropped some of the requested messages.
    pub complete: bool,
}

/// One page of older messages, for `history` and the tail sent in `joined`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Oldest first.
    pub messages: Vec<Arc<ChatMessage>>,
    /// True exactly when the room still holds messages older than the first one returned.
    pub has_more: bool,
}

/// A storage failure: the request gets an `internal` error and the failure is logged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("history store: {0}")]
pub struct HistoryError(pub String);

/// The outcome of the oldest queued appends, reported on [`History::take_commits`]'s channel.
/// Reports come in append order and together account for every [`Appended::Queued`] once.
#[derive(Debug, Clone)]
pub enum Commit {
    /// The next `n` queued appends are durable: deliver them.
    Durable(usize),
    /// The next `count` queued appends will never be stored (the write failed): nobody gets
    /// them, their senders get an `internal` error, and the store reuses none of their seqs
    /// for a message that is delivered.
    Failed { count: usize, error: HistoryError },
}

/// Where rooms' messages are sequenced and kept. Called only from the hub's task, so no
/// method may block for long: a durable store commits without waiting for the disk's sync
/// (at [`History::end_batch`]), or on a thread of its own.
pub trait History: Send + 'static {
    /// The room's latest seq, counting queued appends (0 for a room never written to).
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError>;

    /// Gives the draft the room's next seq and the server time `ts`, and stores it.
    fn append(&mut self, draft: MessageDraft, ts: u64) -> Result<Appended, HistoryError>;

    /// Every message with `after < seq <= upto`, oldest first.
    fn since(&mut self, room: &RoomName, after: u64, upto: u64) -> Result<Since, HistoryError>;

    /// The newest `limit` messages with `seq < before`, oldest first.
    fn page(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, HistoryError>;

    /// The room's message whose `client_id` is `id`, if it is recent enough for the resend
    /// rule (among the room's last 1,000 messages or the last 10 minutes).
    fn find_resend(
        &mut self,
        room: &RoomName,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Arc<ChatMessage>>, HistoryError>;

    /// For stores that answer [`Appended::Queued`]: a channel of what became of the queued
    /// appends, in append order (see [`Commit`]). Taken once by the hub; `None` when every
    /// append is stored before `append` returns.
    fn take_commits(&mut self) -> Option<mpsc::UnboundedReceiver<Commit>> {
        None
    }

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
