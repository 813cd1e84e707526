use std::{io::IoSlice, sync::Arc, time::Duration};

use tokio::{
    io::AsyncWriteExt,
    net::tcp::OwnedWriteHalf,
    sync::mpsc,
    time::{Instant, timeout, timeout_at},
};
use tokio_util::sync::CancellationToken;

use crate::{hub::Eviction, metrics::Metrics, protocol::Frame};

/// Most frames taken from the queue per wake-up.
const MAX_BATCH: usize = 256;
/// Most frames handed to one `writev` (Linux accepts 1024 slices).
const MAX_SLICES: usize = 64;
/// How long a close frame may take to go out before the socket is simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait, after a close frame, for the client's answering close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code for a client that cannot keep up with its outbound queue.
const SLOW_CONSUMER: u16 = 4008;

/// Writes the connection's queue to the socket until the connection ends.
///
/// Every wake-up takes all that is queued and hands it to one `writev`: batches grow with
/// load, and a lone frame goes out at once. The queue carries everything, in order: frames,
/// pings and the close frame the reader asks for (idle, too large, shutdown), so the loop waits
/// on the queue alone. It ends when every sender is gone (the reader has ended and the hub has
/// forgotten the connection), when the client is evicted, or `CLOSE_LINGER` after a close
/// frame; then it stops the reader too.
pub(super) async fn run(
    mut socket: OwnedWriteHalf,
    mut outbox: mpsc::Receiver<Frame>,
    eviction: Arc<Eviction>,
    stop_reader: CancellationToken,
    metrics: Metrics,
) {
    let mut batch = Batch::default();
    let mut closed_at: Option<Instant> = None;
    loop {
        let received = match closed_at {
            None => outbox.recv_many(&mut batch.frames, MAX_BATCH).await,
            Some(at) => {
                match timeout_at(
                    at + CLOSE_LINGER,
                    outbox.recv_many(&mut batch.frames, MAX_BATCH),
                )
                .await
                {
                    Ok(received) => received,
                    Err(_lingered) => break,
                }
            }
        };
        if received == 0 {
            break;
        }
        if closed_at.is_some() {
            // Nothing may follow a close frame.
            batch.frames.clear();
            continue;
        }
        if eviction.is_evicted() {
            batch.frames.clear();
            close_slow_consumer(&mut socket, &mut batch, &metrics).await;
            break;
        }
        if let Some(close) = batch.frames.iter().position(Frame::is_close) {
            batch.frames.truncate(close + 1);
            closed_at = Some(Instant::now());
        }
        // A client that stops reading leaves a write pending forever: eviction must still get
        // through. The batch remembers how far it got.
        let written = match batch.try_write_now(&socket, &metrics) {
            Some(done) => done,
            None => tokio::select! {
                written = batch.write(&mut socket, &metrics) => written,
                () = eviction.evicted() => {
                    close_slow_consumer(&mut socket, &mut batch, &metrics).await;
                    break;
                }
            },
        };
        if written.is_err() {
            break;
        }
    }
    let _ = timeout(CLOSE_WRITE_TIMEOUT, socket.shutdown()).await;
    stop_reader.cancel();
}

/// Finishes the frame a write was in the middle of (the stream must stay valid), then sends
/// 4008 and gives up on the rest of the backlog.
async fn close_slow_consumer(socket: &mut OwnedWriteHalf, batch: &mut Batch, metrics: &Metrics) {
    batch.abandon_unstarted();
    batch
        .frames
        .push(Frame::close(SLOW_CONSUMER, "slow consumer"));
    let _ = timeout(CLOSE_WRITE_TIMEOUT, batch.write(socket, metrics)).await;
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
    /// The common case on a healthy connection, and it needs no future at all.
    fn try_write_now(
        &mut self,
        socket: &OwnedWriteHalf,
        metrics: &Metrics,
    ) -> Option<std::io::Result<()>> {
        while self.done < self.frames.len() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let used = self.slices(&mut slices);
            match socket.try_write_vectored(&slices[..used]) {
                Ok(0) => return Some(Err(std::io::ErrorKind::WriteZero.into())),
                Ok(written) => self.advance(written),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        self.finish(metrics);
        Some(Ok(()))
    }

    /// Writes every frame, many per `writev`, waiting for the socket as needed.
    ///
    /// Cancel-safe: progress is recorded only after the kernel took the bytes, so a write
    /// abandoned for eviction can be finished without losing or repeating a byte.
    async fn write(
        &mut self,
        socket: &mut OwnedWriteHalf,
        metrics: &Metrics,
    ) -> std::io::Result<()> {
        while self.done < self.frames.len() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let used = self.slices(&mut slices);
            let written = socket.write_vectored(&slices[..used]).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.advance(written);
        }
        self.finish(metrics);
        Ok(())
    }

    /// Fills `slices` with what is left to write; returns how many it used.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let pending = &self.frames[self.done..];
        let used = pending.len().min(MAX_SLICES);
        slices[0] = IoSlice::new(&pending[0].wire()[self.offset..]);
        for (slice, frame) in slices[1..used].iter_mut().zip(&pending[1..]) {
            *slice = IoSlice::new(frame.wire());
        }
        used
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

    /// Drops the frames not started yet, keeping a half-written one so it can be finished.
    fn abandon_unstarted(&mut self) {
        let keep = self.done + usize::from(self.offset > 0);
        self.frames.truncate(keep.min(self.frames.len()));
    }

    fn finish(&mut self, metrics: &Metrics) {
        metrics.frames_out.increment(self.frames.len() as u64);
        metrics
            .bytes_out
            .increment(self.frames.iter().map(Frame::len).sum::<usize>() as u64);
        self.frames.clear();
        self.done = 0;
        self.offset = 0;
        // A burst may have grown the buffer; an idle connection should not keep it.
        if self.frames.capacity() > MAX_SLICES {
            self.frames.shrink_to(MAX_SLICES);
        }
    }
}
