use std::{io, sync::Arc, time::Duration};

use tokio::{
    sync::mpsc,
    time::{Instant, timeout, timeout_at},
};

use crate::{
    hub::{Outlet, write_now},
    protocol::Frame,
};

/// Most frames taken from the queue per wake-up.
const MAX_BATCH: usize = 256;
/// Batch capacity kept between wake-ups: a burst may grow it, an idle connection should not
/// keep that.
const BATCH_KEEP: usize = 64;
/// How long a close frame may take to go out before the socket is simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait, after a close frame, for the client's answering close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code for a client that cannot keep up with its outbound queue.
const SLOW_CONSUMER: u16 = 4008;

/// Drains the connection's queue onto the socket until the connection ends.
///
/// Started with the queue, by the first frame that could not go out at once: the rest of what
/// the hub wrote when the socket was full, or a close frame the reader asks for (idle, too
/// large, shutdown). Every wake-up takes all that is queued and writes it with as few sends
/// as the socket allows. The writer ends when every sender is gone (the reader has ended and
/// the hub has forgotten the connection) and the queue is empty, when the client is evicted,
/// or `CLOSE_LINGER` after a close frame; then it stops the reader too.
pub(crate) async fn run(outlet: Arc<Outlet>, mut queue: mpsc::Receiver<Frame>) {
    let mut batch: Vec<Frame> = Vec::new();
    let mut closed_at: Option<Instant> = None;
    loop {
        let more = next_batch(&outlet, &mut queue, &mut batch);
        let received = match closed_at {
            None => more.await,
            Some(at) => match timeout_at(at + CLOSE_LINGER, more).await {
                Ok(received) => received,
                Err(_lingered) => break,
            },
        };
        if received == 0 {
            break;
        }
        let taken = batch.iter().map(Frame::frames).sum();
        outlet.acquire_for_writer().await;
        if closed_at.is_some() {
            // Nothing may follow a close frame.
            batch.clear();
            outlet.release_for_writer(taken);
            continue;
        }
        if outlet.is_evicted() {
            close_slow_consumer(&outlet, &mut batch).await;
            outlet.release_for_writer(taken);
            break;
        }
        if let Some(close) = batch.iter().position(Frame::is_close) {
            batch.truncate(close + 1);
            closed_at = Some(Instant::now());
            outlet.mark_closed();
        }
        // A client that stops reading leaves a write pending forever: eviction must still get
        // through. The batch keeps what is left to write.
        let written = match write_now(outlet.socket(), &mut batch) {
            Ok(true) => Ok(()),
            Err(e) => Err(e),
            Ok(false) => tokio::select! {
                written = write_all(&outlet, &mut batch) => written,
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
        if batch.capacity() > BATCH_KEEP {
            batch.shrink_to(BATCH_KEEP);
        }
    }
    outlet.writer_done();
}

/// Takes what is queued into the empty `batch`, waiting for it; 0 once no sender is left and
/// the queue is empty. (The queue itself never closes: the outlet keeps its sending end.)
async fn next_batch(
    outlet: &Outlet,
    queue: &mut mpsc::Receiver<Frame>,
    batch: &mut Vec<Frame>,
) -> usize {
    tokio::select! {
        biased;
        received = queue.recv_many(batch, MAX_BATCH) => received,
        () = outlet.orphaned() => {
            // Frames queued just before the last sender went are still written.
            while batch.len() < MAX_BATCH {
                let Ok(frame) = queue.try_recv() else { break };
                batch.push(frame);
            }
            batch.len()
        }
    }
}

/// Finishes the frame that was half written (the stream must stay valid), then sends 4008 and
/// gives up on the rest of the backlog.
async fn close_slow_consumer(outlet: &Outlet, batch: &mut Vec<Frame>) {
    outlet.mark_closed();
    let started = batch.first().is_some_and(Frame::is_continuation);
    batch.truncate(usize::from(started));
    batch.push(Frame::close(SLOW_CONSUMER, "slow consumer"));
    let _ = timeout(CLOSE_WRITE_TIMEOUT, write_all(outlet, batch)).await;
}

/// Writes every frame of `batch`, waiting for the socket as needed.
///
/// Cancel-safe: `batch` holds exactly what is left to write at every await, so a write
/// abandoned for eviction can be finished without losing or repeating a byte.
async fn write_all(outlet: &Outlet, batch: &mut Vec<Frame>) -> io::Result<()> {
    while !write_now(outlet.socket(), batch)? {
        outlet.socket().writable().await?;
    }
    Ok(())
}
