use super::outlet::Sender;
use crate::protocol::{Frame, User};

/// A connection's number, unique within the process.
pub type ConnId = u64;

/// The hub's view of one connection: who it is and where its frames go.
#[derive(Debug)]
pub struct Peer {
    pub conn: ConnId,
    pub user: User,
    sender: Sender,
}

impl Peer {
    /// A peer whose frames go through `sender`.
    pub fn new(conn: ConnId, user: User, sender: Sender) -> Self {
        Self { conn, user, sender }
    }

    /// Sends the frames (emptying the vector), in one socket write when the socket takes them.
    /// False means the connection cannot keep up (or is gone) and must be evicted.
    pub fn send(&self, frames: &mut Vec<Frame>) -> bool {
        self.sender.send(frames)
    }

    /// Where this connection's frames go.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Marks the connection as too slow: its writer closes it with 4008.
    pub fn evict(&self) {
        self.sender.outlet().evict();
    }

    /// Whether the connection was found too slow.
    pub fn is_evicted(&self) -> bool {
        self.sender.outlet().is_evicted()
    }
}
