//! One list of tests for every `History` (see `fixture/`): its reads, retention and resends.

use std::sync::Arc;

mod fixture;
mod support;

use fixture::Make;
use support::{draft, keep, room};

use chat_ws::{
    history::{Appended, History, Retention, now_ms},
    log::{Draft, Event},
    protocol::User,
};

contract!(
    append_numbers_from_one,
    since_returns_the_missing_tail_and_knows_about_gaps,
    since_never_reaches_past_upto,
    page_walks_backwards_with_exact_has_more,
    a_long_history_pages_back_to_the_first_message,
    max_age_drops_old_messages,
    an_age_limit_past_u64_milliseconds_keeps_everything,
    retention_never_reuses_a_seq,
    resend_finds_the_stored_message,
    resend_window_is_1000_messages_or_10_minutes,
    rooms_are_independent,
    an_unknown_room_is_empty,
    messages_keep_every_field,
);

fn append(h: &mut dyn History, draft: Draft, ts: u64) -> Arc<Event> {
    match h.append(draft, ts).expect("append") {
        Appended::Stored(m) | Appended::Queued(m) => m,
        other => panic!("a message is never refused: {other:?}"),
    }
}

fn fill(h: &mut dyn History, n: u64) {
    for i in 1..=n {
        append(h, draft("r", &format!("m{i}"), None), now_ms());
    }
}

/// The text of a message event.
fn text(m: &Event) -> String {
    m.text().map(ToString::to_string).unwrap_or_default()
}

fn seqs(messages: &[Arc<Event>]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn append_numbers_from_one(make: Make<'_>) {
    let mut f = make(keep(10));
    assert_eq!(f.history().last_seq(&room("r")).ok(), Some(0));
    fill(f.history(), 3);
    assert_eq!(f.history().last_seq(&room("r")).ok(), Some(3));
    f.settle();
    assert_eq!(f.history().last_seq(&room("r")).ok(), Some(3));
    let p = f.history().page(&room("r"), u64::MAX, 10).expect("page");
    let texts: Vec<_> = p.messages.iter().map(|m| text(m)).collect();
    assert_eq!(
        (seqs(&p.messages), texts),
        (vec![1, 2, 3], vec!["m1".into(), "m2".into(), "m3".into()])
    );
}

fn since_returns_the_missing_tail_and_knows_about_gaps(make: Make<'_>) {
    let mut f = make(keep(5));
    fill(f.history(), 8); // retains 4..=8
    f.settle();
    let h = f.history();
    let r = room("r");
    let s = h.since(&r, 5, 8).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), (vec![6, 7, 8], true));
    let s = h.since(&r, 3, 8).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), (vec![4, 5, 6, 7, 8], true));
    let s = h.since(&r, 1, 8).expect("since");
    assert_eq!(
        (seqs(&s.messages), s.complete),
        (vec![4, 5, 6, 7, 8], false)
    );
    let s = h.since(&r, 0, 8).expect("since");
    assert_eq!(
        (seqs(&s.messages), s.complete),
        (vec![4, 5, 6, 7, 8], false)
    );
    let s = h.since(&r, 6, 7).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), (vec![7], true));
    let s = h.since(&r, 8, 8).expect("since");
    assert_eq!((s.messages.len(), s.complete), (0, true));
    let s = h.since(&r, 9, 8).expect("since");
    assert_eq!((s.messages.len(), s.complete), (0, false));
}

fn since_never_reaches_past_upto(make: Make<'_>) {
    let mut f = make(keep(100));
    fill(f.history(), 5);
    let h = f.history();
    let r = room("r");
    let s = h.since(&r, 2, 3).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), (vec![3], true));
    let p = h.page(&r, 4, 10).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![1, 2, 3], false));
}

fn page_walks_backwards_with_exact_has_more(make: Make<'_>) {
    let mut f = make(keep(100));
    fill(f.history(), 5);
    f.settle();
    let h = f.history();
    let r = room("r");
    let p = h.page(&r, 6, 2).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![4, 5], true));
    let p = h.page(&r, 4, 3).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![1, 2, 3], false));
    let p = h.page(&r, 4, 2).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![2, 3], true));
    let p = h.page(&r, 1, 3).expect("page");
    assert_eq!((p.messages.len(), p.has_more), (0, false));
    let p = h.page(&r, u64::MAX, 10).expect("page");
    assert_eq!(
        (seqs(&p.messages), p.has_more),
        (vec![1, 2, 3, 4, 5], false)
    );
    let p = h.page(&r, u64::MAX, 0).expect("page");
    assert_eq!((p.messages.len(), p.has_more), (0, true));
}

fn a_long_history_pages_back_to_the_first_message(make: Make<'_>) {
    let mut f = make(keep(1_000));
    fill(f.history(), 60);
    f.settle();
    let h = f.history();
    let r = room("r");
    let mut before = u64::MAX;
    let mut seen = Vec::new();
    loop {
        let p = h.page(&r, before, 7).expect("page");
        assert!(!p.messages.is_empty(), "a page before {before}");
        before = p.messages[0].seq;
        seen.splice(0..0, seqs(&p.messages));
        assert_eq!(p.has_more, before > 1, "has_more before {before}");
        if !p.has_more {
            break;
        }
    }
    assert_eq!(seen, (1..=60).collect::<Vec<_>>());
    let s = h.since(&r, 10, 60).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), ((11..=60).collect(), true));
}

fn max_age_drops_old_messages(make: Make<'_>) {
    let mut f = make(Retention {
        max_per_room: 100,
        max_age: Some(std::time::Duration::from_secs(60)),
    });
    append(f.history(), draft("r", "old", None), now_ms() - 120_000);
    append(f.history(), draft("r", "new", None), now_ms());
    f.settle();
    let h = f.history();
    let p = h.page(&room("r"), u64::MAX, 10).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![2], false));
    let s = h.since(&room("r"), 0, 2).expect("since");
    assert_eq!((seqs(&s.messages), s.complete), (vec![2], false));
    assert_eq!(h.last_seq(&room("r")).ok(), Some(2));
}

fn an_age_limit_past_u64_milliseconds_keeps_everything(make: Make<'_>) {
    // 2^64 ms and 384 ms more: cut to 64 bits it would be 384 ms.
    let huge = std::time::Duration::from_millis(u64::MAX) + std::time::Duration::from_millis(385);
    let mut f = make(Retention {
        max_per_room: 100,
        max_age: Some(huge),
    });
    append(f.history(), draft("r", "old", None), now_ms() - 120_000);
    append(f.history(), draft("r", "new", None), now_ms());
    f.settle();
    let p = f.history().page(&room("r"), u64::MAX, 10).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![1, 2], false));
}

fn retention_never_reuses_a_seq(make: Make<'_>) {
    let mut f = make(keep(2));
    fill(f.history(), 5);
    f.settle();
    let p = f.history().page(&room("r"), u64::MAX, 10).expect("page");
    assert_eq!((seqs(&p.messages), p.has_more), (vec![4, 5], false));
    assert_eq!(f.history().last_seq(&room("r")).ok(), Some(5));
    let next = append(f.history(), draft("r", "next", None), now_ms());
    assert_eq!(next.seq, 6);
}

fn resend_finds_the_stored_message(make: Make<'_>) {
    let mut f = make(keep(100));
    append(f.history(), draft("r", "hello", Some("c1")), now_ms());
    fill(f.history(), 3);
    f.settle();
    let h = f.history();
    let found = h.find_resend(&room("r"), "c1", now_ms()).expect("lookup");
    assert_eq!(found.map(|m| (m.seq, text(&m))), Some((1, "hello".into())));
    assert!(
        h.find_resend(&room("r"), "c2", now_ms())
            .expect("lookup")
            .is_none()
    );
    assert!(
        h.find_resend(&room("other"), "c1", now_ms())
            .expect("lookup")
            .is_none()
    );
}

fn resend_window_is_1000_messages_or_10_minutes(make: Make<'_>) {
    let mut f = make(keep(10_000));
    let eleven_minutes_ago = now_ms() - 11 * 60 * 1_000;
    append(
        f.history(),
        draft("r", "a", Some("old")),
        eleven_minutes_ago,
    );
    append(
        f.history(),
        draft("r", "b", Some("aged")),
        eleven_minutes_ago,
    );
    for i in 0..998 {
        append(f.history(), draft("r", &format!("f{i}"), None), now_ms());
    }
    append(f.history(), draft("r", "c", Some("young")), now_ms());
    f.settle();
    let h = f.history();
    let r = room("r");
    // 1,000 messages after it (so not among the last 1,000) and 11 minutes old: forgotten.
    assert!(
        h.find_resend(&r, "old", now_ms())
            .expect("lookup")
            .is_none()
    );
    // 11 minutes old but among the last 1,000 messages (999 after it): found.
    let aged = h.find_resend(&r, "aged", now_ms()).expect("lookup");
    assert_eq!(aged.map(|m| m.seq), Some(2));
    let young = h.find_resend(&r, "young", now_ms()).expect("lookup");
    assert_eq!(young.map(|m| m.seq), Some(1_001));
}

fn rooms_are_independent(make: Make<'_>) {
    let mut f = make(keep(100));
    append(f.history(), draft("a", "a1", None), now_ms());
    append(f.history(), draft("b", "b1", Some("x")), now_ms());
    append(f.history(), draft("a", "a2", Some("x")), now_ms());
    f.settle();
    let h = f.history();
    assert_eq!(h.last_seq(&room("a")).ok(), Some(2));
    assert_eq!(h.last_seq(&room("b")).ok(), Some(1));
    let p = h.page(&room("b"), u64::MAX, 10).expect("page");
    assert_eq!(
        p.messages.iter().map(|m| text(m)).collect::<Vec<_>>(),
        ["b1"]
    );
    let found = h.find_resend(&room("b"), "x", now_ms()).expect("lookup");
    assert_eq!(found.map(|m| text(&m)), Some("b1".into()));
}

fn an_unknown_room_is_empty(make: Make<'_>) {
    let mut f = make(keep(100));
    fill(f.history(), 2);
    f.settle();
    let h = f.history();
    let r = room("nobody-here");
    assert_eq!(h.last_seq(&r).ok(), Some(0));
    let s = h.since(&r, 0, 0).expect("since");
    assert_eq!((s.messages.len(), s.complete), (0, true));
    let s = h.since(&r, 5, 0).expect("since");
    assert_eq!((s.messages.len(), s.complete), (0, false));
    let p = h.page(&r, u64::MAX, 10).expect("page");
    assert_eq!((p.messages.len(), p.has_more), (0, false));
    assert!(h.find_resend(&r, "c1", now_ms()).expect("lookup").is_none());
}

fn messages_keep_every_field(make: Make<'_>) {
    let mut f = make(keep(100));
    let first = append(
        f.history(),
        Draft::message(
            room("r"),
            User::new("u_7f3a", "Zoë"),
            "héllo ✓ \"quoted\"\n".into(),
            Some("c-1".into()),
        ),
        1_763_800_000_000,
    );
    let second = append(f.history(), draft("r", "plain", None), 1_763_800_000_001);
    f.settle();
    let p = f.history().page(&room("r"), u64::MAX, 10).expect("page");
    assert_eq!(p.messages, vec![first, second]);
}
