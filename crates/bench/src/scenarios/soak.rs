//! `soak`: many clients for minutes, most of them churning, against one server process.
//!
//! A stable part (`--stable-pct`) connects first and stays joined to its room the whole run,
//! checking the seq of every message it gets ([`SeqChecker`]). The others cycle: connect,
//! join a room (another one each cycle), send a few messages, stay a while, leave,
//! disconnect, pause, again. Every `--every` seconds the server's RSS and open descriptors
//! are sampled (and a line goes to stderr). At the end the churn stops, a probe joins each
//! room to read its latest seq, and each stable member's loss is what it should have got
//! since its join (latest seq - seq at join) minus the distinct seqs it got. Then everything
//! closes and the descriptors are counted again.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::bail;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{SoakArgs, secs};
use crate::conn::{self, ConnectOptions, Target, Ws};
use crate::report;
use crate::scenarios::setup;
use crate::scenarios::watch;
use crate::seqcheck::{SeqChecker, SeqEvent};
use crate::wire;

/// How long closing waits for a close handshake, and the whole churn for its tasks to end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
const STOP_WAIT: Duration = Duration::from_secs(15);
/// How long a churner waits for its `left`.
const LEFT_WAIT: Duration = Duration::from_secs(5);
/// Probes connecting at once at the end.
const PROBES_AT_ONCE: usize = 50;
/// RSS within this ratio of the first sample after warm-up counts as flat.
const FLAT: f64 = 0.10;

/// The `--json` line of a soak run.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub scenario: &'static str,
    pub url: String,
    pub server_pid: Option<u32>,
    pub clients: usize,
    pub stable: usize,
    pub churners: usize,
    pub rooms: usize,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// One sample per `--every` seconds.
    pub samples: Vec<Sample>,
    /// Server RSS before any connection, the first and last samples after warm-up, their
    /// ratio (flat: within 10% of 1), the highest sample after warm-up over the first, and
    /// RSS once every connection closed.
    pub rss_start_bytes: Option<u64>,
    pub rss_first_after_warmup_bytes: Option<u64>,
    pub rss_last_bytes: Option<u64>,
    pub rss_last_over_first: Option<f64>,
    pub rss_max_over_first: Option<f64>,
    pub rss_flat: Option<bool>,
    pub rss_end_bytes: Option<u64>,
    /// The server's open descriptors before any connection, at the highest sample, and once
    /// every connection closed.
    pub fds_start: Option<u64>,
    pub fds_peak: Option<u64>,
    pub fds_end: Option<u64>,
    /// Churn cycles completed and messages sent by churners.
    pub cycles: u64,
    pub messages_sent: u64,
    /// Connections open at once, at most (as the generator counts them).
    pub peak_connected: i64,
    pub connect_failures: BTreeMap<String, u64>,
    /// Errors, closes and disconnects the churners and stable members saw, by label.
    pub events: BTreeMap<String, u64>,
    pub stable_loss: StableLoss,
}

/// One periodic sample.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub secs: f64,
    pub rss_bytes: Option<u64>,
    pub fds: Option<u64>,
    pub connected: i64,
    pub cycles: u64,
    pub messages_sent: u64,
    pub connect_failures: u64,
}

/// What the stable members missed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StableLoss {
    /// Members that joined and were still connected at the end.
    pub members: u64,
    /// Members whose connection the server ended before the run did.
    pub ended_early: u64,
    /// Messages stored in their rooms while they were members, summed over members.
    pub expected: u64,
    /// Distinct seqs they received.
    pub received: u64,
    pub lost: u64,
    pub members_with_loss: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub reorders: u64,
    /// Rooms whose latest seq the probe could not read (their members are not counted).
    pub rooms_unprobed: u64,
}

/// Live counts shared by the tasks.
#[derive(Debug, Default)]
struct Live {
    connected: AtomicI64,
    peak: AtomicI64,
    cycles: AtomicU64,
    sent: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
    events: Mutex<BTreeMap<String, u64>>,
}

impl Live {
    fn connected(&self, by: i64) {
        let now = self.connected.fetch_add(by, Relaxed) + by;
        self.peak.fetch_max(now, Relaxed);
    }

    fn failed(&self, label: String) {
        *self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label)
            .or_insert(0) += 1;
    }

    fn failures(&self) -> BTreeMap<String, u64> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn event(&self, label: String) {
        *self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label)
            .or_insert(0) += 1;
    }
}

/// A stable member's view at the end.
#[derive(Debug)]
struct Member {
    room: usize,
    joined_seq: u64,
    distinct: u64,
    gaps: u64,
    duplicates: u64,
    reorders: u64,
    ended_early: bool,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    setup::check_pid(common.pid)?;
    if args.conns == 0 || args.rooms == 0 {
        bail!("--conns and --rooms must be at least 1");
    }
    let [url] = common.url.as_slice() else {
        anyhow::bail!("soak runs against one server: give --url once");
    };
    let target = Target::resolve(url, common.ca_cert.as_deref()).await?;
    let prefix = setup::room_prefix();
    let pid = common.pid;
    let stable = ((args.conns as f64 * args.stable_pct.clamp(0.0, 100.0) / 100.0).round() as usize)
        .min(args.conns);
    let churners = args.conns - stable;
    let opts = common.connect_options(args.size);
    let rooms: Arc<[String]> = (0..args.rooms).map(|r| format!("{prefix}-{r}")).collect();
    let live = Arc::new(Live::default());
    let loud = !common.quiet;

    let rss_start = watch::rss(pid);
    let fds_start = watch::open_fds(pid);
    let start = Instant::now();

    // The stable members first, all joined before the churn begins.
    let gate = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let stop_stable = CancellationToken::new();
    let mut stable_tasks = JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    for i in 0..stable {
        let (target, rooms, live, gate) = (
            target.clone(),
            Arc::clone(&rooms),
            Arc::clone(&live),
            Arc::clone(&gate),
        );
        let (stop, ready) = (stop_stable.clone(), ready_tx.clone());
        stable_tasks.spawn(async move {
            let room = i % rooms.len();
            let joined = {
                let _permit = gate.acquire().await.ok()?;
                conn::connect_and_join(&target, &format!("s{i}"), &rooms[room], None, opts).await
            };
            match joined {
                Ok(j) => {
                    live.connected(1);
                    let _ = ready.send(true);
                    drop(ready);
                    let member = stay(j.ws, room, j.seq, &live, stop).await;
                    live.connected(-1);
                    Some(member)
                }
                Err(e) => {
                    live.failed(format!("stable: {}", e.label()));
                    let _ = ready.send(false);
                    None
                }
            }
        });
    }
    drop(ready_tx);
    let mut stable_joined = 0;
    let connect_deadline = Instant::now() + secs(common.connect_deadline);
    while let Ok(Some(ok)) = tokio::time::timeout_at(connect_deadline, ready_rx.recv()).await {
        stable_joined += usize::from(ok);
    }
    if loud {
        eprintln!(
            "soak: {stable_joined} of {stable} stable members joined in {:.1} s; {churners} churners start",
            start.elapsed().as_secs_f64()
        );
    }

    let stop_churn = CancellationToken::new();
    let mut churn_tasks = JoinSet::new();
    let churn_start = Instant::now();
    let end = churn_start + secs(args.duration);
    for i in 0..churners {
        let plan = Churn {
            index: i,
            rooms: Arc::clone(&rooms),
            messages: args.messages,
            size: args.size,
            dwell: secs(args.dwell),
            pause: secs(args.pause),
            opts,
        };
        let (target, live, stop) = (target.clone(), Arc::clone(&live), stop_churn.clone());
        churn_tasks.spawn(async move { plan.run(&target, &live, &stop).await });
    }

    let mut samples = Vec::new();
    let every = secs(args.every).max(Duration::from_millis(100));
    let mut next = churn_start + every;
    while next <= end {
        tokio::time::sleep_until(next).await;
        let sample = Sample {
            secs: churn_start.elapsed().as_secs_f64(),
            rss_bytes: watch::rss(pid),
            fds: watch::open_fds(pid),
            connected: live.connected.load(Relaxed),
            cycles: live.cycles.load(Relaxed),
            messages_sent: live.sent.load(Relaxed),
            connect_failures: live.failures().values().sum(),
        };
        if loud {
            eprintln!("soak: {}", format_sample(&sample));
        }
        samples.push(sample);
        next += every;
    }
    tokio::time::sleep_until(end).await;

    stop_churn.cancel();
    let all = async { while churn_tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_WAIT, all).await.is_err() {
        churn_tasks.abort_all();
        live.event("churner still busy at the end (aborted)".to_owned());
    }
    tokio::time::sleep(secs(args.drain)).await;
    let latest = probe(&target, &rooms, stable.min(args.rooms), opts, &live).await;
    // The probes' own joins reach the members as presence only: no seq moves.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_stable.cancel();
    let mut members = Vec::new();
    while let Some(done) = stable_tasks.join_next().await {
        if let Ok(Some(member)) = done {
            members.push(member);
        }
    }
    let stable_loss = loss(&members, &latest);

    // The server closes its side after our close handshakes; give it the drain to do so.
    let fds_end = settle_fds(pid, fds_start, secs(args.drain)).await;
    let rss_end = watch::rss(pid);
    let report = build(
        &args,
        Built {
            stable,
            churners,
            samples,
            rss_start,
            rss_end,
            fds_start,
            fds_end,
            stable_loss,
        },
        &live,
    );
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", format_soak(&report));
    }
    if stable_joined == 0 && report.cycles == 0 {
        bail!(
            "nothing connected: {}",
            report::events(&report.connect_failures)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A stable member: reads until `stop` (then closes) or the server ends it, checking seqs.
async fn stay(
    mut ws: Ws,
    room: usize,
    joined_seq: u64,
    live: &Live,
    stop: CancellationToken,
) -> Member {
    let mut checker = SeqChecker::new(joined_seq);
    let mut member = Member {
        room,
        joined_seq,
        distinct: 0,
        gaps: 0,
        duplicates: 0,
        reorders: 0,
        ended_early: false,
    };
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => {
                let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
                return member;
            }
            f = ws.next() => f,
        };
        let seq = match frame {
            Some(Ok(Message::Text(text))) => match wire::scan_message(&text) {
                Some(m) => Some(m.seq),
                None => match wire::parse(&text) {
                    Ok(f) if f.kind == "message" => f.seq,
                    Ok(f) if f.kind == "error" => {
                        live.event(format!(
                            "stable: error {}",
                            f.code.as_deref().unwrap_or("?")
                        ));
                        None
                    }
                    _ => None,
                },
            },
            Some(Ok(Message::Close(f))) => {
                live.event(format!(
                    "stable: closed {}",
                    f.map_or(1005, |f| u16::from(f.code))
                ));
                member.ended_early = true;
                return member;
            }
            Some(Ok(_)) => None,
            Some(Err(e)) => {
                live.event(format!("stable: read error {e}"));
                member.ended_early = true;
                return member;
            }
            None => {
                live.event("stable: disconnected".to_owned());
                member.ended_early = true;
                return member;
            }
        };
        match seq.map(|s| checker.observe(s)) {
            Some(SeqEvent::InOrder) => member.distinct += 1,
            Some(SeqEvent::Gap { .. }) => {
                member.distinct += 1;
                member.gaps += 1;
            }
            Some(SeqEvent::Reorder) => {
                member.distinct += 1;
                member.reorders += 1;
            }
            Some(SeqEvent::Duplicate) => member.duplicates += 1,
            None => {}
        }
    }
}

/// One churning client's plan.
struct Churn {
    index: usize,
    rooms: Arc<[String]>,
    messages: u64,
    size: usize,
    dwell: Duration,
    pause: Duration,
    opts: ConnectOptions,
}

impl Churn {
    /// Cycles until `stop`; the first cycle starts at a random point of one cycle's length,
    /// so the churners do not connect all at once.
    async fn run(self, target: &Target, live: &Live, stop: &CancellationToken) {
        let mut rng = SplitMix(self.index as u64);
        let first = (self.dwell + self.pause).mul_f64(rng.unit());
        if sleep_or_stop(first, stop).await {
            return;
        }
        let name = format!("c{}", self.index);
        let mut cycle = 0u64;
        while !stop.is_cancelled() {
            // Consecutive cycles visit rooms far apart, and churners spread over all rooms.
            let room = &self.rooms[(self.index + cycle as usize * 7919) % self.rooms.len()];
            cycle += 1;
            match conn::connect_and_join(target, &name, room, None, self.opts).await {
                Ok(joined) => {
                    live.connected(1);
                    self.visit(joined.ws, room, cycle, live, stop).await;
                    live.connected(-1);
                    live.cycles.fetch_add(1, Relaxed);
                }
                Err(e) => live.failed(format!("churn: {}", e.label())),
            }
            let pause = self.pause.mul_f64(0.5 + rng.unit());
            if sleep_or_stop(pause, stop).await {
                return;
            }
        }
    }

    /// One visit: send, stay (reading), leave, close.
    async fn visit(
        &self,
        mut ws: Ws,
        room: &str,
        cycle: u64,
        live: &Live,
        stop: &CancellationToken,
    ) {
        let mut buf = String::new();
        let id = format!("c{}-{cycle}", self.index);
        for n in 0..self.messages {
            wire::send_into(&mut buf, room, 0, self.size, &id, n);
            if ws.feed(Message::text(buf.as_str())).await.is_err() {
                live.event("churn: send failed".to_owned());
                return;
            }
            live.sent.fetch_add(1, Relaxed);
        }
        if ws.flush().await.is_err() {
            live.event("churn: send failed".to_owned());
            return;
        }
        let stay_until = Instant::now() + self.dwell;
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                r = tokio::time::timeout_at(stay_until, ws.next()) => match r {
                    Err(_) => break,
                    Ok(f) => f,
                },
            };
            if !self.read(frame, live) {
                return;
            }
        }
        if ws.send(Message::text(leave(room))).await.is_ok() {
            let left = async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t)))
                            if wire::parse(&t).is_ok_and(|f| f.kind == "left") =>
                        {
                            return;
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            };
            if tokio::time::timeout(LEFT_WAIT, left).await.is_err() {
                live.event("churn: no left within 5 s".to_owned());
            }
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
    }

    /// Handles a frame while staying; false when the connection ended.
    fn read(
        &self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        live: &Live,
    ) -> bool {
        match frame {
            Some(Ok(Message::Text(text))) => {
                if wire::scan_message(&text).is_none()
                    && let Ok(f) = wire::parse(&text)
                    && f.kind == "error"
                {
                    live.event(format!("churn: error {}", f.code.as_deref().unwrap_or("?")));
                }
                true
            }
            Some(Ok(Message::Close(f))) => {
                live.event(format!(
                    "churn: closed {}",
                    f.map_or(1005, |f| u16::from(f.code))
                ));
                false
            }
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                live.event(format!("churn: read error {e}"));
                false
            }
            None => {
                live.event("churn: disconnected".to_owned());
                false
            }
        }
    }
}

fn leave(room: &str) -> String {
    format!(r#"{{"type":"leave","room":"{room}"}}"#)
}

/// Sleeps `d` unless `stop` comes first; whether it did.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// A small deterministic generator for jitter (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The latest seq of each of the first `count` rooms (those with stable members), read by a
/// probe connection joining it.
async fn probe(
    target: &Target,
    rooms: &Arc<[String]>,
    count: usize,
    opts: ConnectOptions,
    live: &Arc<Live>,
) -> Vec<Option<u64>> {
    let gate = Arc::new(Semaphore::new(PROBES_AT_ONCE));
    let mut tasks = JoinSet::new();
    for r in 0..count {
        let (target, rooms, gate, live) = (
            target.clone(),
            Arc::clone(rooms),
            Arc::clone(&gate),
            Arc::clone(live),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire().await.ok()?;
            match conn::connect_and_join(&target, &format!("p{r}"), &rooms[r], None, opts).await {
                Ok(mut j) => {
                    let _ = tokio::time::timeout(CLOSE_WAIT, j.ws.close(None)).await;
                    Some((r, j.seq))
                }
                Err(e) => {
                    live.failed(format!("probe: {}", e.label()));
                    None
                }
            }
        });
    }
    let mut latest = vec![None; count];
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some((r, seq))) = done {
            latest[r] = Some(seq);
        }
    }
    latest
}

/// Each member's loss against its room's latest seq.
fn loss(members: &[Member], latest: &[Option<u64>]) -> StableLoss {
    let mut l = StableLoss {
        rooms_unprobed: latest.iter().filter(|s| s.is_none()).count() as u64,
        ..StableLoss::default()
    };
    for m in members {
        if m.ended_early {
            l.ended_early += 1;
        }
        let Some(Some(last)) = latest.get(m.room) else {
            continue;
        };
        l.members += 1;
        let expected = last.saturating_sub(m.joined_seq);
        let lost = expected.saturating_sub(m.distinct);
        l.expected += expected;
        l.received += m.distinct;
        l.lost += lost;
        l.members_with_loss += u64::from(lost > 0);
        l.gaps += m.gaps;
        l.duplicates += m.duplicates;
        l.reorders += m.reorders;
    }
    l
}

/// The server's open descriptors once they stop falling (closing sockets takes it a moment),
/// waiting at most `limit`.
async fn settle_fds(pid: Option<u32>, start: Option<u64>, limit: Duration) -> Option<u64> {
    let until = Instant::now() + limit;
    let mut fds = watch::open_fds(pid);
    while Instant::now() < until && fds.zip(start).is_some_and(|(now, s)| now > s) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fds = watch::open_fds(pid);
    }
    fds
}

/// What `run` measured, for [`build`].
struct Built {
    stable: usize,
    churners: usize,
    samples: Vec<Sample>,
    rss_start: Option<u64>,
    rss_end: Option<u64>,
    fds_start: Option<u64>,
    fds_end: Option<u64>,
    stable_loss: StableLoss,
}

fn build(args: &SoakArgs, b: Built, live: &Live) -> SoakReport {
    let after_warmup: Vec<u64> = b
        .samples
        .iter()
        .filter(|s| s.secs >= args.warmup)
        .filter_map(|s| s.rss_bytes)
        .collect();
    let first = after_warmup.first().copied();
    let last = after_warmup.last().copied();
    let ratio = |x: Option<u64>| {
        first
            .zip(x)
            .filter(|(f, _)| *f > 0)
            .map(|(f, x)| x as f64 / f as f64)
    };
    let last_over_first = ratio(last);
    let max_over_first = ratio(after_warmup.iter().copied().max());
    SoakReport {
        scenario: "soak",
        url: args.common.url.join(","),
        server_pid: args.common.pid,
        clients: args.conns,
        stable: b.stable,
        churners: b.churners,
        rooms: args.rooms,
        duration_secs: args.duration,
        warmup_secs: args.warmup,
        rss_start_bytes: b.rss_start,
        rss_first_after_warmup_bytes: first,
        rss_last_bytes: last,
        rss_last_over_first: last_over_first,
        rss_max_over_first: max_over_first,
        rss_flat: last_over_first
            .zip(max_over_first)
            .map(|(l, m)| (l - 1.0).abs() <= FLAT && m <= 1.0 + FLAT),
        rss_end_bytes: b.rss_end,
        fds_start: b.fds_start,
        fds_peak: b.samples.iter().filter_map(|s| s.fds).max(),
        fds_end: b.fds_end,
        samples: b.samples,
        cycles: live.cycles.load(Relaxed),
        messages_sent: live.sent.load(Relaxed),
        peak_connected: live.peak.load(Relaxed),
        connect_failures: live.failures(),
        events: live
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        stable_loss: b.stable_loss,
    }
}

fn opt_mib(b: Option<u64>) -> String {
    b.map_or_else(|| "-".to_owned(), report::mib)
}

fn opt_n(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_owned(), report::group)
}

fn format_sample(s: &Sample) -> String {
    format!(
        "{:>6.0} s  RSS {:>10}  fds {:>6}  connected {:>6}  cycles {:>9}  sent {:>9}  connect failures {}",
        s.secs,
        opt_mib(s.rss_bytes),
        opt_n(s.fds),
        s.connected,
        report::group(s.cycles),
        report::group(s.messages_sent),
        s.connect_failures
    )
}

fn format_soak(r: &SoakReport) -> String {
    let ratio = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"));
    let l = &r.stable_loss;
    let mut s = format!(
        "soak: {} clients ({} stable, {} churning) over {} rooms for {:.0} s, {}\n",
        report::group(r.clients as u64),
        report::group(r.stable as u64),
        report::group(r.churners as u64),
        r.rooms,
        r.duration_secs,
        r.url
    );
    for sample in &r.samples {
        s.push_str(&format!("  {}\n", format_sample(sample)));
    }
    s.push_str(&format!(
        "churn       {} cycles, {} messages sent, at most {} connected; connect failures: {}\n\
         server RSS  start {}, first after {:.0} s warm-up {}, last {}: last/first {} (max/first {}){}; \
         after closing {}\n\
         server fds  start {}, peak {}, end {}\n\
         stable      {} members ({} ended early): {} of {} messages received, {} lost ({} members), \
         gaps {}, duplicates {}, reorders {}{}\n\
         events      {}\n",
        report::group(r.cycles),
        report::group(r.messages_sent),
        report::group(r.peak_connected.max(0) as u64),
        report::events(&r.connect_failures),
        opt_mib(r.rss_start_bytes),
        r.warmup_secs,
        opt_mib(r.rss_first_after_warmup_bytes),
        opt_mib(r.rss_last_bytes),
        ratio(r.rss_last_over_first),
        ratio(r.rss_max_over_first),
        match r.rss_flat {
            Some(true) => ", flat within 10%",
            Some(false) => ", NOT flat within 10%",
            None => "",
        },
        opt_mib(r.rss_end_bytes),
        opt_n(r.fds_start),
        opt_n(r.fds_peak),
        opt_n(r.fds_end),
        report::group(l.members),
        l.ended_early,
        report::group(l.received),
        report::group(l.expected),
        report::group(l.lost),
        l.members_with_loss,
        l.gaps,
        l.duplicates,
        l.reorders,
        if l.rooms_unprobed > 0 {
            format!(", {} rooms not probed", l.rooms_unprobed)
        } else {
            String::new()
        },
        report::events(&r.events),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(room: usize, joined_seq: u64, distinct: u64) -> Member {
        Member {
            room,
            joined_seq,
            distinct,
            gaps: 0,
            duplicates: 0,
            reorders: 0,
            ended_early: false,
        }
    }

    #[test]
    fn loss_counts_what_came_after_the_join() {
        let members = [member(0, 10, 5), member(0, 12, 3), member(1, 0, 7)];
        let l = loss(&members, &[Some(15), None]);
        assert_eq!((l.members, l.expected, l.received), (2, 8, 8));
        assert_eq!((l.lost, l.members_with_loss, l.rooms_unprobed), (0, 0, 1));
        let l = loss(&[member(0, 10, 3)], &[Some(15)]);
        assert_eq!((l.lost, l.members_with_loss), (2, 1));
    }

    #[test]
    fn jitter_is_in_the_unit_interval() {
        let mut rng = SplitMix(7);
        let draws: Vec<f64> = (0..1000).map(|_| rng.unit()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
