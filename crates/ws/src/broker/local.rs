//! The broker of one process: a [`History`] driven in the hub's own thread.
//!
//! Reads and the memory store's appends are answered inside `submit`. A durable store's
//! appends wait for their commit: the SQLite store commits the batch's appends when the hub
//! ends its batch (or on a thread of its own), and each reported event comes out as
//! [`Outcome::Stored`] then, so nobody receives an event that a crash could lose.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use metrics::Histogram;
use tokio::sync::mpsc;
use tracing::error;

use super::{Broker, Failed, Job, MAX_ANSWER_EVENTS, Origin, Outcome, Outcomes, push_stored};
use crate::{
    history::{Appended, Commit, History, HistoryError, now_ms},
    log::Draft,
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
    /// A room's entry stays while the hub has members there (a busy room would otherwise
    /// make and drop it with every message) and goes when the hub forgets the room.
    in_flight: HashMap<RoomName, VecDeque<InFlight>>,
    /// Rooms the hub forgot while some of their appends waited for a commit: released to the
    /// history once the last is reported.
    forgotten: HashSet<RoomName>,
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
            forgotten: HashSet::new(),
            append_seconds,
        }
    }

    /// The room's latest stored seq: its latest seq but for the appends still waiting for
    /// their commit (always its newest).
    fn stored_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        let waiting = self.in_flight.get(room).map_or(0, VecDeque::len) as u64;
        Ok(self.history.last_seq(room)?.saturating_sub(waiting))
    }

    fn append(&mut self, origin: Origin, draft: Draft, out: &mut Outcomes) {
        let room = draft.room.clone();
        // The `ref` of a failure: the append takes the draft.
        let reference = draft.client_id.clone();
        if let Some(id) = &reference {
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
                Err(error) => {
                    return out.push_back(failed(origin, room, Failed::Read, reference, error));
                }
            }
        }
        match self.history.append(draft, now_ms()) {
            Ok(Appended::Stored(event)) => push_stored(out, event),
            Ok(Appended::Queued(event)) => {
                self.in_flight.entry(room).or_default().push_back(InFlight {
                    seq: event.seq,
                    origin,
                    appended: Instant::now(),
                });
            }
            Ok(Appended::Unchanged(target)) => {
                out.push_back(Outcome::Unchanged { origin, target });
            }
            Ok(Appended::Refused(refusal)) => out.push_back(Outcome::Refused {
                origin,
                room,
                refusal,
                reference,
            }),
            Err(error) => out.push_back(failed(origin, room, Failed::Read, reference, error)),
        }
    }

    fn catchup(
        &mut self,
        origin: Origin,
        room: RoomName,
        since: Option<u64>,
        reference: Option<Arc<str>>,
        out: &mut Outcomes,
    ) {
        // Someone is joining: the room is not to be released after all.
        self.forgotten.remove(&room);
        let answer = self.stored_seq(&room).and_then(|seq| {
            let (messages, complete) = match since {
                Some(after) => {
                    // The latest ones: a client far behind pages back for the rest.
                    let from = after.max(seq.saturating_sub(MAX_ANSWER_EVENTS as u64));
                    let since = self.history.since(&room, from, seq)?;
                    (since.messages, since.complete && from == after)
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
                members: Vec::new(),
            },
            Err(error) => failed(origin, room, Failed::Join, reference, error),
        });
    }

    fn page(
        &mut self,
        origin: Origin,
        room: RoomName,
        (before, limit): (Option<u64>, usize),
        reference: Option<Arc<str>>,
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
            Err(error) => failed(origin, room, Failed::Read, reference, error),
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
                    push_stored(out, event);
                }
            }
            Commit::Failed { events, error } => {
                error!(count = events.len(), error = %error, "history write failed; messages not delivered");
                for event in events {
                    let Some(waiting) = self.take_in_flight(&event.room, event.seq) else {
                        continue;
                    };
                    // Logged once above, not per event.
                    out.push_back(Outcome::Failed {
                        origin: waiting.origin,
                        room: event.room.clone(),
                        job: Failed::Store,
                        reference: event.client_id.clone(),
                        error: error.clone(),
                    });
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
        if waiting.is_empty() && self.forgotten.remove(room) {
            self.in_flight.remove(room);
            self.history.release(room);
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

/// A read or an append refused before it was sequenced: logged here, answered `internal`.
fn failed(
    origin: Origin,
    room: RoomName,
    job: Failed,
    reference: Option<Arc<str>>,
    error: HistoryError,
) -> Outcome {
    error!(conn = origin, %room, error = %error, "history store failed");
    Outcome::Failed {
        origin,
        room,
        job,
        reference,
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
                reference,
            } => self.catchup(origin, room, since, reference, out),
            Job::Page {
                origin,
                room,
                before,
                limit,
                reference,
            } => self.page(origin, room, (before, limit), reference, out),
            // One node: its hub has told every member already.
            Job::Presence { .. } | Job::Typing { .. } => {}
        }
    }

    fn end_batch(&mut self, out: &mut Outcomes) {
        self.history.end_batch();
        self.drain_commits(out);
    }

    fn forget(&mut self, room: &RoomName) {
        if self
            .in_flight
            .get(room)
            .is_some_and(|waiting| !waiting.is_empty())
        {
            self.forgotten.insert(room.clone());
        } else {
            self.in_flight.remove(room);
            self.history.release(room);
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{history::scripted::Scripted, log::Draft, protocol::User};

    #[test]
    fn a_forgotten_room_is_released_once_its_last_append_is_committed() {
        let (history, mut script) = Scripted::new(false);
        let mut broker = LocalBroker::new(Box::new(history), 10, Histogram::noop());
        let room = RoomName::parse("r").expect("room");
        let mut out = Outcomes::new();
        let draft = Draft::message(room.clone(), User::new("u_1", "a"), "hi".into(), None);
        broker.submit(Job::Append { origin: 1, draft }, &mut out);
        assert!(out.is_empty(), "waits for its commit");

        broker.forget(&room);
        assert!(script.released.try_recv().is_err(), "an append still waits");
        let event: Arc<_> = script.appended.try_recv().expect("appended");
        script
            .report
            .send(Commit::Durable(vec![event]))
            .expect("broker listening");
        broker.end_batch(&mut out);
        assert!(matches!(out.pop_front(), Some(Outcome::Stored(e)) if e.seq == 1));
        assert_eq!(script.released.try_recv().ok(), Some(room.clone()));

        // Nothing in flight: released at once.
        broker.forget(&room);
        assert_eq!(script.released.try_recv().ok(), Some(room));
    }
}
