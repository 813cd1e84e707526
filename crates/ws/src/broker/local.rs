//! The broker of one process: a [`History`] driven in the hub's own thread.
//!
//! Reads and the memory store's appends are answered inside `submit`. A durable store's
//! appends wait for their commit: the SQLite store commits the batch's appends when the hub
//! ends its batch (or on a thread of its own), and each reported event comes out as
//! [`Outcome::Stored`] then, so nobody receives an event that a crash could lose.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
    time::Instant,
};

use foldhash::{HashMap, HashMapExt};
use metrics::Histogram;
use tokio::sync::mpsc;
use tracing::error;

use super::{Broker, Failed, Job, Origin, Outcome, Outcomes};
use crate::{
    history::{Appended, Commit, History, HistoryError, now_ms},
    protocol::RoomName,
};

/// The in-process broker over a [`History`].
pub struct LocalBroker {
    history: Box<dyn History>,
    /// Events sent in `joined` when the join gives no `since`.
    on_join: usize,
    /// The durable store's commit reports, until it closes.
    commits: Option<mpsc::UnboundedReceiver<Commit>>,
    /// Appends waiting for their commit, per room, in seq order: the newest seqs of the room.
    /// A room's entry goes once its last commit is reported.
    in_flight: HashMap<RoomName, VecDeque<InFlight>>,
    /// Seconds from append to commit.
    append_seconds: Histogram,
}

/// An append waiting for its commit.
#[derive(Debug)]
struct InFlight {
    seq: u64,
    origin: Origin,
    appended: Instant,
}

impl std::fmt::Debug for LocalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBroker")
            .field("on_join", &self.on_join)
            .field("rooms_in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl LocalBroker {
    /// A broker over `history`, sending `on_join` events in `joined` without `since`, and
    /// recording each durable append's wait in `append_seconds`.
    pub fn new(mut history: Box<dyn History>, on_join: usize, append_seconds: Histogram) -> Self {
        let commits = history.take_commits();
        Self {
            history,
            on_join,
            commits,
            in_flight: HashMap::new(),
            append_seconds,
        }
    }

    /// The room's latest stored seq: its latest seq but for the appends still waiting for
    /// their commit (always its newest).
    fn stored_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        let waiting = self.in_flight.get(room).map_or(0, VecDeque::len) as u64;
        Ok(self.history.last_seq(room)?.saturating_sub(waiting))
    }

    fn append(&mut self, origin: Origin, draft: crate::log::Draft, out: &mut Outcomes) {
        let room = draft.room.clone();
        if let Some(id) = &draft.client_id {
            match self.history.find_resend(&room, id, now_ms()) {
                Ok(Some(event)) => {
                    // One still waiting for its commit reaches the sender when it is stored.
                    let waiting = self
                        .in_flight
                        .get(&room)
                        .and_then(VecDeque::front)
                        .is_some_and(|first| first.seq <= event.seq);
                    if !waiting {
                        out.push_back(Outcome::Resent { origin, event });
                    }
                    return;
                }
                Ok(None) => {}
                Err(error) => return out.push_back(failed(origin, room, Failed::Read, error)),
            }
        }
        match self.history.append(draft, now_ms()) {
            Ok(Appended::Stored(event)) => out.push_back(Outcome::Stored(event)),
            Ok(Appended::Queued(event)) => {
                self.in_flight.entry(room).or_default().push_back(InFlight {
                    seq: event.seq,
                    origin,
                    appended: Instant::now(),
                });
            }
            Err(error) => out.push_back(failed(origin, room, Failed::Read, error)),
        }
    }

    fn catchup(&mut self, origin: Origin, room: RoomName, since: Option<u64>, out: &mut Outcomes) {
        let answer = self.stored_seq(&room).and_then(|seq| {
            let (messages, complete) = match since {
                Some(after) => {
                    let since = self.history.since(&room, after, seq)?;
                    (since.messages, since.complete)
                }
                None => (
                    self.history.page(&room, seq + 1, self.on_join)?.messages,
                    true,
                ),
            };
            Ok((seq, messages, complete))
        });
        out.push_back(match answer {
            Ok((seq, messages, complete)) => Outcome::Catchup {
                origin,
                room,
                seq,
                messages,
                complete,
            },
            Err(error) => failed(origin, room, Failed::Join, error),
        });
    }

    fn page(
        &mut self,
        origin: Origin,
        room: RoomName,
        before: Option<u64>,
        limit: usize,
        out: &mut Outcomes,
    ) {
        let page = self.stored_seq(&room).and_then(|seq| {
            let before = before.unwrap_or(u64::MAX).min(seq + 1);
            self.history.page(&room, before, limit)
        });
        out.push_back(match page {
            Ok(page) => Outcome::Page {
                origin,
                room,
                messages: page.messages,
                has_more: page.has_more,
            },
            Err(error) => failed(origin, room, Failed::Read, error),
        });
    }

    /// Turns a commit report into the outcomes of the events it names.
    fn on_commit(&mut self, commit: Commit, out: &mut Outcomes) {
        match commit {
            Commit::Durable(events) => {
                for event in events {
                    if let Some(waiting) = self.take_in_flight(&event.room, event.seq) {
                        self.append_seconds.record(waiting.appended.elapsed());
                    }
                    out.push_back(Outcome::Stored(event));
                }
            }
            Commit::Failed { events, error } => {
                error!(count = events.len(), error = %error, "history write failed; messages not delivered");
                for event in events {
                    let Some(waiting) = self.take_in_flight(&event.room, event.seq) else {
                        continue;
                    };
                    let job = Failed::Store {
                        client_id: event.client_id.clone(),
                    };
                    out.push_back(failed(
                        waiting.origin,
                        event.room.clone(),
                        job,
                        error.clone(),
                    ));
                }
            }
        }
    }

    /// The append waiting for the commit of `room`'s `seq`: the room's oldest one.
    fn take_in_flight(&mut self, room: &RoomName, seq: u64) -> Option<InFlight> {
        let waiting = self.in_flight.get_mut(room)?;
        let first = waiting.pop_front().filter(|first| first.seq == seq);
        if first.is_none() {
            error!(%room, seq, "history reported a commit out of order");
        }
        if waiting.is_empty() {
            self.in_flight.remove(room);
        }
        first
    }

    /// Takes every commit report already there.
    fn drain_commits(&mut self, out: &mut Outcomes) {
        while let Some(commit) = self.commits.as_mut().and_then(|rx| rx.try_recv().ok()) {
            self.on_commit(commit, out);
        }
    }
}

fn failed(origin: Origin, room: RoomName, job: Failed, error: HistoryError) -> Outcome {
    Outcome::Failed {
        origin,
        room,
        job,
        error,
    }
}

impl Broker for LocalBroker {
    fn submit(&mut self, job: Job, out: &mut Outcomes) {
        match job {
            Job::Append { origin, draft } => self.append(origin, draft, out),
            Job::Catchup {
                origin,
                room,
                since,
            } => self.catchup(origin, room, since, out),
            Job::Page {
                origin,
                room,
                before,
                limit,
            } => self.page(origin, room, before, limit, out),
        }
    }

    fn end_batch(&mut self, out: &mut Outcomes) {
        self.history.end_batch();
        self.drain_commits(out);
    }

    fn poll_outcomes(&mut self, cx: &mut Context<'_>, out: &mut Outcomes) -> Poll<()> {
        let Some(commits) = self.commits.as_mut() else {
            return Poll::Pending;
        };
        match commits.poll_recv(cx) {
            Poll::Ready(Some(commit)) => {
                self.on_commit(commit, out);
                // Every other report already there shares the same flush.
                self.drain_commits(out);
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                self.commits = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn flush(&mut self, out: &mut Outcomes) -> Result<(), HistoryError> {
        let flushed = self.history.flush();
        self.drain_commits(out);
        flushed
    }
}
