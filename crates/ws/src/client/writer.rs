use std::{io, sync::Arc, time::Duration};

use tokio::{
    sync::mpsc,
    time::{Instant, timeout, timeout_at},
};
use tokio_util::sync::CancellationToken;

use crate::{
    hub::{MAX_SLICES, Outlet, send_vectored},
    protocol::Frame,
};

/// Most frames taken from the queue per wake-up.
const MAX_BATCH: usize = 256;
/// How long a close frame may take to go out before the socket is simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait, after a close frame, for the client's answering close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code for a client that cannot keep up with its outbound queue.
const SLOW_CONSUMER: u16 = 4008;

/// Drains the connection's queue onto the socket until the connection ends.
///
/// The queue holds what could not go out at once: the rest of what the hub wrote when the
/// socket was full, the reader's replies, pings, and the close frame the reader asks for
/// (idle, too large, shutdown). Every wake-up takes all of it and writes it with as few
/// `writev`s as the socket allows. The writer ends when every sender is gone (the reader has
/// ended and the hub has forgotten the connection), when the client is evicted, or
/// `CLOSE_LINGER` after a close frame; then it stops the reader too.
pub(super) async fn run(
    outlet: Arc<Outlet>,
    mut queue: mpsc::Receiver<Frame>,
    stop_reader: CancellationToken,
) {
    let mut batch = Batch::default();
    let mut closed_at: Option<Instant> = None;
    loop {
        let received = match closed_at {
            None => queue.recv_many(&mut batch.frames, MAX_BATCH).await,
            Some(at) => {
                let more = queue.recv_many(&mut batch.frames, MAX_BATCH);
                match timeout_at(at + CLOSE_LINGER, more).await {
                    Ok(received) => received,
                    Err(_lingered) => break,
                }
            }
        };
        if received == 0 {
            break;
        }
        let taken = batch.frames.len() as u64;
        outlet.acquire_for_writer().await;
        if closed_at.is_some() {
            // Nothing may follow a close frame.
            batch.frames.clear();
            outlet.release_for_writer(taken);
            continue;
        }
        if outlet.is_evicted() {
            close_slow_consumer(&outlet, &mut batch).await;
            outlet.release_for_writer(taken);
            break;
        }
        if let Some(close) = batch.frames.iter().position(Frame::is_close) {
            batch.frames.truncate(close + 1);
            closed_at = Some(Instant::now());
            outlet.mark_closed();
        }
        // A client that stops reading leaves a write pending forever: eviction must still get
        // through. The batch remembers how far it got.
        let written = match batch.try_write_now(&outlet) {
            Some(done) => done,
            None => tokio::select! {
                written = batch.write(&outlet) => written,
                () = outlet.evicted() => {
                    close_slow_consumer(&outlet, &mut batch).await;
                    outlet.release_for_writer(taken);
                    break;
                }
            },
        };
        outlet.release_for_writer(taken);
        if written.is_err() {
            break;
        }
    }
    stop_reader.cancel();
}

/// Finishes the frame that was half written (the stream must stay valid), then sends 4008 and
/// gives up on the rest of the backlog.
async fn close_slow_consumer(outlet: &Outlet, batch: &mut Batch) {
    outlet.mark_closed();
    batch.abandon_unstarted();
    batch
        .frames
        .push(Frame::close(SLOW_CONSUMER, "slow consumer"));
    let _ = timeout(CLOSE_WRITE_TIMEOUT, batch.write(outlet)).await;
}

/// Frames taken from the queue, and how much of them the socket has taken.
#[derive(Default)]
struct Batch {
    frames: Vec<Frame>,
    /// Frames fully written.
    done: usize,
    /// Bytes of `frames[done]` already written.
    offset: usize,
}

impl Batch {
    /// Writes as much as the socket takes right now, without waiting: `Some` when the whole
    /// batch went out (or the socket failed), `None` when the rest must wait for the socket.
    fn try_write_now(&mut self, outlet: &Outlet) -> Option<io::Result<()>> {
        while self.done < self.frames.len() {
            let mut slices = [io::IoSlice::new(&[]); MAX_SLICES];
            let pending = &self.frames[self.done..];
            let used = pending.len().min(MAX_SLICES);
            slices[0] = io::IoSlice::new(&pending[0].wire()[self.offset..]);
            for (slice, frame) in slices[1..used].iter_mut().zip(&pending[1..]) {
                *slice = io::IoSlice::new(frame.wire());
            }
            match send_vectored(outlet.socket(), &slices[..used]) {
                Ok(0) => return Some(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => self.advance(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        self.finish();
        Some(Ok(()))
    }

    /// Writes every frame, waiting for the socket as needed.
    ///
    /// Cancel-safe: progress is recorded only after the kernel took the bytes, so a write
    /// abandoned for eviction can be finished without losing or repeating a byte.
    async fn write(&mut self, outlet: &Outlet) -> io::Result<()> {
        loop {
            if let Some(done) = self.try_write_now(outlet) {
                return done;
            }
            outlet.socket().writable().await?;
        }
    }

    /// Records that the kernel took `written` more bytes.
    fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let left = self.frames[self.done].len() - self.offset;
            if written >= left {
                written -= left;
                self.done += 1;
                self.offset = 0;
            } else {
                self.offset += written;
                written = 0;
            }
        }
    }

    /// Drops the frames not started yet, keeping a half-written one (ours, or the rest of one
    /// the hub began) so it can be finished.
    fn abandon_unstarted(&mut self) {
        let started = self.offset > 0
            || self
                .frames
                .get(self.done)
                .is_some_and(Frame::is_continuation);
        let keep = self.done + usize::from(started);
        self.frames.truncate(keep.min(self.frames.len()));
    }

    fn finish(&mut self) {
        self.frames.clear();
        self.done = 0;
        self.offset = 0;
        // A burst may have grown the buffer; an idle connection should not keep it.
        if self.frames.capacity() > MAX_SLICES {
            self.frames.shrink_to(MAX_SLICES);
        }
    }
}
