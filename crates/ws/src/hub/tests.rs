//! The hub without sockets: connections attached with in-memory outboxes, storage behind the
//! local broker over a scripted history whose commits the test reports itself.

use std::time::Duration;

use super::{
    Command, HubConfig, HubHandle,
    connections::{Connections, Slot},
    rooms::Rooms,
};
use crate::{
    broker::LocalBroker,
    conn::{ConnId, Outbound, Outbox, QueueLimits},
    history::{
        Commit, HistoryError,
        scripted::{Script, Scripted},
    },
    metrics::Metrics,
    protocol::{Frame, Request, RoomName, User},
};

/// Queue limits for test connections: roomy.
pub(super) const LIMITS: QueueLimits = QueueLimits {
    frames: 1024,
    bytes: 1 << 20,
};

/// What a test connection receives, frame by frame.
pub(super) struct Inbox {
    out: Outbound,
    /// Bytes handed over and not yet read as frames (a room's frames come laid end to end).
    buf: Vec<u8>,
}

impl Inbox {
    pub(super) fn new(out: Outbound) -> Self {
        Self {
            out,
            buf: Vec::new(),
        }
    }

    /// The next frame's text (server frames are unmasked: a 2-, 4- or 10-byte header).
    pub(super) async fn next(&mut self) -> String {
        let read = async {
            loop {
                if let Some(text) = self.take_frame() {
                    return text;
                }
                let frame = self.out.next().await.expect("the connection is open");
                self.buf.extend_from_slice(frame.wire());
                self.out.written(&frame);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a frame in time")
    }

    fn take_frame(&mut self) -> Option<String> {
        let buf = &self.buf;
        let (header, len) = match *buf.get(1)? & 0x7f {
            126 => (
                4,
                usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            ),
            127 => (
                10,
                u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            ),
            n => (2, usize::from(n)),
        };
        let payload = buf.get(header..header + len)?;
        let text = String::from_utf8_lossy(payload).into_owned();
        self.buf.drain(..header + len);
        Some(text)
    }
}

/// Connection `conn` of `user`, attached to `conns` with an in-memory outbox.
pub(super) fn attach(conns: &mut Connections, conn: ConnId, user: &User) -> (Slot, Inbox) {
    let (outbox, out) = Outbox::channel();
    conns.attach(conn, user.clone(), outbox);
    (conns.slot(conn).expect("attached"), Inbox::new(out))
}

/// A hub over a scripted history, the channel to report its commits on, and the channel its
/// appends come out of.
struct Scene {
    hub: HubHandle,
    task: tokio::task::JoinHandle<()>,
    script: Script,
}

fn scene(broken: bool) -> Scene {
    let (history, script) = Scripted::new(broken);
    let broker = LocalBroker::new(Box::new(history), 10, metrics::Histogram::noop());
    let config = HubConfig {
        max_rooms: 4,
        queue: LIMITS,
        files: None,
    };
    let (hub, task) = HubHandle::spawn(Box::new(broker), config, Metrics::noop());
    Scene { hub, task, script }
}

impl Scene {
    /// Attaches connection `conn` of alice; what it receives.
    async fn connect(&self, conn: ConnId) -> Inbox {
        let (outbox, out) = Outbox::channel();
        let user = User::new(format!("u_{conn}"), "alice");
        let outbox = Box::new(outbox);
        self.tell(Command::Attach { conn, user, outbox }).await;
        Inbox::new(out)
    }

    async fn tell(&self, command: Command) {
        self.hub.send(command).await.expect("hub running");
    }

    async fn ask(&self, conn: ConnId, request: Request) {
        let reference = match &request {
            Request::Send { id, .. }
            | Request::Edit { id, .. }
            | Request::Delete { id, .. }
            | Request::React { id, .. } => id.clone(),
            _ => None,
        };
        self.tell(Command::Request {
            conn,
            request,
            reference,
        })
        .await;
    }

    async fn join(&self, conn: ConnId) {
        let request = Request::Join {
            room: room(),
            since: None,
        };
        self.ask(conn, request).await;
    }

    async fn send(&self, conn: ConnId, text: &str, id: &str) {
        let request = Request::Send {
            room: room(),
            text: text.into(),
            id: Some(id.into()),
            files: None,
        };
        self.ask(conn, request).await;
    }

    /// A history round trip: proves every earlier command was taken.
    async fn round_trip(&self, conn: ConnId, inbox: &mut Inbox) {
        let request = Request::History {
            room: room(),
            before: None,
            limit: 1,
        };
        self.ask(conn, request).await;
        let frame = inbox.next().await;
        assert!(frame.contains(r#""type":"history""#), "{frame}");
    }

    async fn stop(self) {
        drop(self.hub);
        self.task
            .await
            .expect("the hub ends when its handles are gone");
    }
}

fn room() -> RoomName {
    RoomName::parse("r").expect("valid room")
}

#[tokio::test]
async fn delivery_waits_for_the_commit_and_a_failed_write_answers_internal() {
    let mut scene = scene(false);
    let mut inbox = scene.connect(1).await;
    scene.join(1).await;
    assert!(inbox.next().await.contains(r#""type":"joined""#));

    scene.send(1, "lost", "c1").await;
    scene.send(1, "kept", "c2").await;
    // A history round trip proves both sends were appended (and nothing was delivered).
    scene.round_trip(1, &mut inbox).await;
    let lost = scene.script.appended.recv().await.expect("appended");
    let kept = scene.script.appended.recv().await.expect("appended");
    scene
        .script
        .report
        .send(Commit::Failed {
            events: vec![lost],
            error: HistoryError("disk full".into()),
        })
        .expect("hub listening");
    let error = inbox.next().await;
    assert!(
        error.contains(r#""code":"internal""#) && error.contains(r#""ref":"c1""#),
        "{error}"
    );
    scene
        .script
        .report
        .send(Commit::Durable(vec![kept]))
        .expect("hub listening");
    let message = inbox.next().await;
    assert!(message.contains(r#""text":"kept""#), "{message}");
    // Nothing else came before the next answer: the lost message was never sent.
    scene.round_trip(1, &mut inbox).await;
    scene.stop().await;
}

#[tokio::test]
async fn after_a_join_that_failed_a_send_to_the_room_is_answered_not_joined() {
    let scene = scene(true);
    let mut inbox = scene.connect(1).await;
    scene.join(1).await;
    let error = inbox.next().await;
    assert!(error.contains(r#""code":"internal""#), "{error}");
    scene.send(1, "hello?", "c1").await;
    let answer = inbox.next().await;
    assert!(
        answer.contains(r#""code":"not_joined""#) && answer.contains(r#""ref":"c1""#),
        "{answer}"
    );
    scene.stop().await;
}

#[tokio::test]
async fn a_refused_change_is_answered_to_its_sender_alone_and_needs_membership() {
    let scene = scene(false);
    let (mut alice, mut bob) = (scene.connect(1).await, scene.connect(2).await);
    for (conn, inbox) in [(1, &mut alice), (2, &mut bob)] {
        scene.join(conn).await;
        assert!(inbox.next().await.contains(r#""type":"joined""#));
    }
    let delete = |id: &str| Request::Delete {
        room: room(),
        target: 0,
        id: Some(id.into()),
    };
    scene.ask(1, delete("x1")).await;
    let mut error = alice.next().await;
    if error.contains(r#""type":"presence""#) {
        error = alice.next().await;
    }
    assert!(
        error.contains(r#""code":"not_found""#) && error.contains(r#""ref":"x1""#),
        "{error}"
    );
    // Bob gets nothing of it: the next frame he gets is his own answer.
    scene.round_trip(2, &mut bob).await;

    let mut carol = scene.connect(3).await;
    scene.ask(3, delete("x2")).await;
    let error = carol.next().await;
    assert!(
        error.contains(r#""code":"not_joined""#) && error.contains(r#""ref":"x2""#),
        "{error}"
    );
    scene.stop().await;
}

#[tokio::test]
async fn a_room_that_keeps_getting_frames_holds_no_other_room_back() {
    let mut conns = Connections::new(LIMITS);
    let mut rooms = Rooms::new(Metrics::noop(), true);
    let (big, small) = (
        RoomName::parse("big").expect("room"),
        RoomName::parse("small").expect("room"),
    );
    let mut outs = Vec::new();
    for conn in 0..=super::flush::FLUSH_SLICE as u64 {
        let user = User::new(format!("u_{conn}"), "x");
        let (slot, out) = attach(&mut conns, conn, &user);
        rooms.room_mut(&big).add(conn, slot, &user);
        outs.push(out);
    }
    let bob = User::new("u_bob", "bob");
    let (slot, mut bob_out) = attach(&mut conns, 1000, &bob);
    rooms.room_mut(&small).add(1000, slot, &bob);
    let cork = |rooms: &mut Rooms, name: &RoomName, n: u32| {
        let frame = Frame::from_json(format!(r#"{{"n":{n}}}"#));
        let corked = rooms.room_mut(name).broadcast(frame, None);
        rooms.corked(name, corked);
    };
    let mut failed = Vec::new();
    cork(&mut rooms, &big, 1);
    cork(&mut rooms, &small, 2);
    // A frame for the big room arrives during every slice, so its flush never ends.
    for n in 3..6 {
        assert!(rooms.flush_slice(&mut conns, &mut failed));
        cork(&mut rooms, &big, n);
    }
    assert!(failed.is_empty());
    assert_eq!(bob_out.next().await, r#"{"n":2}"#);
}
