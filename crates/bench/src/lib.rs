//! `chat-bench`: a load generator that speaks the chat wire protocol (`shared/PROTOCOL.md`),
//! so the same numbers can be taken from our server and from the reference peers.
//!
//! It owns connecting many clients, pacing sends, timing every delivery and reading the
//! server's CPU and memory from `/proc`. It must not know anything about the server's
//! internals: everything it learns comes over the WebSocket or from `/proc/PID`.
//!
//! # Layout
//! - [`cli`]: the clap command line (`fanout`, `ramp`, `idle`, `attack`, `soak`) and the options they share.
//! - [`clock`]: the process-wide monotonic epoch that send stamps and receive times share.
//! - [`pace`]: the absolute-deadline send schedule (message k is due at k / rate).
//! - [`wire`]: the few frames we write (`join`, `send`) and the borrowed view of frames we read.
//! - [`conn`]: one connection up to `joined` (TCP with an optional source address, upgrade,
//!   `welcome`, `join`), every stage under a timeout.
//! - [`client`]: the task that runs one joined connection: reads deliveries, writes paced sends.
//! - [`fleet`]: many clients over many rooms, connected with bounded concurrency.
//! - [`seqcheck`]: per-connection seq tracking: gaps, duplicates, reordering.
//! - [`stats`]: the live counters and latency histograms the client tasks write into.
//! - [`procstat`]: CPU ticks and RSS of a process from `/proc/PID/{stat,status}`.
//! - [`report`]: the result structs (serialised for `--json`) and their text form.
//! - [`progress`]: indicatif bars on stderr, hidden with `--quiet`/`--json`.
//! - [`chart`]: the SVG chart of a ramp (plotters).
//! - [`sys`]: raising `RLIMIT_NOFILE`.
//! - [`scenarios`]: `phase` (one paced, measured window over a fleet), `setup` (connecting a
//!   fan-out fleet, limit warnings), `fanout`, `ramp`, `idle`, `attack` (the hostile clients
//!   of issue 23), `soak` (churn for minutes), and what the last two share: `requests` (many
//!   requests in flight on one connection) and `watch` (the server's RSS and open fds).

pub mod chart;
pub mod cli;
pub mod client;
pub mod clock;
pub mod conn;
pub mod fleet;
mod own;
pub mod pace;
pub mod procstat;
pub mod progress;
pub mod report;
pub mod scenarios;
pub mod seqcheck;
pub mod stages;
pub mod stats;
pub mod sys;
pub mod wire;

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command};

/// Runs one command of the CLI on a runtime sized by `--threads`, and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let common = cli.command.common();
    match sys::raise_nofile_limit() {
        Err(e) if !common.quiet => eprintln!("warning: could not raise RLIMIT_NOFILE: {e}"),
        // A few descriptors go to stdio, the runtime and /proc reads.
        Ok(Some(limit)) if !common.quiet && cli.command.connections() as u64 + 32 > limit => {
            eprintln!(
                "warning: RLIMIT_NOFILE is {limit} (the hard limit): {} connections will not \
                 all fit; raise it (as root: `ulimit -Hn`, `prlimit`) for this and the server",
                cli.command.connections()
            );
        }
        _ => {}
    }
    let runtime = build_runtime(common.threads).context("building the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Fanout(args) => scenarios::fanout::run(args).await,
            Command::Ramp(args) => scenarios::ramp::run(args).await,
            Command::Idle(args) => scenarios::idle::run(args).await,
            Command::Attack(args) => scenarios::attack::run(args).await,
            Command::Soak(args) => scenarios::soak::run(args).await,
        }
    })
}

/// One thread gives a current-thread runtime, so the whole generator can be pinned to one CPU
/// with `taskset`; more gives a multi-thread runtime with that many workers.
fn build_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}
