//! The flood: a room filled with messages of control characters, then an attacker that never
//! reads asks for `history` and `join`s with `since: 0`, while a calm room measures latency.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{AttackArgs, Shape, secs};
use crate::conn::{self, Target, Ws};
use crate::report::{self, PhaseReport};
use crate::scenarios::phase::{self, PhasePlan};
use crate::scenarios::requests::{self};
use crate::scenarios::setup;
use crate::scenarios::watch::{self, RssSpan, RssWatch};
use crate::wire;

use super::presence::{PresenceEvent, presence_of};
use super::{RSS_EVERY, say};

/// Unanswered sends while filling the room.
const FILL_WINDOW: u64 = 32;
/// The longest the attacker's socket is read at the end, looking for its close.
const READ_LIMIT: Duration = Duration::from_secs(15);
/// The longest the attacker's requests may take to write (a server that stops reading).
const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// The attacker's display name, which the other member watches for in `presence`.
const ATTACKER: &str = "attacker";

/// What the history/join flood did.
#[derive(Debug, Serialize)]
pub struct FloodReport {
    /// Messages stored in the flooded room, of `text_bytes` control characters each.
    pub messages: u64,
    pub text_bytes: usize,
    pub fill_secs: f64,
    /// Sends refused while filling, by error code.
    pub fill_errors: BTreeMap<String, u64>,
    /// Requests the attacker wrote (history, then joins with since 0), and how long it took.
    pub history_requests: u64,
    pub history_limit: u32,
    pub since_joins: u64,
    pub written: u64,
    pub write_secs: f64,
    pub write_stopped: Option<String>,
    /// Seconds from the attacker's first request to its `presence` `leave` (eviction), as seen
    /// by another member of the room; None if it stayed in the room.
    pub evicted_after_secs: Option<f64>,
    /// The close code the attacker read at the end (4008: slow consumer), or how its stream
    /// ended.
    pub close_code: Option<u16>,
    pub ended: String,
    /// What the attacker read before the end: frames and bytes (what the server still sent it).
    pub frames_read: u64,
    pub bytes_read: u64,
    /// Server RSS: before filling, after filling, and over the attack (start, peak, end
    /// after the settle).
    pub rss_before_fill_bytes: Option<u64>,
    pub rss_after_fill_bytes: Option<u64>,
    pub rss_attack: RssSpan,
    /// The calm room's measured window, the attack inside it.
    pub calm: PhaseReport,
}

pub(super) async fn run(
    args: &AttackArgs,
    target: &Target,
    prefix: &str,
) -> anyhow::Result<FloodReport> {
    let common = &args.common;
    let opts = common.connect_options(args.text_bytes * 6);
    let room = format!("{prefix}-flood");
    let rss_before_fill = watch::rss(common.pid);

    say(
        common,
        &format!("filling {room} with {} messages", args.messages),
    );
    let mut filler = conn::connect_and_join(target, "filler", &room, None, opts)
        .await
        .context("the filler did not join")?
        .ws;
    let started = Instant::now();
    let fill_errors = fill(&mut filler, &room, args.messages, args.text_bytes).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    let stored = args.messages - fill_errors.values().sum::<u64>();
    if stored == 0 {
        bail!("no message was stored: {}", report::events(&fill_errors));
    }
    let rss_after_fill = watch::rss(common.pid);

    let calm_shape = Shape {
        common: common.clone(),
        rooms: 1,
        clients: args.calm_members,
        senders: 1,
        size: 100,
        warmup: args.warmup,
        drain: args.drain,
        changes: None,
    };
    let calm = setup::connect_shape(&calm_shape).await?;
    let plan = PhasePlan {
        rate: args.calm_rate,
        warmup: secs(args.warmup),
        duration: secs(args.duration).max(Duration::from_millis(100)),
        drain: secs(args.drain),
        label: "calm room".to_owned(),
    };
    let attacker = conn::connect_and_join(target, ATTACKER, &room, None, opts)
        .await
        .context("the attacker did not join")?
        .ws;
    say(common, "attacking");
    let rss = RssWatch::start(common.pid, RSS_EVERY);
    let window_end = Instant::now() + plan.warmup + plan.duration;
    let attack = Attack {
        room: &room,
        history_requests: args.history_requests,
        history_limit: args.history_limit,
        since_joins: args.since_joins,
        after: plan.warmup,
        until: window_end,
    };
    let (calm_result, fate) = tokio::join!(
        phase::run(&calm.fleet, &calm.live, &plan, common.pid, false),
        attack.run(attacker, &mut filler)
    );
    calm.fleet.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), filler.close(None)).await;
    tokio::time::sleep(secs(args.settle)).await;
    Ok(FloodReport {
        messages: stored,
        text_bytes: args.text_bytes,
        fill_secs,
        fill_errors,
        history_requests: args.history_requests,
        history_limit: args.history_limit,
        since_joins: args.since_joins,
        written: fate.written,
        write_secs: fate.write_secs,
        write_stopped: fate.write_stopped,
        evicted_after_secs: fate.evicted_after,
        close_code: fate.close_code,
        ended: fate.ended,
        frames_read: fate.frames_read,
        bytes_read: fate.bytes_read,
        rss_before_fill_bytes: rss_before_fill,
        rss_after_fill_bytes: rss_after_fill,
        rss_attack: rss.stop(common.pid),
        calm: calm_result,
    })
}

/// Fills `room` with `n` messages of `text_bytes` U+0001 characters, a window of them in
/// flight (each finished by its own `message` back, or an error). Returns the errors.
async fn fill(
    ws: &mut Ws,
    room: &str,
    n: u64,
    text_bytes: usize,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = "\\u0001".repeat(text_bytes);
    let mut errors = BTreeMap::new();
    let (mut sent, mut done) = (0u64, 0u64);
    while done < n {
        if sent < n && sent - done < FILL_WINDOW {
            while sent < n && sent - done < FILL_WINDOW {
                let frame =
                    format!(r#"{{"type":"send","room":"{room}","text":"{text}","id":"f{sent}"}}"#);
                ws.feed(Message::text(frame)).await.context("filling")?;
                sent += 1;
            }
            ws.flush().await.context("filling")?;
        }
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no answer to a send within 30 s while filling")?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                if wire::scan_message(&text).is_some() {
                    done += 1;
                } else if let Ok(f) = wire::parse(&text)
                    && f.kind == "error"
                {
                    let code = f.code.as_deref().unwrap_or("?").to_owned();
                    *errors.entry(code).or_insert(0) += 1;
                    done += 1;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("the filler's connection failed: {e}"),
            None => bail!("the server closed the filler's connection"),
        }
    }
    Ok(errors)
}

/// The flood itself.
struct Attack<'a> {
    room: &'a str,
    history_requests: u64,
    history_limit: u32,
    since_joins: u64,
    /// When to start (the calm room's warm-up) and until when to watch.
    after: Duration,
    until: Instant,
}

/// What happened to the attacker.
#[derive(Debug, Default)]
struct Fate {
    written: u64,
    write_secs: f64,
    write_stopped: Option<String>,
    evicted_after: Option<f64>,
    close_code: Option<u16>,
    ended: String,
    frames_read: u64,
    bytes_read: u64,
}

impl Attack<'_> {
    /// Writes every request without reading, then watches `member` (another member of the
    /// room) for the attacker's `presence` `leave` until `until`, then (as soon as it left, or
    /// at `until`) reads the attacker's socket to its end.
    async fn run(self, mut attacker: Ws, member: &mut Ws) -> Fate {
        tokio::time::sleep(self.after).await;
        let started = Instant::now();
        let mut fate = Fate::default();
        let mut written = 0u64;
        let frames = (0..self.history_requests)
            .map(|_| requests::history(self.room, self.history_limit))
            .chain((0..self.since_joins).map(|_| requests::join(self.room, Some(0))));
        let write = async {
            for frame in frames {
                attacker.feed(Message::text(frame)).await?;
                written += 1;
                if written.is_multiple_of(64) {
                    attacker.flush().await?;
                }
            }
            attacker.flush().await
        };
        fate.write_stopped = match tokio::time::timeout(WRITE_LIMIT, write).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("write: {e}")),
            Err(_) => Some("the server stopped reading for 10 s".to_owned()),
        };
        fate.written = written;
        fate.write_secs = started.elapsed().as_secs_f64();
        fate.evicted_after = watch_leave(member, ATTACKER, self.until)
            .await
            .map(|at| at.duration_since(started).as_secs_f64());
        // Read at once: the server drops a connection that has not taken its close frame
        // within a few seconds (a reset then, with no close code to see).
        read_to_end(&mut attacker, &mut fate).await;
        tokio::time::sleep_until(self.until).await;
        fate
    }
}

/// Reads `ws` until `user`'s `presence` `leave` (its instant) or `until`.
async fn watch_leave(ws: &mut Ws, user: &str, until: Instant) -> Option<Instant> {
    loop {
        let frame = tokio::time::timeout_at(until, ws.next()).await.ok()??;
        let Ok(Message::Text(text)) = frame else {
            if frame.is_err() {
                return None;
            }
            continue;
        };
        if presence_of(&text, user) == Some(PresenceEvent::Leave) {
            return Some(Instant::now());
        }
    }
}

/// Reads the attacker's socket until its close frame, its end or [`READ_LIMIT`].
async fn read_to_end(ws: &mut Ws, fate: &mut Fate) {
    let limit = Instant::now() + READ_LIMIT;
    fate.ended = loop {
        match tokio::time::timeout_at(limit, ws.next()).await {
            Err(_) => break "still open after 15 s of reading".to_owned(),
            Ok(None) => break "connection ended without a close frame".to_owned(),
            Ok(Some(Err(e))) => break format!("read error: {e}"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                fate.close_code = Some(frame.as_ref().map_or(1005, |f| u16::from(f.code)));
                break match frame {
                    Some(f) => format!("closed {} {:?}", u16::from(f.code), f.reason.as_str()),
                    None => "closed without a code".to_owned(),
                };
            }
            Ok(Some(Ok(m))) => {
                fate.frames_read += 1;
                fate.bytes_read += m.len() as u64;
            }
        }
    };
}
