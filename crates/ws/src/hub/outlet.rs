//! The sending side of one connection, shared by the hub, the reader and the writer task.
//!
//! The hub writes straight to the socket when the connection has nothing waiting: at the end
//! of each batch of commands it hands every connection the frames the batch produced for it,
//! and one socket write sends them (uWebSockets calls this corking). Batches grow with load, so
//! the cost per delivery falls as the load rises, and a lone message waits for nothing.
//!
//! The reader's own frames (welcome, answers, pings, pongs) take the same direct path.
//!
//! Whatever cannot go out at once (a full socket, a close frame) goes into the connection's
//! bounded queue, which its writer task drains. Most connections never need one, so the queue
//! and the writer are created together on first use: an idle connection keeps neither. Order
//! is kept by a write token and two counters: a frame may be written directly only while its
//! sender holds the token and every frame ever queued has been written (`queued == written`);
//! otherwise it queues behind them. A queue that overflows marks the connection evicted, and
//! its writer closes it with 4008.

use std::{
    io::{self, IoSlice},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::SeqCst},
    },
};

use smallvec::SmallVec;
use tokio::{
    io::Interest,
    net::TcpStream,
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

/// The connection's socket and the state that orders writes to it.
///
/// `repr(C, align(64))` keeps what a direct write reads (the socket's descriptor, the
/// counters and the flags) in one cache line: a fan-out touches every member's outlet once,
/// after the previous member's write has pushed it out of the cache, and each line it needs
/// is a miss. That is why the outlet owns the socket itself rather than a write half (which
/// points to the socket elsewhere: one more miss per delivery), and the reader reads through
/// it. The whole outlet takes three lines (192 bytes; the `Arc` puts one more in front for
/// its counts), the first holding what a direct write reads, which is why the counts below
/// are 32-bit.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Outlet {
    socket: TcpStream,
    /// WebSocket frames ever put in the queue, and those the writer task has written.
    queued: AtomicU64,
    written: AtomicU64,
    token: AtomicU8,
    evicted: AtomicBool,
    /// A close frame went out (or is on its way): nothing more may be written.
    closed: AtomicBool,
    /// The writer is done with the socket: the reader must stop.
    stop_reader: AtomicBool,
    /// 0 no writer, 1 running, 2 done.
    writer: AtomicU8,
    /// WebSocket frames the queue holds at most.
    capacity: u32,
    /// Live [`Sender`]s: at zero no frame can be queued any more and the writer may end.
    senders: AtomicU32,
    /// The queue for frames that must wait, made (with its writer task) on first use.
    queue: OnceLock<mpsc::Sender<Frame>>,
    /// Wakes the writer: eviction, or the last sender gone. Each wake-up goes to one waiter,
    /// so the writer waits on it in one place at a time (as the reader does on its own).
    writer_wake: Notify,
    /// Wakes the reader: stop, or the writer done.
    reader_wake: Notify,
}

// Three cache lines, the direct write's fields in the first, as said above; a field added must
// keep it so or change the comment.
const _: () = assert!(std::mem::size_of::<Outlet>() == 192);
const _: () = assert!(std::mem::offset_of!(Outlet, closed) < 64);

/// Where a connection's frames go: straight to its socket, or into its queue.
#[derive(Debug)]
pub struct Sender {
    outlet: Arc<Outlet>,
}

const NO_WRITER: u8 = 0;
const WRITER_RUNNING: u8 = 1;
const WRITER_DONE: u8 = 2;

impl Outlet {
    /// The outlet of `socket`, queueing at most `capacity` frames.
    pub fn new(socket: TcpStream, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            socket,
            token: AtomicU8::new(IDLE),
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            queue: OnceLock::new(),
            // Beyond 4 billion frames a queue is unbounded in all but name anyway.
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            senders: AtomicU32::new(0),
            stop_reader: AtomicBool::new(false),
            writer: AtomicU8::new(NO_WRITER),
            writer_wake: Notify::new(),
            reader_wake: Notify::new(),
        })
    }

    /// Marks the connection as too slow; its writer closes it with 4008. (Eviction follows a
    /// refused frame, so the queue and its writer exist.)
    pub fn evict(&self) {
        self.evicted.store(true, SeqCst);
        // notify_one keeps a permit when the writer is not waiting yet.
        self.writer_wake.notify_one();
    }

    /// Whether the connection was marked too slow.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(SeqCst)
    }

    /// Completes once the connection is marked too slow. Cancel-safe.
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.writer_wake.notified().await;
        }
    }

    /// Completes once no [`Sender`] is left: nothing more can be queued. Cancel-safe.
    pub(crate) async fn orphaned(&self) {
        while self.senders.load(SeqCst) > 0 {
            self.writer_wake.notified().await;
        }
    }

    /// The writer is done with the socket; the reader stops.
    pub(crate) fn writer_done(&self) {
        self.stop_reader.store(true, SeqCst);
        self.writer.store(WRITER_DONE, SeqCst);
        self.reader_wake.notify_one();
    }

    /// Completes once the writer asks the reader to stop. Cancel-safe.
    pub(crate) async fn reader_stopped(&self) {
        while !self.stop_reader.load(SeqCst) {
            self.reader_wake.notified().await;
        }
    }

    /// Completes once the writer task, if one was started, has ended. Cancel-safe.
    pub(crate) async fn writer_finished(&self) {
        while self.writer.load(SeqCst) == WRITER_RUNNING {
            self.reader_wake.notified().await;
        }
    }

    /// The queue, made now with its writer task if this is its first use.
    fn queue(self: &Arc<Self>) -> &mpsc::Sender<Frame> {
        self.queue.get_or_init(|| {
            let (queue, frames) = mpsc::channel(self.capacity as usize);
            self.writer.store(WRITER_RUNNING, SeqCst);
            tokio::spawn(crate::client::writer::run(self.clone(), frames));
            queue
        })
    }

    /// The writer took a close frame: frames sent from now on are dropped.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, SeqCst);
    }

    /// The socket, for the writer task and the reader.
    pub(crate) fn socket(&self) -> &TcpStream {
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
    /// A sender writing through `outlet`.
    pub fn new(outlet: Arc<Outlet>) -> Self {
        outlet.senders.fetch_add(1, SeqCst);
        Self { outlet }
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

    /// Sends one frame, as [`send`](Self::send) does.
    pub fn send_one(&self, frame: Frame) -> bool {
        self.send(&mut vec![frame])
    }

    /// Queues one frame for the writer task (a close frame, which the writer must see).
    pub fn queue(&self, frame: Frame) -> bool {
        let mut one = vec![frame];
        self.enqueue(&mut one)
    }

    /// Queues one frame, waiting up to `wait` for room.
    pub async fn queue_timeout(&self, frame: Frame, wait: std::time::Duration) -> bool {
        self.outlet.queued.fetch_add(frame.frames(), SeqCst);
        if self.outlet.queue().send_timeout(frame, wait).await.is_err() {
            self.outlet.evict();
            return false;
        }
        true
    }

    /// Queues `frames` for the writer task. The queue is bounded in WebSocket frames (an
    /// entry laid out for a room carries several): past `capacity` the connection is evicted.
    fn enqueue(&self, frames: &mut Vec<Frame>) -> bool {
        if frames.is_empty() {
            return true;
        }
        let outlet = &self.outlet;
        let queue = outlet.queue();
        let mut queued = true;
        for frame in frames.drain(..) {
            let count = frame.frames();
            let waiting = outlet.queued.fetch_add(count, SeqCst) - outlet.written.load(SeqCst);
            // After one refusal the rest is dropped too: the connection is being closed.
            if queued
                && (waiting + count > u64::from(outlet.capacity) || queue.try_send(frame).is_err())
            {
                outlet.evict();
                queued = false;
            }
        }
        queued
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Self::new(self.outlet.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // The last sender gone: the writer, if any, writes what is left and ends.
        if self.outlet.senders.fetch_sub(1, SeqCst) == 1 {
            self.outlet.writer_wake.notify_one();
        }
    }
}

/// Writes as much of `frames` as the socket takes now, leaving in `frames` what it did not
/// take: `Ok(true)` and an empty vector when all went out; `Ok(false)` when the socket is full,
/// the first frame left possibly the unwritten end of one the kernel took in part (a
/// continuation, which must go out next). Never waits, so no progress is lost to a cancel.
pub(crate) fn write_now(socket: &TcpStream, frames: &mut Vec<Frame>) -> io::Result<bool> {
    let mut done = 0;
    while done < frames.len() {
        let sent = match &frames[done..] {
            // The usual fan-out write: one frame, or one slice of a room's laid-out frames.
            [one] => send_vectored(socket, &[IoSlice::new(one.wire())]),
            // Inline for a few frames: nothing to allocate per call.
            several => {
                let slices: SmallVec<[IoSlice<'_>; 16]> = several
                    .iter()
                    .take(MAX_SLICES)
                    .map(|frame| IoSlice::new(frame.wire()))
                    .collect();
                send_vectored(socket, &slices)
            }
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

/// Writes `slices` without waiting: `send` for one slice (the usual fan-out write, cheaper in
/// the kernel than `sendmsg`, which copies a message header and an iovec from user space) and
/// `sendmsg` for several (socket calls skip the file layer that `write`/`writev` go through).
///
/// Straight to the kernel first: tokio's `try_io` would read the socket's readiness, one more
/// cold cache line per member of a fan-out (a third of the hub's own time in scenario a). Only
/// a refusal goes through `try_io`, which tries again and, on `WouldBlock`, clears tokio's
/// readiness so that `writable()` then waits for room.
fn send_vectored(tcp: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let send = || {
        let socket = socket2::SockRef::from(tcp);
        match slices {
            [one] => socket.send(one),
            several => socket.send_vectored(several),
        }
    };
    match send() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => tcp.try_io(Interest::WRITABLE, send),
        sent => sent,
    }
}
