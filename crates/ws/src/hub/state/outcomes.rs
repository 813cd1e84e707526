//! The broker's outcomes: stored events to the rooms, answers to their askers.

use std::sync::Arc;

use tracing::debug;

use super::{Hub, error_frame};
use crate::{
    broker::{Failed, Job, Outcome},
    conn::ConnId,
    history::HistoryError,
    log::Event,
    protocol::{
        ErrorCode, MAX_ANSWER_BYTES, PresenceEvent, RoomName, User, history_frame,
        keep_latest_within,
    },
};

impl Hub {
    /// Acts on every outcome the broker has given so far, in order.
    pub(super) fn take_outcomes(&mut self) {
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
            Outcome::Released(files) => {
                if let Some(sharing) = &self.files {
                    sharing.release(files.json());
                }
            }
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
                messages,
                has_more,
            } => {
                let frame = history_frame(&room, messages, has_more);
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
    pub(super) fn share_presence(&mut self, room: &RoomName, user: User, event: PresenceEvent) {
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
}
