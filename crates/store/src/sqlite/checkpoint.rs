//! Checkpoints on their own thread and connection. A checkpoint copies the WAL into the
//! database file and waits for the disk; run by the writer (SQLite's default), that wait
//! stalled every commit behind it: p99 of 12–17 ms against 2.8 ms without, with 1,000 busy
//! rooms.

use std::{
    sync::mpsc::{self, Receiver, SyncSender},
    thread::JoinHandle,
};

use rusqlite::Connection;
use tracing::{error, warn};

/// Pages written between two checkpoints, as the writer counts them: one per room a commit
/// touched. A commit writes more (the leaf, its parents, split pages: about six per commit in
/// one busy room), so under load a checkpoint comes every ~6,000 log frames, not SQLite's 1,000.
/// Counting the real frames (SQLite's WAL hook) was measured: five times the checkpoints, each
/// sync shorter, more CPU, and no better latency (docs/BENCHMARKS.md, run 11).
pub(super) const CHECKPOINT_PAGES: u64 = 1_000;

/// The next commit restarts the log (writes it again from its start) only if a checkpoint
/// copied all of it and no commit landed since. A checkpoint takes a sync of the database file
/// (20–30 ms on a VM's disk), so it is repeated, each time with less to copy, until one finds
/// nothing new, at most this many times per nudge.
const CATCH_UP_TRIES: usize = 8;

/// Past this many frames (64 MiB of 4 KiB pages) the log has not restarted for a long while
/// (a steady stream of commits leaves no gap): one checkpoint then makes the writer wait
/// while it empties the log, a stall of tens of milliseconds, so only as a last resort.
const RESTART_FRAMES: i64 = 16_000;

/// The writer's side of the checkpoint thread. Dropping it ends the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    nudges: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread over `conn`, a read-write connection with the writer's `synchronous`.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (nudges, asked) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("history-checkpoint".into())
            .spawn(move || run(&conn, &asked))?;
        Ok(Self {
            nudges: Some(nudges),
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint. Never blocks: one already asked for covers this one.
    pub(super) fn nudge(&self) {
        if let Some(nudges) = &self.nudges {
            let _ = nudges.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudges.take();
        if self.thread.take().is_some_and(|t| t.join().is_err()) {
            error!("the history checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, asked: &Receiver<()>) {
    while asked.recv().is_ok() {
        if let Err(e) = catch_up(conn) {
            warn!(error = %e, "cannot checkpoint the history database; will retry");
        }
    }
}

/// Copies the log into the database file until a checkpoint finds nothing new, so that the
/// next commit restarts the log from its beginning.
fn catch_up(conn: &Connection) -> rusqlite::Result<()> {
    let mut previous = None;
    for _ in 0..CATCH_UP_TRIES {
        let (frames, copied) = checkpoint(conn, "PASSIVE")?;
        if previous == Some(frames) && copied == frames {
            return Ok(());
        }
        if frames >= RESTART_FRAMES {
            checkpoint(conn, "RESTART")?;
            return Ok(());
        }
        previous = Some(frames);
    }
    Ok(())
}

/// Runs one checkpoint; returns the frames in the log and how many of them are copied.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}
