//! The rules of a change to a message (edit, delete, react), in one place for every store
//! that keeps its state in this process: each calls [`apply`] with the target as it stands,
//! in the same step that sequences the change, so the rules and the order are one atomic
//! step. (The Redis broker runs the same rules inside its script.)

use std::sync::Arc;

use super::{Changed, Draft, Event, EventKind, Message, Reaction};
use crate::protocol::ErrorCode;

/// Most distinct emoji on one message.
pub const MAX_EMOJI: usize = 20;

/// Why a change was not stored; answered to its sender alone, with its `id` as `ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The target is not a plain message of the room that is still stored, or it was deleted.
    NotFound,
    /// An edit or delete by someone other than the target's author.
    Forbidden,
    /// A reaction with a new emoji on a message that has [`MAX_EMOJI`] already.
    TooManyEmoji,
}

impl Refusal {
    /// The error's code on the wire.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::TooManyEmoji => ErrorCode::BadRequest,
        }
    }

    /// The error's words.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no such message in this room (or it was deleted)",
            Self::Forbidden => "only the message's author may change it",
            Self::TooManyEmoji => "a message holds at most 20 different emoji",
        }
    }

    /// A refusal from its code (as a store that checks the rules elsewhere reports it).
    pub fn from_code(code: ErrorCode) -> Option<Self> {
        match code {
            ErrorCode::NotFound => Some(Self::NotFound),
            ErrorCode::Forbidden => Some(Self::Forbidden),
            ErrorCode::BadRequest => Some(Self::TooManyEmoji),
            _ => None,
        }
    }
}

/// What a change does to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store the change; the target's new state is this.
    Applied(Event),
    /// A reaction the user already has, or takes back without having it: nothing is stored,
    /// and the sender alone gets the target as it stands.
    Unchanged(Arc<Event>),
    /// Not allowed.
    Refused(Refusal),
}

/// The change `draft` would make, sequenced at `ts`, to `target` (the stored event at the
/// draft's target seq of its room, `None` when none is stored). A plain message's draft is
/// not a change: it is [`Refusal::NotFound`] here, and never passed by the stores.
pub fn apply(target: Option<&Arc<Event>>, draft: &Draft, ts: u64) -> Change {
    let Some((target, message)) =
        target.and_then(|t| t.message().filter(|m| !m.is_deleted()).map(|m| (t, m)))
    else {
        return Change::Refused(Refusal::NotFound);
    };
    let by_author = target.from.id == draft.from.id;
    let changed = match &draft.kind {
        EventKind::Message(_) => return Change::Refused(Refusal::NotFound),
        EventKind::Edit { .. } | EventKind::Delete { .. } if !by_author => {
            return Change::Refused(Refusal::Forbidden);
        }
        EventKind::Edit { text, .. } => Message::with(
            text.clone().unwrap_or_default(),
            message.files.clone(),
            Changed {
                edited: Some(ts),
                ..message.changes()
            },
        ),
        EventKind::Delete { .. } => Message::with(
            Arc::default(),
            None,
            Changed {
                deleted: true,
                ..Changed::default()
            },
        ),
        EventKind::React { emoji, active, .. } => {
            match react(message.reactions(), emoji, &draft.from.id, *active) {
                Ok(Some(reactions)) => Message::with(
                    message.text.clone(),
                    message.files.clone(),
                    Changed {
                        reactions,
                        ..message.changes()
                    },
                ),
                Ok(None) => return Change::Unchanged(target.clone()),
                Err(refusal) => return Change::Refused(refusal),
            }
        }
    };
    Change::Applied(target.with_kind(EventKind::Message(changed)))
}

/// `event` with its text erased, if it is an edit of `target` that still has one: a deleted
/// message's edits lose their text with it.
pub fn erase_edit(event: &Event, target: u64) -> Option<Event> {
    match &event.kind {
        EventKind::Edit {
            target: edited,
            text: Some(_),
        } if *edited == target => Some(event.with_kind(EventKind::Edit { target, text: None })),
        _ => None,
    }
}

/// The reactions once `user` adds (`active`) or takes back `emoji`; `None` when that changes
/// nothing.
fn react(
    reactions: &[Reaction],
    emoji: &Arc<str>,
    user: &Arc<str>,
    active: bool,
) -> Result<Option<Vec<Reaction>>, Refusal> {
    let at = reactions.iter().position(|r| r.emoji == *emoji);
    let has = at.is_some_and(|at| reactions[at].users.contains(user));
    if has == active {
        return Ok(None);
    }
    let mut reactions = reactions.to_vec();
    match (at, active) {
        (Some(at), true) => reactions[at].users.push(user.clone()),
        (None, true) if reactions.len() >= super::MAX_EMOJI => return Err(Refusal::TooManyEmoji),
        (None, true) => reactions.push(Reaction {
            emoji: emoji.clone(),
            users: vec![user.clone()],
        }),
        (Some(at), false) => {
            reactions[at].users.retain(|u| u != user);
            if reactions[at].users.is_empty() {
                reactions.remove(at);
            }
        }
        (None, false) => return Ok(None),
    }
    Ok(Some(reactions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RoomName, User};

    fn room() -> RoomName {
        RoomName::parse("r").expect("room")
    }

    fn message(author: &str) -> Arc<Event> {
        Arc::new(Draft::message(room(), User::new(author, "a"), "hi".into(), None).sequence(1, 5))
    }

    fn change(user: &str, kind: EventKind) -> Draft {
        Draft::new(room(), User::new(user, "x"), None, kind)
    }

    fn react(user: &str, emoji: &str, active: bool) -> Draft {
        let emoji = emoji.into();
        change(
            user,
            EventKind::React {
                target: 1,
                emoji,
                active,
            },
        )
    }

    fn applied(change: Change) -> Arc<Event> {
        match change {
            Change::Applied(event) => Arc::new(event),
            other => panic!("not applied: {other:?}"),
        }
    }

    #[test]
    fn only_the_author_edits_or_deletes() {
        let target = message("u_1");
        let edit = |user| {
            change(
                user,
                EventKind::Edit {
                    target: 1,
                    text: Some("new".into()),
                },
            )
        };
        let delete = |user| change(user, EventKind::Delete { target: 1 });
        let refused = Change::Refused(Refusal::Forbidden);
        assert_eq!(apply(Some(&target), &edit("u_2"), 9), refused);
        assert_eq!(apply(Some(&target), &delete("u_2"), 9), refused);
        let edited = applied(apply(Some(&target), &edit("u_1"), 9));
        let state = edited.message().expect("a message");
        assert_eq!((&*state.text, state.edited()), ("new", Some(9)));
        let deleted = applied(apply(Some(&edited), &delete("u_1"), 10));
        assert_eq!(deleted.text(), None);
        assert!(
            deleted
                .message()
                .is_some_and(|m| m.is_deleted() && m.edited().is_none())
        );
        // A deleted message is gone for every change.
        let gone = Change::Refused(Refusal::NotFound);
        assert_eq!(apply(Some(&deleted), &delete("u_1"), 11), gone);
        assert_eq!(apply(Some(&deleted), &react("u_2", "👍", true), 11), gone);
        assert_eq!(apply(None, &edit("u_1"), 11), gone);
    }

    #[test]
    fn a_change_cannot_target_a_change() {
        let target = message("u_1");
        let edit = applied(apply(Some(&target), &react("u_1", "👍", true), 2));
        let not_a_message = Arc::new(react("u_1", "👍", true).sequence(2, 2));
        assert!(edit.message().is_some());
        assert_eq!(
            apply(Some(&not_a_message), &react("u_1", "👍", false), 3),
            Change::Refused(Refusal::NotFound)
        );
    }

    #[test]
    fn reactions_keep_their_first_order_and_a_no_op_changes_nothing() {
        let mut target = message("u_1");
        for (user, emoji) in [("u_1", "👍"), ("u_2", "🎉"), ("u_2", "👍")] {
            target = applied(apply(Some(&target), &react(user, emoji, true), 2));
        }
        assert!(matches!(
            apply(Some(&target), &react("u_2", "👍", true), 3),
            Change::Unchanged(same) if Arc::ptr_eq(&same, &target)
        ));
        assert!(matches!(
            apply(Some(&target), &react("u_3", "👍", false), 3),
            Change::Unchanged(_)
        ));
        target = applied(apply(Some(&target), &react("u_2", "🎉", false), 3));
        let state = target.message().expect("a message");
        let users: Vec<_> = state
            .reactions()
            .iter()
            .map(|r| (&*r.emoji, r.users.len()))
            .collect();
        assert_eq!(users, vec![("👍", 2)], "an emoji nobody holds goes");
    }

    #[test]
    fn a_message_holds_at_most_20_emoji() {
        let mut target = message("u_1");
        for n in 0..MAX_EMOJI {
            target = applied(apply(
                Some(&target),
                &react("u_1", &format!("e{n}"), true),
                2,
            ));
        }
        assert_eq!(
            apply(Some(&target), &react("u_2", "new", true), 3),
            Change::Refused(Refusal::TooManyEmoji)
        );
        // One already there still takes more users.
        applied(apply(Some(&target), &react("u_2", "e0", true), 3));
    }
}
