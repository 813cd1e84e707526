//! What `fanout` and `ramp` do before measuring: check `--pid`, resolve the target, connect
//! and join the fleet, and warn when the server's announced limits will distort the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::cli::{Common, Shape, secs};
use crate::clock::Clock;
use crate::conn::Target;
use crate::fleet::{self, Fleet, FleetSpec};
use crate::procstat::Proc;
use crate::report;
use crate::stats::Live;

/// How the run was set up, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct SetupReport {
    pub url: String,
    pub rooms: usize,
    pub clients_per_room: usize,
    pub senders_per_room: usize,
    pub size: usize,
    pub connections: usize,
    pub joined: usize,
    pub connect_failures: BTreeMap<String, u64>,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub threads: usize,
    pub server_pid: Option<u32>,
}

/// A connected fan-out fleet and what it measures into.
#[derive(Debug)]
pub struct Prepared {
    pub live: Arc<Live>,
    pub fleet: Fleet,
    pub setup: SetupReport,
}

/// Fails early when `--pid` names no readable process, rather than after the run.
pub fn check_pid(pid: Option<u32>) -> anyhow::Result<()> {
    if let Some(pid) = pid {
        Proc::Pid(pid)
            .sample()
            .with_context(|| format!("--pid {pid}: cannot read the server's /proc entry"))?;
    }
    Ok(())
}

/// A room-name prefix unique to this run, so every room starts at seq 0 even on a server
/// that has seen earlier runs.
pub fn room_prefix() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("bench{}-{}", std::process::id(), secs % 1_000_000)
}

/// Prints a warning on stderr unless `--quiet`.
pub fn warn(common: &Common, msg: &str) {
    if !common.quiet {
        eprintln!("warning: {msg}");
    }
}

/// Connects `shape`'s fleet. Fails only when nobody joined.
pub async fn connect_shape(shape: &Shape) -> anyhow::Result<Prepared> {
    let common = &shape.common;
    check_pid(common.pid)?;
    if shape.rooms == 0 || shape.clients == 0 {
        bail!("--rooms and --clients must be at least 1");
    }
    if shape.senders > shape.clients {
        bail!(
            "--senders ({}) is more than --clients ({})",
            shape.senders,
            shape.clients
        );
    }
    let targets = Target::resolve_all(&common.url, common.ca_cert.as_deref()).await?;
    let spec = FleetSpec {
        rooms: shape.rooms,
        total: shape.rooms * shape.clients,
        senders_per_room: shape.senders,
        size: shape.size,
        changes: shape.changes,
        room_prefix: room_prefix(),
        concurrency: common.connect_concurrency,
        deadline: secs(common.connect_deadline),
        connect: common.connect_options(shape.size),
    };
    let live = Arc::new(Live::new(Clock::new(), shape.rooms, common.threads));
    let fleet = fleet::connect(&targets, &spec, &live, common.show_progress()).await;
    if fleet.joined == 0 {
        bail!(
            "no client joined {}: {}",
            common.url.join(" "),
            report::events(&fleet.failures)
        );
    }
    if fleet.failed() > 0 {
        warn(
            common,
            &format!(
                "{} of {} clients did not join: {}",
                fleet.failed(),
                spec.total,
                report::events(&fleet.failures)
            ),
        );
    }
    let secs = fleet.connect_time.as_secs_f64();
    let setup = SetupReport {
        url: common.url.join(","),
        rooms: shape.rooms,
        clients_per_room: shape.clients,
        senders_per_room: shape.senders,
        size: shape.size,
        connections: spec.total,
        joined: fleet.joined,
        connect_failures: fleet.failures.clone(),
        connect_secs: secs,
        connects_per_sec: if secs > 0.0 {
            fleet.joined as f64 / secs
        } else {
            0.0
        },
        threads: common.threads,
        server_pid: common.pid,
    };
    Ok(Prepared { live, fleet, setup })
}

/// Warns when the highest offered rate per sender, or the text size, is over what the server
/// announced in `welcome` (our server rate-limits sends; the peers announce nothing).
pub fn warn_limits(common: &Common, fleet: &Fleet, shape: &Shape, top_rate: f64) {
    let Some(limits) = fleet.limits else { return };
    let senders = (shape.rooms * shape.senders).max(1) as f64;
    let per_sender = top_rate / senders;
    if let Some(max) = limits.messages_per_sec.filter(|&max| per_sender > max) {
        warn(
            common,
            &format!(
                "each sender sends {per_sender:.1} msg/s but the server allows {max}/s per \
                 connection (burst {}): expect `rate_limited` errors and loss; add senders",
                limits.burst.unwrap_or(0.0)
            ),
        );
    }
    if let Some(max) = limits.max_text_bytes.filter(|&max| shape.size as u64 > max) {
        warn(
            common,
            &format!(
                "--size {} is over the server's max_text_bytes {max}",
                shape.size
            ),
        );
    }
}

/// The setup as one text line.
pub fn format_setup(name: &str, s: &SetupReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{name}: {} rooms x {} clients, {} senders/room, {} B text, {}\n\
         connect     {} of {} joined in {:.2} s ({} conn/s){}",
        s.rooms,
        s.clients_per_room,
        s.senders_per_room,
        s.size,
        s.url,
        report::group(s.joined as u64),
        report::group(s.connections as u64),
        s.connect_secs,
        report::rate(s.connects_per_sec),
        if s.connect_failures.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", report::events(&s.connect_failures))
        }
    );
    out
}
