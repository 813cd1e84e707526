use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::{
    Notify,
    mpsc::{self, error::TrySendError},
};

use crate::protocol::{Frame, User};

/// A connection's number, unique within the process.
pub type ConnId = u64;

/// The hub's view of one connection: who it is and where its frames go.
#[derive(Debug)]
pub struct Peer {
    pub conn: ConnId,
    pub user: User,
    outbox: mpsc::Sender<Frame>,
    eviction: Arc<Eviction>,
}

/// The verdict that a connection is too slow, shared by whoever finds its queue full and its
/// writer, which then closes it with 4008.
///
/// A flag rather than a cancellation token: the hub checks it on every delivery, so it must
/// cost one atomic load. The writer waits on `wake` only while a write is stuck.
#[derive(Debug, Default)]
pub struct Eviction {
    evicted: AtomicBool,
    wake: Notify,
}

impl Eviction {
    /// Marks the connection as too slow and wakes its writer if a write is stuck.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        // notify_one keeps a permit when the writer is not waiting yet.
        self.wake.notify_one();
    }

    /// Whether the connection was marked too slow.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Completes once the connection is marked too slow.
    ///
    /// Cancel-safe.
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.wake.notified().await;
        }
    }
}

impl Peer {
    /// A peer delivering into `outbox`; `eviction` tells its writer to close it.
    pub fn new(
        conn: ConnId,
        user: User,
        outbox: mpsc::Sender<Frame>,
        eviction: Arc<Eviction>,
    ) -> Self {
        Self {
            conn,
            user,
            outbox,
            eviction,
        }
    }

    /// Queues a frame without waiting. False means the connection cannot keep up (or is gone)
    /// and must be evicted.
    pub fn deliver(&self, frame: &Frame) -> bool {
        if self.eviction.is_evicted() {
            return false;
        }
        match self.outbox.try_send(frame.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
        }
    }

    /// Marks the connection as too slow: its writer closes it with 4008.
    pub fn evict(&self) {
        self.eviction.evict();
    }
}
