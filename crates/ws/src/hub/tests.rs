//! The hub against a scripted durable history: delivery waits for the commit report, and a
//! failed write reaches its sender alone as `internal`.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Command, Eviction, HubConfig, HubHandle, Peer};
use crate::{
    history::{Appended, Commit, History, HistoryError, Page, Since},
    protocol::{ChatMessage, Frame, MessageDraft, RoomName, User},
};

/// Sequences every append and answers `Queued`; the test reports the commits itself.
struct Scripted {
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

async fn next(outbox: &mut mpsc::Receiver<Frame>) -> String {
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), outbox.recv())
        .await
        .expect("a frame in time")
        .expect("the hub is running");
    frame.as_str().to_owned()
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
    let (outbox_tx, mut outbox) = mpsc::channel(16);
    let peer = Arc::new(Peer::new(
        1,
        User::new("u_1", "alice"),
        outbox_tx,
        Arc::new(Eviction::default()),
    ));
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
    hub.send(Command::History {
        conn: 1,
        room: room(),
        before: None,
        limit: 1,
    })
    .await
    .expect("hub running");
    assert!(next(&mut outbox).await.contains(r#""type":"history""#));
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
    assert!(
        outbox.try_recv().is_err(),
        "the lost message was never sent"
    );

    drop(hub);
    task.await.expect("the hub ends when its handles are gone");
}
