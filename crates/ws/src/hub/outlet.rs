//! The sending side of one connection, shared by the hub, the reader and the writer task.
//!
//! The hub writes straight to the socket when the connection has nothing waiting: at the end
//! of each batch of commands it hands every connection the frames the batch produced for it,
//! and one vectored `sendmsg` sends them (uWebSockets calls this corking). Batches grow with load, so
//! the cost per delivery falls as the load rises, and a lone message waits for nothing.
//!
//! Whatever cannot go out at once (a full socket, a reply from the reader) goes into the
//! connection's bounded queue, which its writer task drains. Order is kept by a write token
//! and two counters: the hub may write directly only while it holds the token and every frame
//! ever queued has been written (`queued == written`); otherwise it queues behind them. A
//! queue that overflows marks the connection evicted, and its writer closes it with 4008.

use std::{
    io::{self, IoSlice},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::SeqCst},
    },
};

use smallvec::SmallVec;
use tokio::{
    io::Interest,
    net::{TcpStream, tcp::OwnedWriteHalf},
    sync::{Notify, mpsc},
};

use crate::protocol::Frame;

/// Nobody is writing.
const IDLE: u8 = 0;
/// The hub is writing (synchronously, inside one call).
const HUB: u8 = 1;
/// The writer task is writing frames it took from the queue.
const WRITER: u8 = 2;
/// Most frames handed to one `sendmsg` (Linux accepts 1024 slices).
const MAX_SLICES: usize = 256;

/// The socket's write half and the state that orders writes to it.
#[derive(Debug)]
pub struct Outlet {
    socket: OwnedWriteHalf,
    token: AtomicU8,
    /// Frames ever put in the queue, and frames the writer task has written.
    queued: AtomicU64,
    written: AtomicU64,
    evicted: AtomicBool,
    /// A close frame went out (or is on its way): nothing more may be written.
    closed: AtomicBool,
    /// Wakes a writer stuck on a full socket when the connection is evicted.
    evict_wake: Notify,
}

/// Where a connection's frames go: the outlet, and the queue for what must wait.
#[derive(Debug, Clone)]
pub struct Sender {
    outlet: Arc<Outlet>,
    queue: mpsc::Sender<Frame>,
}

impl Outlet {
    /// The outlet of a socket whose write half is `socket`.
    pub fn new(socket: OwnedWriteHalf) -> Arc<Self> {
        Arc::new(Self {
            socket,
            token: AtomicU8::new(IDLE),
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            evict_wake: Notify::new(),
        })
    }

    /// Marks the connection as too slow; its writer closes it with 4008.
    pub fn evict(&self) {
        self.evicted.store(true, SeqCst);
        // notify_one keeps a permit when the writer is not waiting yet.
        self.evict_wake.notify_one();
    }

    /// Whether the connection was marked too slow.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(SeqCst)
    }

    /// Completes once the connection is marked too slow. Cancel-safe.
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.evict_wake.notified().await;
        }
    }

    /// The writer took a close frame: frames sent from now on are dropped.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, SeqCst);
    }

    /// The write half, for the writer task.
    pub(crate) fn socket(&self) -> &OwnedWriteHalf {
        &self.socket
    }

    /// The writer task takes the token before writing frames it took from the queue. The hub
    /// holds it only inside one synchronous call, so this waits at most a moment (and never
    /// on a single-threaded runtime).
    pub(crate) async fn acquire_for_writer(&self) {
        while self
            .token
            .compare_exchange(IDLE, WRITER, SeqCst, SeqCst)
            .is_err()
        {
            tokio::task::yield_now().await;
        }
    }

    /// The writer task has written `frames` more queued frames and gives the token back.
    pub(crate) fn release_for_writer(&self, frames: u64) {
        self.written.fetch_add(frames, SeqCst);
        self.token.store(IDLE, SeqCst);
    }
}

impl Sender {
    /// A sender writing through `outlet`, queueing into `queue`.
    pub fn new(outlet: Arc<Outlet>, queue: mpsc::Sender<Frame>) -> Self {
        Self { outlet, queue }
    }

    /// The outlet this sender writes through.
    pub fn outlet(&self) -> &Arc<Outlet> {
        &self.outlet
    }

    /// Sends `frames` (emptying the vector): straight to the socket when nothing is waiting
    /// and the socket takes them, else into the queue. False means the connection is evicted
    /// (now or before) and should be dropped from its rooms.
    pub fn send(&self, frames: &mut Vec<Frame>) -> bool {
        if frames.is_empty() {
            return !self.outlet.is_evicted();
        }
        if self.outlet.is_evicted() {
            frames.clear();
            return false;
        }
        let outlet = &self.outlet;
        if outlet.closed.load(SeqCst) {
            // The connection is closing; its reader will take it out of its rooms.
            frames.clear();
            return true;
        }
        if outlet
            .token
            .compare_exchange(IDLE, HUB, SeqCst, SeqCst)
            .is_ok()
        {
            if outlet.queued.load(SeqCst) == outlet.written.load(SeqCst) {
                // What the socket did not take (nothing, when all went out) waits in the
                // queue, first in line, for the writer. A failed socket: the reader sees the
                // failure and ends.
                if write_now(&outlet.socket, frames).is_err() {
                    frames.clear();
                }
            }
            let queued = self.enqueue(frames);
            outlet.token.store(IDLE, SeqCst);
            return queued;
        }
        self.enqueue(frames)
    }

    /// Queues one frame for the writer task (the reader's replies, pings, closes).
    pub fn queue(&self, frame: Frame) -> bool {
        let mut one = vec![frame];
        self.enqueue(&mut one)
    }

    /// Queues one frame, waiting up to `wait` for room.
    pub async fn queue_timeout(&self, frame: Frame, wait: std::time::Duration) -> bool {
        self.outlet.queued.fetch_add(1, SeqCst);
        if self.queue.send_timeout(frame, wait).await.is_err() {
            self.outlet.evict();
            return false;
        }
        true
    }

    fn enqueue(&self, frames: &mut Vec<Frame>) -> bool {
        let mut queued = true;
        for frame in frames.drain(..) {
            self.outlet.queued.fetch_add(1, SeqCst);
            // After one refusal the rest is dropped too: the connection is being closed.
            if queued && self.queue.try_send(frame).is_err() {
                self.outlet.evict();
                queued = false;
            }
        }
        queued
    }
}

/// Writes as much of `frames` as the socket takes now, leaving in `frames` what it did not
/// take: `Ok(true)` and an empty vector when all went out; `Ok(false)` when the socket is full,
/// the first frame left possibly the unwritten end of one the kernel took in part (a
/// continuation, which must go out next). Never waits, so no progress is lost to a cancel.
pub(crate) fn write_now(socket: &OwnedWriteHalf, frames: &mut Vec<Frame>) -> io::Result<bool> {
    let mut done = 0;
    while done < frames.len() {
        // Inline for the usual few frames: nothing to initialize or allocate per call.
        let sent = {
            let slices: SmallVec<[IoSlice<'_>; 16]> = frames[done..]
                .iter()
                .take(MAX_SLICES)
                .map(|frame| IoSlice::new(frame.wire()))
                .collect();
            send_vectored(socket, &slices)
        };
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut written) => {
                while written > 0 {
                    let len = frames[done].len();
                    if written >= len {
                        written -= len;
                        done += 1;
                    } else {
                        frames[done] = frames[done].tail(written);
                        written = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                frames.drain(..done);
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    frames.clear();
    Ok(true)
}

/// Writes `slices` without waiting, with `sendmsg` rather than `writev`: a socket write that
/// skips the file layer (its position lock and checks), measurably cheaper per delivery. On
/// `WouldBlock` tokio's readiness is cleared, so `writable()` then waits for room.
fn send_vectored(socket: &OwnedWriteHalf, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let tcp: &TcpStream = socket.as_ref();
    tcp.try_io(Interest::WRITABLE, || {
        socket2::SockRef::from(tcp).send_vectored(slices)
    })
}
