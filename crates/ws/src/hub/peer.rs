use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::protocol::{Frame, User};

/// A connection's number, unique within the process.
pub type ConnId = u64;

/// The hub's view of one connection: who it is and where its frames go.
#[derive(Debug)]
pub struct Peer {
    pub conn: ConnId,
    pub user: User,
    outbox: mpsc::Sender<Frame>,
    /// Cancelled by the hub when the outbox overflows: the writer then closes with 4008.
    evicted: CancellationToken,
}

impl Peer {
    /// A peer delivering into `outbox`; `evicted` tells its writer to close it.
    pub fn new(
        conn: ConnId,
        user: User,
        outbox: mpsc::Sender<Frame>,
        evicted: CancellationToken,
    ) -> Self {
        Self {
            conn,
            user,
            outbox,
            evicted,
        }
    }

    /// Queues a frame without waiting. False means the connection cannot keep up (or is gone)
    /// and must be evicted.
    pub fn deliver(&self, frame: &Frame) -> bool {
        if self.evicted.is_cancelled() {
            return false;
        }
        match self.outbox.try_send(frame.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
        }
    }

    /// Marks the connection as too slow: its writer closes it with 4008.
    pub fn evict(&self) {
        self.evicted.cancel();
    }
}
