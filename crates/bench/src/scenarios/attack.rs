//! `attack`: the hostile clients of issue 23, replayed against a server, and what they did
//! to it (RSS from `--pid`, the other rooms, the attacker's fate):
//!
//! - **flood**: a room is filled with messages of control characters (6 bytes each once
//!   JSON-escaped), then an attacker that never reads asks for `history` (limit 200) many
//!   times and `join`s with `since: 0`, while a calm room (one sender, paced) measures its
//!   delivery latency and loss. The attacker should be cut off with 4008; when is seen by
//!   another member of the room (its `presence` `leave`), since the attacker reads nothing.
//! - **rooms**: one connection joins and leaves many distinct room names: RSS before/after.
//! - **presence**: one client toggles `join`/`leave` in a room of a few members: how many
//!   `presence` frames each member got.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{AttackArgs, Attacks, Common, Shape, secs};
use crate::conn::{self, Target, Ws};
use crate::report::{self, PhaseReport};
use crate::scenarios::phase::{self, PhasePlan};
use crate::scenarios::requests::{self, Answers};
use crate::scenarios::setup;
use crate::scenarios::watch::{self, RssSpan, RssWatch};
use crate::wire;

/// How often the server's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(100);
/// Unanswered sends while filling the room.
const FILL_WINDOW: u64 = 32;
/// Unanswered requests of the rooms and presence attacks.
const REQUEST_WINDOW: usize = 64;
/// The longest the attacker's socket is read at the end, looking for its close.
const READ_LIMIT: Duration = Duration::from_secs(15);
/// The longest the attacker's requests may take to write (a server that stops reading).
const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// How long the presence counts must stay still to count as final, and the longest wait.
const QUIET: Duration = Duration::from_secs(1);
const QUIET_LIMIT: Duration = Duration::from_secs(15);
/// The attacker's display name, which the other member watches for in `presence`.
const ATTACKER: &str = "attacker";
const TOGGLER: &str = "toggler";

/// The `--json` line of an attack run.
#[derive(Debug, Serialize)]
pub struct AttackReport {
    pub scenario: &'static str,
    pub url: String,
    pub server_pid: Option<u32>,
    pub flood: Option<FloodReport>,
    pub rooms: Option<RoomsReport>,
    pub presence: Option<PresenceReport>,
}

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

/// What joining and leaving many rooms did.
#[derive(Debug, Serialize)]
pub struct RoomsReport {
    pub rooms: u64,
    pub answers: Answers,
    pub rss: RssSpan,
    /// After the settle, with the connection closed.
    pub rss_settled_bytes: Option<u64>,
    pub fds_before: Option<u64>,
    pub fds_after: Option<u64>,
}

/// What the presence toggles did.
#[derive(Debug, Serialize)]
pub struct PresenceReport {
    pub toggles: u64,
    pub answers: Answers,
    /// `presence` frames about the toggler that each member received (join + leave).
    pub per_member: Vec<MemberPresence>,
    pub rss: RssSpan,
}

/// One member's count of the toggler's presence.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemberPresence {
    pub joins: u64,
    pub leaves: u64,
    /// How the member's connection ended, if it did before the run's end.
    pub ended: Option<String>,
}

pub async fn run(args: AttackArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    setup::check_pid(common.pid)?;
    let [url] = common.url.as_slice() else {
        anyhow::bail!("attack runs against one server: give --url once");
    };
    let target = Target::resolve(url, common.ca_cert.as_deref()).await?;
    let prefix = setup::room_prefix();
    let which = args.which();
    let mut report = AttackReport {
        scenario: "attack",
        url: url.clone(),
        server_pid: common.pid,
        flood: None,
        rooms: None,
        presence: None,
    };
    if which.contains(&Attacks::Flood) {
        report.flood = Some(flood(&args, &target, &prefix).await?);
    }
    if which.contains(&Attacks::Rooms) {
        report.rooms = Some(rooms(&args, &target, &prefix).await?);
    }
    if which.contains(&Attacks::Presence) {
        report.presence = Some(presence(&args, &target, &prefix).await?);
    }
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", format_attack(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a progress line on stderr unless quiet.
fn say(common: &Common, line: &str) {
    if common.show_progress() {
        eprintln!("attack: {line}");
    }
}

async fn flood(args: &AttackArgs, target: &Target, prefix: &str) -> anyhow::Result<FloodReport> {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PresenceEvent {
    Join,
    Leave,
}

/// The event of a `presence` frame about `user` (by display name), if `text` is one.
fn presence_of(text: &str, user: &str) -> Option<PresenceEvent> {
    if !text.starts_with(r#"{"type":"presence""#) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["user"]["name"].as_str() != Some(user) {
        return None;
    }
    match v["event"].as_str()? {
        "join" => Some(PresenceEvent::Join),
        "leave" => Some(PresenceEvent::Leave),
        _ => None,
    }
}

async fn rooms(args: &AttackArgs, target: &Target, prefix: &str) -> anyhow::Result<RoomsReport> {
    let common = &args.common;
    let opts = common.connect_options(0);
    let home = format!("{prefix}-home");
    let fds_before = watch::open_fds(common.pid);
    let rss = RssWatch::start(common.pid, RSS_EVERY);
    say(common, &format!("joining and leaving {} rooms", args.rooms));
    let mut ws = conn::connect_and_join(target, "roamer", &home, None, opts)
        .await
        .context("the roamer did not join")?
        .ws;
    let frames = (0..args.rooms).flat_map(|i| {
        let room = format!("{prefix}-r{i}");
        [requests::join(&room, None), requests::leave(&room)]
    });
    let deadline = Instant::now() + secs(args.deadline);
    let answers = requests::pipeline(&mut ws, frames, REQUEST_WINDOW, deadline, |_| {}).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    drop(ws);
    let rss = rss.stop(common.pid);
    tokio::time::sleep(secs(args.settle)).await;
    Ok(RoomsReport {
        rooms: args.rooms,
        answers,
        rss,
        rss_settled_bytes: watch::rss(common.pid),
        fds_before,
        fds_after: watch::open_fds(common.pid),
    })
}

/// One member's live counts of the toggler's presence.
#[derive(Debug, Default)]
struct Counts {
    joins: AtomicU64,
    leaves: AtomicU64,
}

async fn presence(
    args: &AttackArgs,
    target: &Target,
    prefix: &str,
) -> anyhow::Result<PresenceReport> {
    let common = &args.common;
    let opts = common.connect_options(0);
    let room = format!("{prefix}-presence");
    let rss = RssWatch::start(common.pid, RSS_EVERY);
    let stop = CancellationToken::new();
    let mut members = Vec::new();
    for i in 0..args.presence_members {
        let ws = conn::connect_and_join(target, &format!("member{i}"), &room, None, opts)
            .await
            .with_context(|| format!("member {i} did not join"))?
            .ws;
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(count_presence(ws, Arc::clone(&counts), stop.clone()));
        members.push((counts, task));
    }
    say(common, &format!("toggling {} times", args.toggles));
    let mut ws = conn::connect_and_join(target, TOGGLER, &room, None, opts)
        .await
        .context("the toggler did not join")?
        .ws;
    // The first join is done: leave, then join and leave again toggles - 1 times.
    let frames = (0..args.toggles).flat_map(|i| {
        let leave = requests::leave(&room);
        if i == 0 {
            vec![leave]
        } else {
            vec![requests::join(&room, None), leave]
        }
    });
    let deadline = Instant::now() + secs(args.deadline);
    let answers = requests::pipeline(&mut ws, frames, REQUEST_WINDOW, deadline, |_| {}).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    drop(ws);
    // Held presence arrives late: wait until the counts stop moving.
    let total = || -> u64 {
        members
            .iter()
            .map(|(c, _)| c.joins.load(Relaxed) + c.leaves.load(Relaxed))
            .sum()
    };
    let limit = Instant::now() + QUIET_LIMIT;
    let mut last = total();
    while Instant::now() < limit {
        tokio::time::sleep(QUIET).await;
        let now = total();
        if now == last {
            break;
        }
        last = now;
    }
    stop.cancel();
    let mut per_member = Vec::new();
    for (counts, task) in members {
        let ended = task.await.unwrap_or_else(|e| Some(format!("task: {e}")));
        per_member.push(MemberPresence {
            joins: counts.joins.load(Relaxed),
            leaves: counts.leaves.load(Relaxed),
            ended,
        });
    }
    Ok(PresenceReport {
        toggles: args.toggles,
        answers,
        per_member,
        rss: rss.stop(common.pid),
    })
}

/// A member counting the toggler's presence until `stop`; returns how its connection ended
/// if the server ended it first.
async fn count_presence(
    mut ws: Ws,
    counts: Arc<Counts>,
    stop: CancellationToken,
) -> Option<String> {
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return None;
            }
            f = ws.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => match presence_of(&text, TOGGLER) {
                Some(PresenceEvent::Join) => counts.joins.fetch_add(1, Relaxed),
                Some(PresenceEvent::Leave) => counts.leaves.fetch_add(1, Relaxed),
                None => 0,
            },
            Some(Ok(Message::Close(f))) => {
                return Some(format!("closed {}", f.map_or(1005, |f| u16::from(f.code))));
            }
            Some(Ok(_)) => 0,
            Some(Err(e)) => return Some(format!("read error: {e}")),
            None => return Some("ended".to_owned()),
        };
    }
}

fn opt_mib(b: Option<u64>) -> String {
    b.map_or_else(|| "-".to_owned(), report::mib)
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
}

fn span(s: &RssSpan) -> String {
    format!(
        "{} -> peak {} -> {}",
        opt_mib(s.start_bytes),
        opt_mib(s.peak_bytes),
        opt_mib(s.end_bytes)
    )
}

fn format_attack(r: &AttackReport) -> String {
    let mut s = format!("attack: {}\n", r.url);
    if let Some(f) = &r.flood {
        s.push_str(&format!(
            "flood       room of {} messages x {} control chars filled in {:.1} s{}\n\
             attacker    wrote {} of {} requests ({} history limit {}, {} join since 0) in {:.2} s{}\n\
             fate        {}; evicted {}; read {} frames, {} before the end\n\
             server RSS  before fill {}, after fill {}; attack {}\n\
             calm room   p50 {} p99 {} max {}, {} of {} deliveries lost, events {}; CPU wait: \
             server {}, generator {}\n",
            report::group(f.messages),
            f.text_bytes,
            f.fill_secs,
            if f.fill_errors.is_empty() {
                String::new()
            } else {
                format!(" (refused: {})", report::events(&f.fill_errors))
            },
            report::group(f.written),
            report::group(f.history_requests + f.since_joins),
            report::group(f.history_requests),
            f.history_limit,
            f.since_joins,
            f.write_secs,
            f.write_stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" ({w})")),
            f.ended,
            f.evicted_after_secs.map_or_else(
                || "never".to_owned(),
                |t| format!("{t:.2} s after its first request")
            ),
            report::group(f.frames_read),
            report::mib(f.bytes_read),
            opt_mib(f.rss_before_fill_bytes),
            opt_mib(f.rss_after_fill_bytes),
            span(&f.rss_attack),
            report::ms(f.calm.latency.p50_us),
            report::ms(f.calm.latency.p99_us),
            report::ms(f.calm.latency.max_us),
            report::group(f.calm.lost),
            report::group(f.calm.expected_deliveries),
            report::events(&f.calm.events),
            pct(f.calm.server.as_ref().and_then(|u| u.cpu_wait_pct)),
            pct(f.calm.generator_cpu_wait_pct),
        ));
    }
    if let Some(x) = &r.rooms {
        s.push_str(&format!(
            "rooms       {} distinct rooms joined and left in {:.1} s: {}{}\n\
             server RSS  {}, settled {}; fds {} -> {}\n",
            report::group(x.rooms),
            x.answers.secs,
            report::events(&x.answers.by_kind),
            x.answers
                .stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" (stopped: {w})")),
            span(&x.rss),
            opt_mib(x.rss_settled_bytes),
            x.fds_before
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            x.fds_after
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ));
    }
    if let Some(p) = &r.presence {
        let each: Vec<String> = p
            .per_member
            .iter()
            .map(|m| {
                format!(
                    "{}+{}{}",
                    m.joins,
                    m.leaves,
                    m.ended
                        .as_ref()
                        .map_or_else(String::new, |e| format!(" ({e})"))
                )
            })
            .collect();
        s.push_str(&format!(
            "presence    {} toggles in {:.1} s: {}{}\n\
             members     presence join+leave received: {}\n\
             server RSS  {}\n",
            report::group(p.toggles),
            p.answers.secs,
            report::events(&p.answers.by_kind),
            p.answers
                .stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" (stopped: {w})")),
            each.join(", "),
            span(&p.rss),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_is_read_by_name() {
        let join =
            r#"{"type":"presence","room":"r","event":"join","user":{"id":"u_1","name":"toggler"}}"#;
        let leave = r#"{"type":"presence","room":"r","event":"leave","user":{"id":"u_1","name":"toggler"}}"#;
        let other =
            r#"{"type":"presence","room":"r","event":"leave","user":{"id":"u_2","name":"x"}}"#;
        assert_eq!(presence_of(join, TOGGLER), Some(PresenceEvent::Join));
        assert_eq!(presence_of(leave, TOGGLER), Some(PresenceEvent::Leave));
        assert_eq!(presence_of(other, TOGGLER), None);
        assert_eq!(presence_of(r#"{"type":"left","room":"r"}"#, TOGGLER), None);
    }
}
