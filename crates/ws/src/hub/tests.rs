//! The hub against a scripted durable history: delivery waits for the commit report, and a
//! failed write reaches its sender alone as `internal`.

use std::sync::Arc;

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

use super::{Command, HubConfig, HubHandle, Outlet, Peer, Sender};
use crate::{
    history::{Appended, Commit, History, HistoryError, Page, Since},
    protocol::{ChatMessage, MessageDraft, RoomName, User},
};

/// Sequences every append and answers `Queued`; the test reports the commits itself.
#[derive(Default)]
pub(super) struct Scripted {
    last_seq: u64,
    commits: Option<mpsc::UnboundedReceiver<Commit>>,
}

impl History for Scripted {
    fn last_seq(&mut self, _: &RoomName) -> Result<u64, HistoryError> {
        Ok(self.last_seq)
    }

    fn append(&mut self, draft: MessageDraft, ts: u64) -> Result<Appended, HistoryError> {
        self.last_seq += 1;
        Ok(Appended::Queued(Arc::new(
            draft.sequence(self.last_seq, ts),
        )))
    }

    fn since(&mut self, _: &RoomName, _: u64, _: u64) -> Result<Since, HistoryError> {
        Ok(Since::default())
    }

    fn page(&mut self, _: &RoomName, _: u64, _: usize) -> Result<Page, HistoryError> {
        Ok(Page::default())
    }

    fn find_resend(
        &mut self,
        _: &RoomName,
        _: &str,
        _: u64,
    ) -> Result<Option<Arc<ChatMessage>>, HistoryError> {
        Ok(None)
    }

    fn take_commits(&mut self) -> Option<mpsc::UnboundedReceiver<Commit>> {
        self.commits.take()
    }
}

fn room() -> RoomName {
    RoomName::parse("r").expect("valid room")
}

/// A peer whose socket's other end is returned, to read what the hub wrote.
async fn connected_peer() -> (Arc<Peer>, TcpStream) {
    peer_as(1, User::new("u_1", "alice")).await
}

/// Connection `conn` of `user`, and its socket's other end.
pub(super) async fn peer_as(conn: u64, user: User) -> (Arc<Peer>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    let sender = Sender::new(Outlet::new(server, 16));
    let peer = Arc::new(Peer::new(conn, user, sender));
    // Nothing reads the server's side: this test only reads what the hub writes.
    (peer, client)
}

/// The next server frame's text (server frames are unmasked: a 2-, 4- or 10-byte header).
pub(super) async fn next(client: &mut TcpStream) -> String {
    let read = async {
        let mut header = [0u8; 2];
        client.read_exact(&mut header).await?;
        let len = match header[1] & 0x7f {
            126 => usize::from(client.read_u16().await?),
            127 => client.read_u64().await? as usize,
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        client.read_exact(&mut payload).await?;
        std::io::Result::Ok(String::from_utf8_lossy(&payload).into_owned())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .expect("a frame in time")
        .expect("the socket is open")
}

async fn history_round_trip(hub: &HubHandle, client: &mut TcpStream) {
    hub.send(Command::History {
        conn: 1,
        room: room(),
        before: None,
        limit: 1,
    })
    .await
    .expect("hub running");
    let frame = next(client).await;
    assert!(frame.contains(r#""type":"history""#), "{frame}");
}

async fn send(hub: &HubHandle, conn: u64, text: &str, id: &str) {
    hub.send(Command::Send {
        conn,
        room: room(),
        text: text.into(),
        client_id: Some(id.into()),
    })
    .await
    .expect("hub running");
}

#[tokio::test]
async fn delivery_waits_for_the_commit_and_a_failed_write_answers_internal() {
    let (report, commits) = mpsc::unbounded_channel();
    let history = Scripted {
        last_seq: 0,
        commits: Some(commits),
    };
    let (hub, task) = HubHandle::spawn(
        Box::new(history),
        HubConfig { on_join: 10 },
        crate::metrics::Metrics::noop(),
    );
    let (peer, mut outbox) = connected_peer().await;
    hub.send(Command::Join {
        peer,
        room: room(),
        since: None,
    })
    .await
    .expect("hub running");
    assert!(next(&mut outbox).await.contains(r#""type":"joined""#));

    send(&hub, 1, "lost", "c1").await;
    send(&hub, 1, "kept", "c2").await;
    // A history round trip proves both sends were appended (and nothing was delivered).
    history_round_trip(&hub, &mut outbox).await;
    report
        .send(Commit::Failed {
            count: 1,
            error: HistoryError("disk full".into()),
        })
        .expect("hub listening");
    let error = next(&mut outbox).await;
    assert!(
        error.contains(r#""code":"internal""#) && error.contains(r#""ref":"c1""#),
        "{error}"
    );
    report.send(Commit::Durable(1)).expect("hub listening");
    let message = next(&mut outbox).await;
    assert!(message.contains(r#""text":"kept""#), "{message}");
    // Nothing else came before the next answer: the lost message was never sent.
    history_round_trip(&hub, &mut outbox).await;

    drop(hub);
    task.await.expect("the hub ends when its handles are gone");
}
