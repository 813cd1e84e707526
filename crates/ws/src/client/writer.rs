use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
    time::{Instant, MissedTickBehavior, interval_at, timeout},
};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};
use tokio_util::sync::CancellationToken;

use super::Sink;
use crate::protocol::Frame;

/// Most frames written in one flush; bounds the time a writer spends away from its signals.
const MAX_BATCH: usize = 256;
/// How long a close frame may take to go out before the socket is simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client's answering close before dropping the socket.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code for a client that cannot keep up with its outbound queue.
pub(super) const SLOW_CONSUMER: u16 = 4008;

/// What can end a writer besides its queue closing.
pub(super) struct Signals {
    /// The hub found the outbound queue full.
    pub(super) evicted: CancellationToken,
    /// The server is shutting down: flush, then close with 1001.
    pub(super) shutdown: CancellationToken,
    /// Close requests from the reader; closed when the reader has finished.
    pub(super) close_requests: mpsc::Receiver<CloseFrame>,
    /// Cancelled when the writer is done, so the reader stops too.
    pub(super) stop_reader: CancellationToken,
}

/// Writes queued frames until the connection ends, each batch in one flush, pinging on
/// `ping_interval`.
pub(super) async fn run<S>(
    mut sink: Sink<S>,
    mut outbox: mpsc::Receiver<Frame>,
    mut signals: Signals,
    ping_interval: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = Batch::default();
    let mut ping = interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let close = loop {
        tokio::select! {
            biased;
            () = signals.evicted.cancelled() => break Some(close_frame(SLOW_CONSUMER, "slow consumer")),
            () = signals.shutdown.cancelled() => {
                break flush_then_close(&mut sink, &mut outbox, &mut batch).await;
            }
            request = signals.close_requests.recv() => match request {
                Some(frame) => {
                    batch.take_queued(&mut outbox);
                    let _ = timeout(CLOSE_WRITE_TIMEOUT, batch.write(&mut sink)).await;
                    break Some(frame);
                }
                // The reader is gone: the client closed or the socket failed.
                None => break None,
            },
            received = outbox.recv_many(&mut batch.frames, MAX_BATCH) => {
                if received == 0 {
                    break None;
                }
                // A client that stops reading leaves this write pending forever: eviction and
                // shutdown must still get through. The batch remembers what was fed.
                tokio::select! {
                    result = batch.write(&mut sink) => if result.is_err() { break None },
                    () = signals.evicted.cancelled() => break Some(close_frame(SLOW_CONSUMER, "slow consumer")),
                    () = signals.shutdown.cancelled() => break flush_then_close(&mut sink, &mut outbox, &mut batch).await,
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break None;
                }
            }
        }
    };
    if let Some(frame) = close {
        let sent = timeout(CLOSE_WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
        if matches!(sent, Ok(Ok(()))) {
            // Let the reader see the client's answering close, so the close is clean.
            let _ = timeout(CLOSE_LINGER, async {
                while signals.close_requests.recv().await.is_some() {}
            })
            .await;
        }
    }
    signals.stop_reader.cancel();
}

/// Frames taken from the queue, and how many of them the socket has already taken.
#[derive(Default)]
struct Batch {
    frames: Vec<Frame>,
    fed: usize,
}

impl Batch {
    /// Adds whatever is queued right now.
    fn take_queued(&mut self, outbox: &mut mpsc::Receiver<Frame>) {
        while let Ok(frame) = outbox.try_recv() {
            self.frames.push(frame);
        }
    }

    /// Feeds every frame into the socket's buffer and flushes once: one `write()` for the
    /// whole batch.
    ///
    /// Cancel-safe: a frame counts as fed only once the sink took it, so a write abandoned
    /// for a signal can be resumed without losing or repeating a frame.
    async fn write<S>(&mut self, sink: &mut Sink<S>) -> Result<(), ()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        while let Some(frame) = self.frames.get(self.fed) {
            sink.feed(Message::Text(frame.clone().into_text()))
                .await
                .map_err(|_| ())?;
            self.fed += 1;
        }
        self.frames.clear();
        self.fed = 0;
        sink.flush().await.map_err(|_| ())
    }
}

/// Shutdown: writes what is queued (bounded in time), then asks for a 1001 close.
async fn flush_then_close<S>(
    sink: &mut Sink<S>,
    outbox: &mut mpsc::Receiver<Frame>,
    batch: &mut Batch,
) -> Option<CloseFrame>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    batch.take_queued(outbox);
    let _ = timeout(CLOSE_WRITE_TIMEOUT, batch.write(sink)).await;
    Some(close_frame(CloseCode::Away.into(), "server shutting down"))
}

pub(super) fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}
