//! Messages per second each history sustains when appended to from one thread, as the hub
//! does, until every append is reported committed; and how long a message waits for its
//! commit (append → `Commit::Durable`), unpaced and at a steady rate.
//!
//! ```text
//! cargo run --release -p chat-store --example bench -- [MESSAGES] [ROOMS] [RATE]
//! ```
//! Defaults: 200,000 messages over 10 rooms, then a paced run at 10,000 messages/s. The
//! SQLite files go to a temporary folder (set TMPDIR to measure another disk). At most
//! [`IN_FLIGHT`] messages wait for their commit at once, as if the clients were held back by
//! the server: the unpaced rate is what the writer sustains.

/// Appended but not yet committed, at most (the store itself refuses past 100,000).
const IN_FLIGHT: usize = 20_000;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use chat_store::{Fsync, MemoryHistory, SqliteHistory, SqliteOptions};
use chat_ws::{
    history::{Appended, Commit, History, Retention, now_ms},
    log::Draft,
    protocol::{RoomName, User},
};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or_else(|_| usage()))
        .collect();
    let messages = args.first().copied().unwrap_or(200_000) as usize;
    let rooms = args.get(1).copied().unwrap_or(10).max(1) as usize;
    let rate = args.get(2).copied().unwrap_or(10_000);
    let paced = (rate as usize).min(messages).max(1);

    println!(
        "{messages} messages of 60 bytes over {rooms} rooms; retention 10000 per room; release build recommended"
    );
    println!(
        "{:<16} {:>9} {:>9} {:>12} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "history",
        "messages",
        "seconds",
        "messages/s",
        "append",
        "commits",
        "avg batch",
        "p50 wait",
        "p99 wait"
    );
    for (label, fsync) in [
        ("memory", None),
        ("sqlite off", Some(Fsync::Off)),
        ("sqlite normal", Some(Fsync::Normal)),
        ("sqlite full", Some(Fsync::Full)),
    ] {
        run(label, fsync, messages, rooms, None);
    }
    println!("paced at {rate} messages/s ({paced} messages):");
    for (label, fsync) in [
        ("sqlite normal", Some(Fsync::Normal)),
        ("sqlite full", Some(Fsync::Full)),
    ] {
        run(label, fsync, paced, rooms, Some(rate));
    }
}

fn usage() -> ! {
    eprintln!("usage: bench [MESSAGES] [ROOMS] [RATE]");
    std::process::exit(2);
}

fn run(label: &str, fsync: Option<Fsync>, messages: usize, rooms: usize, rate: Option<u64>) {
    let retention = Retention {
        max_per_room: 10_000,
        max_age: None,
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut history: Box<dyn History> = match fsync {
        None => Box::new(MemoryHistory::new(retention)),
        Some(fsync) => {
            let mut options = SqliteOptions::new(dir.path().join("bench.db"), retention);
            options.fsync = fsync;
            Box::new(SqliteHistory::open(options).unwrap_or_else(|e| panic!("open: {e}")))
        }
    };
    // The hub's side of the commit channel, on its own thread: when each report arrives.
    let committed = Arc::new(AtomicUsize::new(0));
    let counted = committed.clone();
    let reports = history.take_commits().map(|mut commits| {
        thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(commit) = commits.blocking_recv() {
                match commit {
                    Commit::Durable(events) => {
                        seen.push((Instant::now(), events.len()));
                        counted.fetch_add(events.len(), Ordering::Release);
                    }
                    Commit::Failed { error, .. } => panic!("write failed: {error}"),
                }
            }
            seen
        })
    });
    let names: Vec<RoomName> = (0..rooms)
        .map(|i| RoomName::parse(&format!("room-{i}")).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let user = User::new("u_bench", "bench");
    let text: Arc<str> = "x".repeat(60).into();
    let mut appended_at = Vec::with_capacity(messages);
    // Time the hub's task would spend inside `append`.
    let mut in_append = Duration::ZERO;
    let started = Instant::now();
    for i in 0..messages {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        while reports.is_some() && i - committed.load(Ordering::Acquire) >= IN_FLIGHT {
            thread::sleep(Duration::from_micros(50));
        }
        let draft = Draft::message(
            names[i % rooms].clone(),
            user.clone(),
            text.clone(),
            Some(format!("c{i}").into()),
        );
        let before = Instant::now();
        appended_at.push(before);
        match history.append(draft, now_ms()) {
            Ok(Appended::Stored(_) | Appended::Queued(_)) => {}
            Ok(other) => panic!("a plain message is never refused: {other:?}"),
            Err(e) => panic!("append: {e}"),
        }
        in_append += before.elapsed();
    }
    // Flush waits for the last commit; dropping the history closes the commit channel.
    history.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    drop(history);
    let seen = reports.map(|t| t.join().unwrap_or_default());
    let finished = seen
        .as_ref()
        .and_then(|s| s.last().map(|(at, _)| *at))
        .unwrap_or_else(Instant::now);
    let seconds = finished.duration_since(started).as_secs_f64();
    let (commits, batch, p50, p99) = match &seen {
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
        Some(seen) => {
            let mut waits = Vec::with_capacity(messages);
            let mut next = 0;
            for (at, n) in seen {
                for t in &appended_at[next..next + n] {
                    waits.push(at.duration_since(*t));
                }
                next += n;
            }
            waits.sort();
            let pick = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize];
            (
                seen.len().to_string(),
                format!("{:.0}", messages as f64 / seen.len() as f64),
                format!("{:.2?}", pick(0.50)),
                format!("{:.2?}", pick(0.99)),
            )
        }
    };
    println!(
        "{label:<16} {messages:>9} {seconds:>9.3} {:>12.0} {:>10.2?} {commits:>9} {batch:>10} {p50:>10} {p99:>10}",
        messages as f64 / seconds,
        in_append / messages as u32,
    );
}
