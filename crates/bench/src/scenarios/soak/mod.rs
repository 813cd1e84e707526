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
//!
//! One job per file: [`stable`] (the members that stay, and their loss), [`churn`] (the
//! clients that come and go), [`report`] (the samples, the report and its text).

mod churn;
mod report;
mod stable;

pub use report::{Sample, SoakReport, StableLoss};

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::bail;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::{SoakArgs, secs};
use crate::conn::{self, Target};
use crate::report as text;
use crate::scenarios::setup;
use crate::scenarios::watch;
use churn::Churn;
use report::{Built, build, format_sample, format_soak};
use stable::{loss, probe, stay};

/// How long closing waits for a close handshake, and the whole churn for its tasks to end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
const STOP_WAIT: Duration = Duration::from_secs(15);

/// Live counts shared by the tasks.
#[derive(Debug, Default)]
struct Live {
    pub(super) connected: AtomicI64,
    pub(super) peak: AtomicI64,
    pub(super) cycles: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) failures: Mutex<BTreeMap<String, u64>>,
    pub(super) events: Mutex<BTreeMap<String, u64>>,
}

impl Live {
    pub(super) fn connected(&self, by: i64) {
        let now = self.connected.fetch_add(by, Relaxed) + by;
        self.peak.fetch_max(now, Relaxed);
    }

    pub(super) fn failed(&self, label: String) {
        *self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label)
            .or_insert(0) += 1;
    }

    pub(super) fn failures(&self) -> BTreeMap<String, u64> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn event(&self, label: String) {
        *self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label)
            .or_insert(0) += 1;
    }
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
            text::events(&report.connect_failures)
        );
    }
    Ok(ExitCode::SUCCESS)
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
