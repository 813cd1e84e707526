//! `idle`: open N connections joined over R rooms and send nothing. Reports the connect rate
//! (joined connections per second, until the last `joined`) and the server's memory per
//! connection: (RSS after - RSS before) / N, from `--pid`. The generator's own CPU while
//! connecting shows whether the connect rate was the server's or the generator's.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::cli::{IdleArgs, secs};
use crate::clock::Clock;
use crate::conn::Target;
use crate::fleet::{self, FleetSpec};
use crate::procstat::Proc;
use crate::report;
use crate::scenarios::setup;
use crate::stages::{StageSummary, StagesReport};
use crate::stats::Live;

/// The `--json` line of an idle run.
#[derive(Debug, Serialize)]
pub struct IdleReport {
    pub scenario: &'static str,
    pub url: String,
    pub connections: usize,
    pub rooms: usize,
    pub joined: usize,
    pub connect_failures: BTreeMap<String, u64>,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    /// How long each stage of a connect took (mean, p50, p99), over the joined clients.
    pub connect_stages: Option<StagesReport>,
    pub server_pid: Option<u32>,
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    pub rss_per_conn_bytes: Option<f64>,
    /// Server CPU spent from the first connect to the last join, per joined connection.
    pub server_cpu_us_per_conn: Option<f64>,
    /// The generator's own CPU from the first connect to the last join, in percent of one
    /// core: near 100 the connect rate is the generator's limit, not the server's.
    pub generator_cpu_pct: Option<f64>,
    /// The generator's own RSS with every connection open.
    pub generator_rss_bytes: Option<u64>,
    /// Close codes and errors seen while idle.
    pub events: BTreeMap<String, u64>,
}

/// Generator CPU (percent of its core) from which the connect rate is its own limit.
const GENERATOR_BOUND_PCT: f64 = 90.0;

pub async fn run(args: IdleArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    setup::check_pid(common.pid)?;
    if args.rooms == 0 || args.conns == 0 {
        bail!("--conns and --rooms must be at least 1");
    }
    let targets = Target::resolve_all(&common.url, common.ca_cert.as_deref()).await?;
    let server = common.pid.map(Proc::Pid);
    let rss_before = server.and_then(|p| p.rss_bytes().ok());
    let cpu_before = server.and_then(|p| p.sample().ok());
    let own_before = Proc::Own.sample().ok();

    let spec = FleetSpec {
        rooms: args.rooms,
        total: args.conns,
        senders_per_room: 0,
        size: 0,
        changes: None,
        room_prefix: setup::room_prefix(),
        concurrency: common.connect_concurrency,
        deadline: secs(common.connect_deadline),
        connect: common.connect_options(0),
    };
    let live = Arc::new(Live::new(Clock::new(), args.rooms, common.threads));
    live.begin(0, 0);
    let fleet = fleet::connect(&targets, &spec, &live, common.show_progress()).await;
    let cpu_after = server.and_then(|p| p.sample().ok());
    let own_after = Proc::Own.sample().ok();
    tokio::time::sleep(secs(args.settle)).await;
    let rss_after = server.and_then(|p| p.rss_bytes().ok());
    let generator_rss = Proc::Own.rss_bytes().ok();
    let events = live.snapshot().events;
    let joined = fleet.joined;
    let failures = fleet.failures.clone();
    let connect_secs = fleet.connect_time.as_secs_f64();
    let connect_stages = fleet.stages.report();
    fleet.close().await;

    let per_conn = |total: f64| (joined > 0).then(|| total / joined as f64);
    let report = IdleReport {
        scenario: "idle",
        url: common.url.join(","),
        connections: args.conns,
        rooms: args.rooms,
        joined,
        connect_failures: failures,
        connect_secs,
        connects_per_sec: if connect_secs > 0.0 {
            joined as f64 / connect_secs
        } else {
            0.0
        },
        connect_stages,
        server_pid: common.pid,
        rss_before_bytes: rss_before,
        rss_after_bytes: rss_after,
        rss_per_conn_bytes: rss_before
            .zip(rss_after)
            .and_then(|(b, a)| per_conn(a as f64 - b as f64)),
        server_cpu_us_per_conn: cpu_before
            .zip(cpu_after)
            .and_then(|(b, a)| per_conn(a.cpu_secs_since(&b) * 1e6)),
        generator_cpu_pct: own_before.zip(own_after).map(|(b, a)| a.percent_since(&b)),
        generator_rss_bytes: generator_rss,
        events,
    };
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", format_idle(&report));
    }
    if joined == 0 {
        bail!(
            "no connection joined: {}",
            report::events(&report.connect_failures)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn format_idle(r: &IdleReport) -> String {
    let opt_mib = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), report::mib);
    let mut s = format!(
        "idle: {} connections over {} rooms, {}\n\
         connect     {} joined in {:.2} s = {} conn/s{}\n",
        report::group(r.connections as u64),
        r.rooms,
        r.url,
        report::group(r.joined as u64),
        r.connect_secs,
        report::rate(r.connects_per_sec),
        if r.connect_failures.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", report::events(&r.connect_failures))
        }
    );
    if let Some(st) = &r.connect_stages {
        let stage = |name: &str, x: &StageSummary| {
            format!(
                "{name} {:.0}/{}/{}",
                x.mean_us,
                report::group(x.p50_us),
                report::group(x.p99_us)
            )
        };
        s.push_str(&format!(
            "stages      µs mean/p50/p99: {}, {}, {}, {}\n",
            stage("tcp", &st.tcp),
            stage("upgrade", &st.upgrade),
            stage("welcome", &st.welcome),
            stage("joined", &st.joined),
        ));
    }
    match r.server_pid {
        Some(pid) => s.push_str(&format!(
            "server      pid {pid}: RSS {} -> {} = {} per connection, {} µs CPU per connect\n",
            opt_mib(r.rss_before_bytes),
            opt_mib(r.rss_after_bytes),
            r.rss_per_conn_bytes
                .map_or_else(|| "-".to_owned(), |b| format!("{:.1} KiB", b / 1024.0)),
            r.server_cpu_us_per_conn
                .map_or_else(|| "-".to_owned(), |u| format!("{u:.0}")),
        )),
        None => s.push_str("server      (no --pid: RSS not measured)\n"),
    }
    let cpu = r.generator_cpu_pct.map_or_else(String::new, |c| {
        let bound = if c >= GENERATOR_BOUND_PCT {
            " (the connect rate is the generator's limit, not the server's)"
        } else {
            ""
        };
        format!("CPU {c:.0}% while connecting{bound}, ")
    });
    s.push_str(&format!(
        "generator   {cpu}RSS {}\nevents      {}\n",
        opt_mib(r.generator_rss_bytes),
        report::events(&r.events)
    ));
    s
}
