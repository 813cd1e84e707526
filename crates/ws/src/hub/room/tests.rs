//! A room's fan-out: order around answers and held presence, and flushes cut into slices.

use super::*;

use crate::{
    hub::tests::{Inbox, attach},
    protocol::{PresenceEvent, RoomName, ServerFrame},
};

fn text(n: u32) -> Frame {
    Frame::from_json(format!(r#"{{"n":{n}}}"#))
}

/// Connection `conn` of `user` added to `room`, and what it receives.
fn add(room: &mut Room, conns: &mut Connections, conn: ConnId, user: &User) -> Inbox {
    let (slot, inbox) = attach(conns, conn, user);
    room.add(conn, slot, user);
    inbox
}

/// A room with alice (connection 1) and bob (2), their connections, alice, a presence
/// frame about her, and what each receives.
fn alice_and_bob() -> (Room, Connections, User, Frame, Inbox, Inbox) {
    let name = RoomName::parse("r").expect("room");
    let alice = User::new("u_a", "alice");
    let mut conns = Connections::new(crate::hub::tests::LIMITS);
    let mut room = Room::new();
    let a_out = add(&mut room, &mut conns, 1, &alice);
    let b_out = add(&mut room, &mut conns, 2, &User::new("u_b", "bob"));
    let about_alice = ServerFrame::Presence {
        room: &name,
        event: PresenceEvent::Join,
        user: &alice,
    }
    .encode();
    (room, conns, alice, about_alice, a_out, b_out)
}

#[tokio::test]
async fn held_presence_goes_out_before_an_answer_corked_after_it() {
    let (mut room, mut conns, alice, about_alice, _a_out, mut b_out) = alice_and_bob();
    room.hold(about_alice, &alice.id, PresenceEvent::Join);
    assert!(room.send_to(2, text(1)));
    let mut failed = Vec::new();
    room.flush_one(2, &mut conns, &mut failed);
    assert!(failed.is_empty());

    let first = b_out.next().await;
    assert!(first.contains(r#""type":"presence""#), "got {first}");
    assert_eq!(b_out.next().await, r#"{"n":1}"#);
}

#[tokio::test]
async fn a_batch_reaches_each_member_in_order_around_its_own_answers() {
    let (mut room, mut conns, alice, about_alice, mut a_out, mut b_out) = alice_and_bob();

    assert_eq!(room.broadcast(text(1), None), 2);
    assert_eq!(room.broadcast(about_alice, Some(&alice.id)), 1);
    assert!(room.send_to(2, text(2)));
    assert_eq!(room.broadcast(text(3), None), 2);
    // Joined mid-batch: only what is broadcast from now on.
    let mut c_out = add(&mut room, &mut conns, 3, &User::new("u_c", "carol"));
    assert_eq!(room.broadcast(text(4), None), 3);
    let mut failed = Vec::new();
    let (frames, _) = room.flush(Instant::now(), &mut conns, &mut failed);
    assert!(failed.is_empty());
    assert_eq!(frames, 3 + 5 + 1);

    for (out, expected) in [
        (&mut a_out, vec!["1", "3", "4"]),
        (&mut b_out, vec!["1", "presence", "2", "3", "4"]),
        (&mut c_out, vec!["4"]),
    ] {
        for want in expected {
            let got = out.next().await;
            let matches = if want == "presence" {
                got.contains(r#""type":"presence""#) && got.contains("u_a")
            } else {
                got == format!(r#"{{"n":{want}}}"#)
            };
            assert!(matches, "wanted {want}, got {got}");
        }
    }
}

/// Alice (1), bob (2) and carol (3) in one room, their connections, and what each
/// receives.
fn three_members() -> (Room, Connections, Vec<Inbox>) {
    let mut room = Room::new();
    let mut conns = Connections::new(crate::hub::tests::LIMITS);
    let mut outs = Vec::new();
    for (conn, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        let user = User::new(format!("u_{name}"), name);
        outs.push(add(&mut room, &mut conns, conn, &user));
    }
    (room, conns, outs)
}

#[tokio::test]
async fn a_frame_broadcast_during_a_cut_flush_reaches_everyone_in_order() {
    let (mut room, mut conns, mut outs) = three_members();
    let mut failed = Vec::new();
    room.broadcast(text(1), None);
    // Alice's write, then the flush is cut off and a second message arrives.
    let (frames, _, done) = room.flush_some(Instant::now(), &mut 1, &mut conns, &mut failed);
    assert_eq!((frames, done), (1, None));
    room.broadcast(text(2), None);
    // Bob and carol get both in one write each; alice gets the second in another pass.
    let (frames, _, done) = room.flush_some(Instant::now(), &mut 10, &mut conns, &mut failed);
    assert_eq!((frames, done.is_some()), (2 + 2 + 1, true));
    assert!(failed.is_empty());
    for out in &mut outs {
        assert_eq!(out.next().await, r#"{"n":1}"#);
        assert_eq!(out.next().await, r#"{"n":2}"#);
    }
}

#[tokio::test]
async fn a_member_moved_behind_a_cut_flush_still_gets_its_frames() {
    let (mut room, mut conns, mut outs) = three_members();
    let mut failed = Vec::new();
    room.broadcast(text(1), None);
    assert!(
        room.flush_some(Instant::now(), &mut 2, &mut conns, &mut failed)
            .2
            .is_none()
    );
    // Alice leaves: carol, not yet written, moves into her place, behind the cut.
    assert!(room.remove(1).is_some());
    let (frames, _, done) = room.flush_some(Instant::now(), &mut 10, &mut conns, &mut failed);
    assert_eq!((frames, done.is_some()), (1, true));
    assert_eq!(outs[2].next().await, r#"{"n":1}"#);
    assert_eq!(outs[1].next().await, r#"{"n":1}"#);
}

#[tokio::test]
async fn a_flush_that_never_catches_up_keeps_only_the_recent_frames() {
    let (mut room, mut conns, mut outs) = three_members();
    let mut failed = Vec::new();
    // A message arrives between every two writes, so the flush is never done.
    for n in 1..=30 {
        room.broadcast(text(n), None);
        let done = room
            .flush_some(Instant::now(), &mut 2, &mut conns, &mut failed)
            .2;
        assert!(done.is_none());
        assert!(room.batch.len() <= 6, "{} frames kept", room.batch.len());
    }
    room.flush(Instant::now(), &mut conns, &mut failed);
    assert!(failed.is_empty() && room.batch.is_empty());
    for out in &mut outs {
        for n in 1..=30 {
            assert_eq!(out.next().await, format!(r#"{{"n":{n}}}"#));
        }
    }
}

/// A presence frame of `event` about `user`.
fn presence(user: &User, event: PresenceEvent) -> Frame {
    let name = RoomName::parse("r").expect("room");
    ServerFrame::Presence {
        room: &name,
        event,
        user,
    }
    .encode()
}

#[tokio::test]
async fn a_join_and_a_leave_held_back_to_back_cancel_out_unless_someone_saw_the_join() {
    let (mut room, mut conns, _alice, _about_alice, _a_out, mut b_out) = alice_and_bob();
    let carol = User::new("u_c", "carol");
    let mut failed = Vec::new();
    room.hold(
        presence(&carol, PresenceEvent::Join),
        &carol.id,
        PresenceEvent::Join,
    );
    room.hold(
        presence(&carol, PresenceEvent::Leave),
        &carol.id,
        PresenceEvent::Leave,
    );
    assert!(!room.is_holding(), "a toggle nobody saw costs nothing");

    // Bob takes the held join with an answer: the leave must follow it.
    room.hold(
        presence(&carol, PresenceEvent::Join),
        &carol.id,
        PresenceEvent::Join,
    );
    assert!(room.send_to(2, text(1)));
    room.flush_one(2, &mut conns, &mut failed);
    room.hold(
        presence(&carol, PresenceEvent::Leave),
        &carol.id,
        PresenceEvent::Leave,
    );
    assert!(room.is_holding());
    room.flush(Instant::now(), &mut conns, &mut failed);
    assert!(failed.is_empty());
    for (want, then) in [("join", None), ("", Some(r#"{"n":1}"#)), ("leave", None)] {
        let got = b_out.next().await;
        match then {
            Some(exact) => assert_eq!(got, exact),
            None => assert!(got.contains(&format!(r#""event":"{want}""#)), "{got}"),
        }
    }
}
