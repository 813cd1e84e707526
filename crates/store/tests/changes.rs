//! Changes to a message (edit, delete, react) in every `History` (see `fixture/`): the rules
//! checked when a change is sequenced, and the target's state that later reads serve, from
//! memory, from the file and after a restart.

use std::sync::Arc;

mod fixture;
mod support;

use fixture::Make;
use support::{draft, keep, room};

use chat_ws::{
    history::{Appended, History},
    log::{Changed, Draft, Event, EventKind, MAX_EMOJI, Message, Refusal},
    protocol::User,
};

contract!(
    an_edit_replaces_the_text_and_notes_when,
    only_the_author_edits_or_deletes,
    a_delete_erases_the_text_of_the_message_and_of_its_edits,
    reactions_keep_their_order_and_a_no_op_stores_nothing,
    a_change_needs_a_stored_plain_message,
    a_message_holds_at_most_20_emoji,
    a_change_sees_the_one_before_it_before_either_is_committed,
);

const TS: u64 = 1_763_800_000_000;

fn user(id: &str) -> User {
    User::new(id, id)
}

fn change(by: &str, kind: EventKind) -> Draft {
    Draft::new(room("r"), user(by), None, kind)
}

fn edit(by: &str, target: u64, text: &str) -> Draft {
    let text = Some(text.into());
    change(by, EventKind::Edit { target, text })
}

fn react(by: &str, target: u64, emoji: &str, active: bool) -> Draft {
    let emoji = emoji.into();
    change(
        by,
        EventKind::React {
            target,
            emoji,
            active,
        },
    )
}

/// What `append` did, for a change.
#[derive(Debug, PartialEq)]
enum Did {
    Stored(u64),
    Unchanged(u64),
    Refused(Refusal),
}

fn append(h: &mut dyn History, draft: Draft, ts: u64) -> Did {
    match h.append(draft, ts).expect("append") {
        Appended::Stored(e) | Appended::Queued(e) => Did::Stored(e.seq),
        Appended::Unchanged(target) => Did::Unchanged(target.seq),
        Appended::Refused(refusal) => Did::Refused(refusal),
    }
}

/// A message by alice (`u_1`).
fn send(h: &mut dyn History, text: &str) -> u64 {
    match append(h, draft("r", text, None), TS) {
        Did::Stored(seq) => seq,
        other => panic!("a message is never refused: {other:?}"),
    }
}

fn all(h: &mut dyn History) -> Vec<Arc<Event>> {
    h.page(&room("r"), u64::MAX, 200).expect("page").messages
}

fn state(events: &[Arc<Event>], seq: u64) -> Message {
    let event = events.iter().find(|e| e.seq == seq).expect("the event");
    event.message().expect("a plain message").clone()
}

fn an_edit_replaces_the_text_and_notes_when(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "helo");
    assert_eq!(
        append(f.history(), edit("u_1", 1, "hello"), TS + 5),
        Did::Stored(2)
    );
    assert_eq!(
        append(f.history(), edit("u_1", 1, "hello!"), TS + 9),
        Did::Stored(3)
    );
    f.settle();
    let events = all(f.history());
    let message = state(&events, 1);
    assert_eq!((&*message.text, message.edited()), ("hello!", Some(TS + 9)));
    // The edits are in the log, in seq order, with their own text.
    assert!(
        matches!(&events[1].kind, EventKind::Edit { target: 1, text: Some(t) } if &**t == "hello")
    );
    assert_eq!(events[2].ts, TS + 9);
    // `since` serves the same state.
    let since = f.history().since(&room("r"), 0, 3).expect("since");
    assert_eq!(since.messages, events);
}

fn only_the_author_edits_or_deletes(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "mine");
    let forbidden = Did::Refused(Refusal::Forbidden);
    assert_eq!(append(f.history(), edit("u_2", 1, "yours"), TS), forbidden);
    let delete = change("u_2", EventKind::Delete { target: 1 });
    assert_eq!(append(f.history(), delete, TS), forbidden);
    f.settle();
    assert_eq!(
        f.history().last_seq(&room("r")).ok(),
        Some(1),
        "nothing stored"
    );
    assert_eq!(&*state(&all(f.history()), 1).text, "mine");
}

fn a_delete_erases_the_text_of_the_message_and_of_its_edits(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "secret");
    send(f.history(), "other");
    append(f.history(), edit("u_1", 1, "secret 2"), TS);
    append(f.history(), react("u_2", 1, "👍", true), TS);
    f.settle();
    let delete = || change("u_1", EventKind::Delete { target: 1 });
    assert_eq!(append(f.history(), delete(), TS + 1), Did::Stored(5));
    f.settle();
    let events = all(f.history());
    assert_eq!(
        state(&events, 1),
        Message::with(
            Arc::default(),
            None,
            Changed {
                deleted: true,
                ..Changed::default()
            }
        )
    );
    assert_eq!(events[0].text(), None);
    assert!(matches!(
        &events[2].kind,
        EventKind::Edit {
            target: 1,
            text: None
        }
    ));
    assert_eq!(&*state(&events, 2).text, "other", "only its own edits");
    assert!(matches!(events[4].kind, EventKind::Delete { target: 1 }));
    // Gone for every later change.
    let gone = Did::Refused(Refusal::NotFound);
    assert_eq!(append(f.history(), delete(), TS + 2), gone);
    assert_eq!(append(f.history(), edit("u_1", 1, "back"), TS + 2), gone);
    assert_eq!(
        append(f.history(), react("u_2", 1, "👍", false), TS + 2),
        gone
    );
}

fn reactions_keep_their_order_and_a_no_op_stores_nothing(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "hi");
    append(f.history(), react("u_2", 1, "🎉", true), TS);
    append(f.history(), react("u_3", 1, "👍", true), TS);
    append(f.history(), react("u_1", 1, "🎉", true), TS);
    f.settle();
    assert_eq!(
        append(f.history(), react("u_2", 1, "🎉", true), TS),
        Did::Unchanged(1)
    );
    assert_eq!(
        append(f.history(), react("u_2", 1, "👍", false), TS),
        Did::Unchanged(1)
    );
    assert_eq!(
        f.history().last_seq(&room("r")).ok(),
        Some(4),
        "nothing stored"
    );
    append(f.history(), react("u_3", 1, "👍", false), TS);
    f.settle();
    let message = state(&all(f.history()), 1);
    let reactions = message.reactions();
    let got: Vec<(&str, Vec<&str>)> = reactions
        .iter()
        .map(|r| (&*r.emoji, r.users.iter().map(|u| &**u).collect()))
        .collect();
    assert_eq!(got, vec![("🎉", vec!["u_2", "u_1"])]);
}

fn a_change_needs_a_stored_plain_message(make: Make<'_>) {
    let mut f = make(keep(3));
    send(f.history(), "old");
    for n in 0..3 {
        send(f.history(), &format!("m{n}"));
    }
    f.settle();
    let gone = Did::Refused(Refusal::NotFound);
    assert_eq!(
        append(f.history(), edit("u_1", 1, "x"), TS),
        gone,
        "dropped by retention"
    );
    assert_eq!(
        append(f.history(), edit("u_1", 9, "x"), TS),
        gone,
        "never stored"
    );
    assert_eq!(
        append(f.history(), react("u_1", 4, "👍", true), TS),
        Did::Stored(5)
    );
    assert_eq!(
        append(f.history(), react("u_1", 5, "👍", true), TS),
        gone,
        "a change"
    );
    // Another room's seq 4 is not this one's.
    let other = Draft::new(
        room("s"),
        user("u_1"),
        None,
        EventKind::Delete { target: 4 },
    );
    assert_eq!(append(f.history(), other, TS), gone);
}

fn a_message_holds_at_most_20_emoji(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "hi");
    for n in 0..MAX_EMOJI {
        append(f.history(), react("u_2", 1, &format!("e{n}"), true), TS);
    }
    f.settle();
    let refused = Did::Refused(Refusal::TooManyEmoji);
    assert_eq!(
        append(f.history(), react("u_2", 1, "new", true), TS),
        refused
    );
    assert_eq!(
        append(f.history(), react("u_3", 1, "e0", true), TS),
        Did::Stored(22)
    );
}

fn a_change_sees_the_one_before_it_before_either_is_committed(make: Make<'_>) {
    let mut f = make(keep(100));
    send(f.history(), "hi");
    for n in 0..5 {
        send(f.history(), &format!("m{n}"));
    }
    // Committed, and (with a cache of two) no longer in memory.
    f.settle();
    append(f.history(), react("u_2", 1, "👍", true), TS);
    assert_eq!(
        append(f.history(), react("u_2", 1, "👍", true), TS),
        Did::Unchanged(1)
    );
    append(f.history(), edit("u_1", 1, "hi!"), TS + 1);
    assert_eq!(
        append(f.history(), react("u_2", 1, "👍", true), TS),
        Did::Unchanged(1)
    );
    f.settle();
    let message = state(&all(f.history()), 1);
    assert_eq!((&*message.text, message.reactions().len()), ("hi!", 1));
}
