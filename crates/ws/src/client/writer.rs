use std::{io::IoSlice, time::Duration};

use tokio::{
    io::AsyncWriteExt,
    net::tcp::OwnedWriteHalf,
    sync::mpsc,
    time::{Instant, MissedTickBehavior, interval_at, timeout},
};
use tokio_util::sync::CancellationToken;

use crate::{metrics::Metrics, protocol::Frame};

/// Most frames taken from the queue per wake-up.
const MAX_BATCH: usize = 256;
/// Most frames handed to one `writev` (Linux accepts 1024 slices).
const MAX_SLICES: usize = 64;
/// How long the last frames and the close frame may take to go out before the socket is
/// simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client's answering close before dropping the socket.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code for a client that cannot keep up with its outbound queue.
pub(super) const SLOW_CONSUMER: u16 = 4008;
/// Close code for a server going away (RFC 6455).
const GOING_AWAY: u16 = 1001;

/// What can end a writer besides its queue closing.
pub(super) struct Signals {
    /// The hub found the outbound queue full.
    pub(super) evicted: CancellationToken,
    /// The server is shutting down: flush, then close with 1001.
    pub(super) shutdown: CancellationToken,
    /// Close requests from the reader; closed when the reader has finished.
    pub(super) close_requests: mpsc::Receiver<Frame>,
    /// Cancelled when the writer is done, so the reader stops too.
    pub(super) stop_reader: CancellationToken,
}

/// How the writer loop ended.
enum End {
    /// Send this close frame (after what is queued, unless the client is evicted).
    Close(Frame),
    /// The reader is gone (the client closed or the socket failed): write what is queued,
    /// which includes the library's answering close, and stop.
    ReaderGone,
    /// The socket failed.
    Broken,
}

/// Writes queued frames until the connection ends: every wake-up takes all that is queued and
/// hands it to one `writev`, so batches grow with load while a lone frame goes out at once.
/// Pings every `ping_interval`.
pub(super) async fn run(
    mut socket: OwnedWriteHalf,
    mut outbox: mpsc::Receiver<Frame>,
    mut signals: Signals,
    ping_interval: Duration,
    metrics: Metrics,
) {
    let mut batch = Batch::default();
    let mut ping = interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let end = loop {
        tokio::select! {
            biased;
            () = signals.evicted.cancelled() => break End::Close(slow_consumer()),
            () = signals.shutdown.cancelled() => break End::Close(going_away()),
            request = signals.close_requests.recv() => match request {
                Some(close) => break End::Close(close),
                None => break End::ReaderGone,
            },
            received = outbox.recv_many(&mut batch.frames, MAX_BATCH) => {
                if received == 0 {
                    break End::ReaderGone;
                }
                // A client that stops reading leaves this write pending forever: eviction and
                // shutdown must still get through. The batch remembers how far it got.
                tokio::select! {
                    written = batch.write(&mut socket, &metrics) => if written.is_err() { break End::Broken },
                    () = signals.evicted.cancelled() => break End::Close(slow_consumer()),
                    () = signals.shutdown.cancelled() => break End::Close(going_away()),
                }
            }
            _ = ping.tick() => {
                batch.frames.push(Frame::ping());
                if batch.write(&mut socket, &metrics).await.is_err() {
                    break End::Broken;
                }
            }
        }
    };
    match end {
        End::Close(close) => {
            let evicted = signals.evicted.is_cancelled();
            let closed = timeout(CLOSE_WRITE_TIMEOUT, async {
                // An evicted client gets no more of its backlog, only the close.
                if !evicted {
                    while outbox.try_recv().map(|f| batch.frames.push(f)).is_ok() {}
                }
                batch.frames.push(close);
                batch.write(&mut socket, &metrics).await
            })
            .await;
            if matches!(closed, Ok(Ok(()))) {
                // Let the reader see the client's answering close, so the close is clean.
                let _ = timeout(CLOSE_LINGER, async {
                    while signals.close_requests.recv().await.is_some() {}
                })
                .await;
            }
        }
        End::ReaderGone => {
            let _ = timeout(CLOSE_WRITE_TIMEOUT, async {
                while outbox.try_recv().map(|f| batch.frames.push(f)).is_ok() {}
                batch.write(&mut socket, &metrics).await
            })
            .await;
        }
        End::Broken => {}
    }
    let _ = socket.shutdown().await;
    signals.stop_reader.cancel();
}

fn slow_consumer() -> Frame {
    Frame::close(SLOW_CONSUMER, "slow consumer")
}

fn going_away() -> Frame {
    Frame::close(GOING_AWAY, "server shutting down")
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
    /// Writes every frame, many per `writev`, resuming where an abandoned call stopped.
    ///
    /// Cancel-safe: progress is recorded only after the kernel took the bytes, so a write
    /// abandoned for a signal can be resumed without losing or repeating a byte.
    async fn write(
        &mut self,
        socket: &mut OwnedWriteHalf,
        metrics: &Metrics,
    ) -> std::io::Result<()> {
        let (count, bytes) = (
            self.frames.len(),
            self.frames.iter().map(Frame::len).sum::<usize>(),
        );
        while self.done < self.frames.len() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let pending = &self.frames[self.done..];
            let used = pending.len().min(MAX_SLICES);
            slices[0] = IoSlice::new(&pending[0].wire()[self.offset..]);
            for (slice, frame) in slices[1..used].iter_mut().zip(&pending[1..]) {
                *slice = IoSlice::new(frame.wire());
            }
            let mut written = socket.write_vectored(&slices[..used]).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
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
        metrics.frames_out.increment(count as u64);
        metrics.bytes_out.increment(bytes as u64);
        self.frames.clear();
        self.done = 0;
        // A burst may have grown the buffer; an idle connection should not keep it.
        if self.frames.capacity() > MAX_SLICES {
            self.frames.shrink_to(MAX_SLICES);
        }
        Ok(())
    }
}
