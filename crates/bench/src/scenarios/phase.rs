//! One measured phase over a connected fleet: open the window, pace sends at the offered rate
//! for warm-up + duration, sample CPU at the window's edges, drain, and read the result.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::SendTurn;
use crate::fleet::Fleet;
use crate::pace::Schedule;
use crate::procstat::{CpuSample, Proc};
use crate::progress;
use crate::report::{self, Latency, PhaseReport, ServerUsage};
use crate::stats::Live;

/// How often the progress line and the drain check look at the counters.
const POLL: Duration = Duration::from_millis(100);

/// What one phase does.
#[derive(Clone, Debug)]
pub struct PhasePlan {
    /// Combined offered rate, messages/s.
    pub rate: f64,
    /// Sent but not measured, before the window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// After the last send, the longest wait for the expected deliveries.
    pub drain: Duration,
    /// Shown on the progress bar.
    pub label: String,
}

/// Runs `plan` over `fleet` and reports what the window measured.
pub async fn run(
    fleet: &Fleet,
    live: &Arc<Live>,
    plan: &PhasePlan,
    pid: Option<u32>,
    show: bool,
) -> PhaseReport {
    let start = Instant::now();
    let window_start = start + plan.warmup;
    let window_end = window_start + plan.duration;
    live.begin(
        live.clock.us_at(window_start.into_std()),
        live.clock.us_at(window_end.into_std()),
    );
    let schedule = Schedule::new(plan.rate, plan.warmup + plan.duration);
    let pacer = tokio::spawn(pace(
        fleet.senders.clone(),
        schedule,
        start,
        Arc::clone(live),
    ));

    let bar = progress::phase(plan.warmup + plan.duration, show);
    bar.set_prefix(plan.label.clone());
    let server = pid.map(Proc::Pid);
    let mut first: Option<(Option<CpuSample>, Option<CpuSample>)> = None;
    let last;
    let mut tick = tokio::time::interval(POLL);
    loop {
        let now = Instant::now();
        if first.is_none() && now >= window_start {
            first = Some(sample(server));
        }
        if now >= window_end {
            last = Some(sample(server));
            break;
        }
        bar.set_position(now.saturating_duration_since(start).as_millis() as u64);
        bar.set_message(live_line(live, now < window_start));
        // Wake for the next poll or exactly at a window edge, whichever comes first.
        let edge = if first.is_none() {
            window_start
        } else {
            window_end
        };
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(edge) => {}
        }
    }
    let rss = server.and_then(|p| p.rss_bytes().ok());
    // The pacer's last deadline is before window_end; a panic in it only loses its lag figure.
    let max_lag = pacer.await.unwrap_or_default();

    bar.set_prefix("draining");
    let drain_until = Instant::now() + plan.drain;
    while Instant::now() < drain_until && !drained(fleet, live) {
        bar.set_message(live_line(live, false));
        tokio::time::sleep(POLL.min(Duration::from_millis(20))).await;
    }
    bar.finish_and_clear();

    let (s0, g0) = first.unwrap_or_default();
    let (s1, g1) = last.unwrap_or_default();
    build(live, plan, pid, (s0, s1), (g0, g1), rss, max_lag)
}

/// Reads (server, own) CPU samples; a failed read gives None.
fn sample(server: Option<Proc>) -> (Option<CpuSample>, Option<CpuSample>) {
    (
        server.and_then(|p| p.sample().ok()),
        Proc::Own.sample().ok(),
    )
}

/// Whether every turn was sent and every expected delivery arrived.
fn drained(fleet: &Fleet, live: &Live) -> bool {
    let c = &live.counters;
    fleet
        .senders
        .iter()
        .all(|s| s.is_closed() || s.capacity() == s.max_capacity())
        && c.received.load(Relaxed) >= c.expected.load(Relaxed)
}

fn live_line(live: &Live, warming: bool) -> String {
    let c = &live.counters;
    format!(
        "{} frames {}, measured {}/{}",
        if warming { "warm-up" } else { "measuring" },
        report::group(c.frames.load(Relaxed)),
        report::group(c.received.load(Relaxed)),
        report::group(c.expected.load(Relaxed)),
    )
}

type Pair = (Option<CpuSample>, Option<CpuSample>);

fn build(
    live: &Live,
    plan: &PhasePlan,
    pid: Option<u32>,
    server: Pair,
    own: Pair,
    rss: Option<u64>,
    max_lag: Duration,
) -> PhaseReport {
    let snap = live.snapshot();
    let secs = plan.duration.as_secs_f64().max(1e-9);
    let lost = snap.expected.saturating_sub(snap.received);
    let server = match (pid, server) {
        (Some(pid), (Some(a), Some(b))) => {
            let cpu_secs = b.cpu_secs_since(&a);
            let per_delivery =
                |secs: f64| (snap.received > 0).then(|| secs * 1e6 / snap.received as f64);
            Some(ServerUsage {
                pid,
                cpu_pct: b.percent_since(&a),
                cpu_secs,
                cpu_wait_pct: b.wait_percent_since(&a),
                us_per_delivery: per_delivery(cpu_secs),
                user_us_per_delivery: per_delivery(b.user_secs_since(&a)),
                rss_bytes: rss,
            })
        }
        _ => None,
    };
    PhaseReport {
        window_secs: secs,
        offered_msgs_per_sec: plan.rate,
        published_msgs_per_sec: snap.published as f64 / secs,
        published: snap.published,
        changes: snap.changes,
        expected_deliveries: snap.expected,
        received_deliveries: snap.received,
        deliveries_per_sec: snap.received as f64 / secs,
        latency: Latency::from_histogram(&snap.latency),
        lost,
        loss_pct: if snap.expected > 0 {
            100.0 * lost as f64 / snap.expected as f64
        } else {
            0.0
        },
        gaps: snap.gaps,
        missing_seqs: snap.missing,
        duplicates: snap.duplicates,
        reorders: snap.reorders,
        not_dispatched: snap.not_dispatched,
        send_errors: snap.send_errors,
        events: snap.events,
        pacer_max_lag_ms: max_lag.as_secs_f64() * 1000.0,
        generator_cpu_pct: match own {
            (Some(a), Some(b)) => Some(b.percent_since(&a)),
            _ => None,
        },
        generator_cpu_wait_pct: match own {
            (Some(a), Some(b)) => b.wait_percent_since(&a),
            _ => None,
        },
        server,
    }
}

/// Hands out send turns on `schedule` from `start`, round-robin over `senders` (ordered so
/// consecutive turns go to different rooms). Sleeps to each absolute deadline and sends every
/// turn due by the wake-up in one batch, so a coarse timer costs latency, never rate.
/// Returns the worst lateness of a wake-up.
async fn pace(
    senders: Vec<mpsc::Sender<SendTurn>>,
    schedule: Schedule,
    start: Instant,
    live: Arc<Live>,
) -> Duration {
    let mut max_lag = Duration::ZERO;
    if senders.is_empty() {
        return max_lag;
    }
    let n = senders.len() as u64;
    let mut k = 0;
    while k < schedule.total() {
        let deadline = start + schedule.offset(k);
        tokio::time::sleep_until(deadline).await;
        let now = Instant::now();
        max_lag = max_lag.max(now.saturating_duration_since(deadline));
        let due = schedule.due_by(now.saturating_duration_since(start));
        for j in k..due {
            let sender = &senders[(j % n) as usize];
            if sender.try_send(SendTurn).is_err() && live.in_window(live.clock.now_us()) {
                live.counters.not_dispatched.fetch_add(1, Relaxed);
            }
        }
        k = due.max(k + 1);
    }
    max_lag
}
