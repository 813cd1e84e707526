//! A history for tests that drive the broker and the hub: every append is queued, and the test
//! reports its commits itself; it hands the test each appended event and each released room,
//! and its reads fail while it is `broken`. A change to seq 0 is refused (`not_found`).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Appended, Commit, History, HistoryError, Page, Since};
use crate::{
    log::{Draft, Event, Refusal},
    protocol::RoomName,
};

pub(crate) struct Scripted {
    last_seq: u64,
    commits: Option<mpsc::UnboundedReceiver<Commit>>,
    appended: mpsc::UnboundedSender<Arc<Event>>,
    released: mpsc::UnboundedSender<RoomName>,
    broken: bool,
}

/// The test's ends of a [`Scripted`] history.
pub(crate) struct Script {
    /// Where the test reports commits.
    pub(crate) report: mpsc::UnboundedSender<Commit>,
    /// Each appended event, in order.
    pub(crate) appended: mpsc::UnboundedReceiver<Arc<Event>>,
    /// Each released room, in order.
    pub(crate) released: mpsc::UnboundedReceiver<RoomName>,
}

impl Scripted {
    /// A history whose reads fail when `broken`, and the test's ends of it.
    pub(crate) fn new(broken: bool) -> (Self, Script) {
        let (report, commits) = mpsc::unbounded_channel();
        let (appended_tx, appended) = mpsc::unbounded_channel();
        let (released_tx, released) = mpsc::unbounded_channel();
        let history = Self {
            last_seq: 0,
            commits: Some(commits),
            appended: appended_tx,
            released: released_tx,
            broken,
        };
        let script = Script {
            report,
            appended,
            released,
        };
        (history, script)
    }

    fn read(&self) -> Result<(), HistoryError> {
        if self.broken {
            return Err(HistoryError("the disk is on fire".into()));
        }
        Ok(())
    }
}

impl History for Scripted {
    fn last_seq(&mut self, _: &RoomName) -> Result<u64, HistoryError> {
        self.read()?;
        Ok(self.last_seq)
    }

    fn append(&mut self, draft: Draft, ts: u64) -> Result<Appended, HistoryError> {
        // No message has seq 0.
        if draft.kind.target() == Some(0) {
            return Ok(Appended::Refused(Refusal::NotFound));
        }
        self.last_seq += 1;
        let event = Arc::new(draft.sequence(self.last_seq, ts));
        let _ = self.appended.send(event.clone());
        Ok(Appended::Queued(event))
    }

    fn since(&mut self, _: &RoomName, _: u64, _: u64) -> Result<Since, HistoryError> {
        self.read()?;
        Ok(Since::default())
    }

    fn page(&mut self, _: &RoomName, _: u64, _: usize) -> Result<Page, HistoryError> {
        self.read()?;
        Ok(Page::default())
    }

    fn find_resend(
        &mut self,
        _: &RoomName,
        _: &str,
        _: u64,
    ) -> Result<Option<Arc<Event>>, HistoryError> {
        Ok(None)
    }

    fn take_commits(&mut self) -> Option<mpsc::UnboundedReceiver<Commit>> {
        self.commits.take()
    }

    fn release(&mut self, room: &RoomName) {
        let _ = self.released.send(room.clone());
    }
}
