//! The task that runs one joined connection until the run ends: it reads every frame (timing
//! measured deliveries and checking seq order), and, for a sender, writes a `send` each time
//! the pacer hands it a turn (with `--changes`, every other turn a change of its latest
//! message instead). The checker and the send buffer are local to the task.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::future::{AbortRegistration, Abortable};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::cli::Changes;
use crate::clock::Clock;
use crate::conn::{Joined, Ws};
use crate::own::{ChangeTurn, Own};
use crate::seqcheck::{SeqChecker, SeqEvent};
use crate::stats::Live;
use crate::wire;

/// How long a client waits for its close handshake at the end before dropping the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most turns sent in one write.
const MAX_BATCH: usize = 64;

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
    /// What a sender changes between its sends, if anything.
    pub changes: Option<Changes>,
    pub live: Arc<Live>,
}

/// Runs a joined client until `stop` is aborted (the run is over: it then closes with a close
/// handshake) or the server ends the connection. `turns` is the pacer's channel for a sender,
/// `None` for a receive-only member.
pub async fn run(
    joined: Joined,
    ctx: ClientCtx,
    turns: Option<mpsc::Receiver<SendTurn>>,
    stop: AbortRegistration,
) {
    let Joined { mut ws, seq, .. } = joined;
    let id_prefix = format!("c{}", ctx.index);
    let own = match (&turns, ctx.changes) {
        (Some(_), Some(changes)) => Some(Own::new(changes, &id_prefix)),
        _ => None,
    };
    let mut state = State {
        checker: SeqChecker::new(seq),
        closed: false,
        arrival: Arrival::default(),
        own,
    };
    // Abortable checks an atomic flag per poll; a cancellation token in the select would
    // take a mutex on every frame.
    let served = match turns {
        Some(turns) => {
            let sender = serve_sender(&mut ws, &ctx, &id_prefix, &mut state, turns);
            Abortable::new(sender, stop).await
        }
        None => Abortable::new(serve_member(&mut ws, &ctx, &mut state), stop).await,
    };
    if served.is_err() {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
    }
}

/// A connection's own reading state.
struct State {
    checker: SeqChecker,
    /// Set once the server's close frame arrived, so the end of the stream is not counted twice.
    closed: bool,
    arrival: Arrival,
    /// A sender's own latest message, when it changes its messages (`--changes`).
    own: Option<Own>,
}

impl State {
    /// Notes the `message` frame `frame` with `seq`, when it is the sender's own newest.
    fn note_own(&mut self, frame: &str, seq: u64) {
        if let Some(own) = &mut self.own {
            own.note(frame, seq);
        }
    }
}

/// Frames read from one socket without waiting share one reading of the clock: a
/// `clock_gettime` per delivery was 4% of the generator's CPU at 700k deliveries/s. The
/// clock is read again after every wait and every [`Arrival::SHARED`] frames, so a frame's
/// receive time is late by the handling of a few frames at most (microseconds).
#[derive(Debug, Default)]
struct Arrival {
    /// The last reading and how many more frames may use it.
    now_us: u64,
    left: u8,
}

impl Arrival {
    const SHARED: u8 = 8;

    /// The next frame from the stream; a wait for it makes the next reading fresh.
    async fn next(&mut self, ws: &mut Ws) -> Option<Result<Message, WsError>> {
        std::future::poll_fn(|cx| {
            let polled = ws.poll_next_unpin(cx);
            if polled.is_pending() {
                self.left = 0;
            }
            polled
        })
        .await
    }

    /// The receive time of the frame being handled.
    fn now_us(&mut self, clock: &Clock) -> u64 {
        if self.left == 0 {
            self.now_us = clock.now_us();
            self.left = Self::SHARED;
        }
        self.left -= 1;
        self.now_us
    }
}

/// Whether the connection goes on after a frame.
enum Flow {
    Continue,
    End,
}

/// A receive-only member: read until the stream ends. Cancel-safe (the state is outside).
async fn serve_member(ws: &mut Ws, ctx: &ClientCtx, state: &mut State) {
    while let Flow::Continue = on_frame(state.arrival.next(ws).await, ctx, state) {}
}

/// A sender: read, and write a `send` (or a change) on every turn from the pacer.
async fn serve_sender(
    ws: &mut Ws,
    ctx: &ClientCtx,
    id_prefix: &str,
    state: &mut State,
    mut turns: mpsc::Receiver<SendTurn>,
) {
    let mut buf = String::new();
    let mut sent: u64 = 0;
    loop {
        tokio::select! {
            frame = state.arrival.next(ws) => {
                if let Flow::End = on_frame(frame, ctx, state) {
                    return;
                }
            }
            turn = turns.recv() => {
                if turn.is_none() {
                    // The pacer is gone for good: only receive from now on.
                    return serve_member(ws, ctx, state).await;
                }
                // Send this turn and the ones already queued in one write.
                let mut batch = 1;
                while batch < MAX_BATCH && turns.try_recv().is_ok() {
                    batch += 1;
                }
                let own = state.own.as_mut();
                if let Err(e) = send_batch(ws, ctx, own, &mut buf, id_prefix, &mut sent, batch).await {
                    ctx.live.counters.send_errors.fetch_add(1, Relaxed);
                    ctx.live.event(format!("send error: {}", short_error(&e)));
                    return;
                }
            }
        }
    }
}

/// Handles what the stream yielded.
fn on_frame(frame: Option<Result<Message, WsError>>, ctx: &ClientCtx, state: &mut State) -> Flow {
    match frame {
        Some(Ok(Message::Text(text))) => on_text(&text, ctx, state),
        Some(Ok(Message::Close(frame))) => {
            state.closed = true;
            ctx.live.event(close_label(frame.as_ref()));
        }
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            ctx.live.event(format!("read error: {}", short_error(&e)));
            return Flow::End;
        }
        None => {
            if !state.closed {
                ctx.live.event("disconnected");
            }
            return Flow::End;
        }
    }
    Flow::Continue
}

async fn send_batch(
    ws: &mut Ws,
    ctx: &ClientCtx,
    mut own: Option<&mut Own>,
    buf: &mut String,
    id_prefix: &str,
    sent: &mut u64,
    batch: usize,
) -> Result<(), WsError> {
    let live = &ctx.live;
    let room = &*ctx.room_name;
    for _ in 0..batch {
        *sent += 1;
        let stamp = live.clock.now_us();
        let change = own.as_deref_mut().and_then(|own| own.turn(*sent));
        match change {
            None => wire::send_into(buf, room, stamp, ctx.size, id_prefix, *sent),
            Some(ChangeTurn::Edit { target }) => {
                wire::edit_into(buf, room, target, stamp, ctx.size, id_prefix, *sent);
            }
            Some(ChangeTurn::React { target, active }) => {
                wire::react_into(buf, room, target, active, stamp, id_prefix, *sent);
            }
        }
        ws.feed(Message::text(buf.as_str())).await?;
        if live.in_window(stamp) {
            live.counters.published.fetch_add(1, Relaxed);
            if change.is_some() {
                live.counters.changes.fetch_add(1, Relaxed);
            }
            live.counters
                .expected
                .fetch_add(live.members(ctx.room), Relaxed);
        }
    }
    ws.flush().await
}

/// Handles one text frame: a `message` is seq-checked and, when measured, timed.
fn on_text(text: &str, ctx: &ClientCtx, state: &mut State) {
    if let Some(message) = wire::scan_message(text) {
        state.note_own(text, message.seq);
        return on_message(Some(message.seq), message.stamp, ctx, state);
    }
    let Ok(frame) = wire::parse(text) else {
        ctx.live.event("unparseable frame");
        return;
    };
    match frame.kind.as_ref() {
        "message" => {
            if let Some(seq) = frame.seq {
                state.note_own(text, seq);
            }
            // A react has no text: its stamp is in its client_id.
            let stamped = frame.text.as_deref().or(frame.client_id.as_deref());
            let stamp = stamped.and_then(wire::parse_stamp);
            on_message(frame.seq, stamp, ctx, state);
        }
        "error" => ctx
            .live
            .event(format!("error {}", frame.code.as_deref().unwrap_or("?"))),
        // joined, presence, typing, left, history, welcome: nothing to measure.
        _ => {}
    }
}

/// Counts a delivery, checks its seq and times it when its stamp is in the window.
fn on_message(seq: Option<u64>, stamp: Option<u64>, ctx: &ClientCtx, state: &mut State) {
    let live = &ctx.live;
    let now = state.arrival.now_us(&live.clock);
    live.counters.frames.fetch_add(1, Relaxed);
    match seq.map(|seq| state.checker.observe(seq)) {
        Some(SeqEvent::InOrder) => {}
        Some(SeqEvent::Gap { missing }) => {
            live.counters.gaps.fetch_add(1, Relaxed);
            live.counters.missing.fetch_add(missing, Relaxed);
        }
        Some(SeqEvent::Duplicate) => {
            live.counters.duplicates.fetch_add(1, Relaxed);
        }
        Some(SeqEvent::Reorder) => {
            live.counters.reorders.fetch_add(1, Relaxed);
        }
        None => live.event("message without seq"),
    }
    if let Some(stamp) = stamp.filter(|&s| live.in_window(s)) {
        live.record_latency(ctx.index, now.saturating_sub(stamp));
    }
}

fn close_label(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close 1005 (no status)".to_owned(),
    }
}

fn short_error(e: &WsError) -> String {
    match e {
        WsError::Io(io) => format!("{:?}", io.kind()),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "closed".to_owned(),
        WsError::Protocol(p) => format!("protocol {p}"),
        other => other.to_string(),
    }
}
