//! The task that runs one joined connection until the run ends: it reads every frame (timing
//! measured deliveries and checking seq order), and, for a sender, writes a `send` each time
//! the pacer hands it a turn. The checker and the send buffer are local to the task.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_util::sync::CancellationToken;

use crate::conn::Joined;
use crate::seqcheck::{SeqChecker, SeqEvent};
use crate::stats::Live;
use crate::wire;

/// How long a client waits for its close handshake at the end before dropping the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A turn to send one message, from the pacer.
#[derive(Clone, Copy, Debug)]
pub struct SendTurn;

/// What a client task needs besides its connection.
#[derive(Debug)]
pub struct ClientCtx {
    /// The client's number in the fleet (also its histogram shard).
    pub index: usize,
    /// Its room's number and name.
    pub room: usize,
    pub room_name: Arc<str>,
    /// `text` size of its sends.
    pub size: usize,
    pub live: Arc<Live>,
    /// Cancelled when the run is over.
    pub cancel: CancellationToken,
}

/// Runs a joined client until `ctx.cancel` fires or the server closes it. `turns` is the
/// pacer's channel for a sender, `None` for a receive-only member.
pub async fn run(joined: Joined, ctx: ClientCtx, mut turns: Option<mpsc::Receiver<SendTurn>>) {
    let Joined { mut ws, seq, .. } = joined;
    let mut checker = SeqChecker::new(seq);
    let mut buf = String::new();
    let id_prefix = format!("c{}", ctx.index);
    let mut sent: u64 = 0;
    // Set once the server's close frame arrived, so the end of the stream is not counted twice.
    let mut closed = false;
    loop {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                return;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => on_text(&text, &ctx, &mut checker),
                Some(Ok(Message::Close(frame))) => {
                    closed = true;
                    ctx.live.event(close_label(frame.as_ref()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    ctx.live.event(format!("read error: {}", short_error(&e)));
                    return;
                }
                None => {
                    if !closed && !ctx.cancel.is_cancelled() {
                        ctx.live.event("disconnected");
                    }
                    return;
                }
            },
            Some(SendTurn) = next_turn(&mut turns) => {
                // Send this turn and any already queued in one write.
                let mut batch = 1;
                while let Some(rx) = turns.as_mut() {
                    if batch >= 64 || rx.try_recv().is_err() {
                        break;
                    }
                    batch += 1;
                }
                if let Err(e) = send_batch(&mut ws, &ctx, &mut buf, &id_prefix, &mut sent, batch).await {
                    ctx.live.counters.send_errors.fetch_add(1, Relaxed);
                    ctx.live.event(format!("send error: {}", short_error(&e)));
                    return;
                }
            }
        }
    }
}

/// The next turn for a sender; never resolves for a receive-only member (so `select!` skips
/// it). Cancel-safe: `mpsc::Receiver::recv` is.
async fn next_turn(turns: &mut Option<mpsc::Receiver<SendTurn>>) -> Option<SendTurn> {
    match turns {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn send_batch(
    ws: &mut crate::conn::Ws,
    ctx: &ClientCtx,
    buf: &mut String,
    id_prefix: &str,
    sent: &mut u64,
    batch: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let live = &ctx.live;
    for _ in 0..batch {
        *sent += 1;
        let stamp = live.clock.now_us();
        wire::send_into(buf, &ctx.room_name, stamp, ctx.size, id_prefix, *sent);
        ws.feed(Message::text(buf.as_str())).await?;
        if live.in_window(stamp) {
            live.counters.published.fetch_add(1, Relaxed);
            live.counters
                .expected
                .fetch_add(live.members(ctx.room), Relaxed);
        }
    }
    ws.flush().await
}

/// Handles one text frame: a `message` is seq-checked and, when measured, timed.
fn on_text(text: &str, ctx: &ClientCtx, checker: &mut SeqChecker) {
    let Ok(frame) = wire::parse(text) else {
        ctx.live.event("unparseable frame");
        return;
    };
    let live = &ctx.live;
    match frame.kind.as_ref() {
        "message" => {
            let now = live.clock.now_us();
            live.counters.frames.fetch_add(1, Relaxed);
            if let Some(seq) = frame.seq {
                match checker.observe(seq) {
                    SeqEvent::InOrder => {}
                    SeqEvent::Gap { missing } => {
                        live.counters.gaps.fetch_add(1, Relaxed);
                        live.counters.missing.fetch_add(missing, Relaxed);
                    }
                    SeqEvent::Duplicate => {
                        live.counters.duplicates.fetch_add(1, Relaxed);
                    }
                    SeqEvent::Reorder => {
                        live.counters.reorders.fetch_add(1, Relaxed);
                    }
                }
            } else {
                live.event("message without seq");
            }
            if let Some(stamp) = frame.text.as_deref().and_then(wire::parse_stamp)
                && live.in_window(stamp)
            {
                live.record_latency(ctx.index, now.saturating_sub(stamp));
            }
        }
        "error" => live.event(format!("error {}", frame.code.as_deref().unwrap_or("?"))),
        // joined, presence, typing, left, history, welcome: nothing to measure.
        _ => {}
    }
}

fn close_label(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close 1005 (no status)".to_owned(),
    }
}

fn short_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Io(io) => format!("{:?}", io.kind()),
        Error::ConnectionClosed | Error::AlreadyClosed => "closed".to_owned(),
        Error::Protocol(p) => format!("protocol {p}"),
        other => other.to_string(),
    }
}
