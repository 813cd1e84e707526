//! What a soak run reports: the periodic samples, the `--json` line, and its text.

use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::Live;
use crate::cli::SoakArgs;
use crate::report;

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

/// What `run` measured, for [`build`].
pub(super) struct Built {
    pub(super) stable: usize,
    pub(super) churners: usize,
    pub(super) samples: Vec<Sample>,
    pub(super) rss_start: Option<u64>,
    pub(super) rss_end: Option<u64>,
    pub(super) fds_start: Option<u64>,
    pub(super) fds_end: Option<u64>,
    pub(super) stable_loss: StableLoss,
}

pub(super) fn build(args: &SoakArgs, b: Built, live: &Live) -> SoakReport {
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

pub(super) fn format_sample(s: &Sample) -> String {
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

pub(super) fn format_soak(r: &SoakReport) -> String {
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
