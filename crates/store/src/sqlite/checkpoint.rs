//! Checkpoints on their own thread and connection. A checkpoint copies the WAL into the
//! database file and waits for the disk; run by the writer (SQLite's default), that wait
//! stalled every commit behind it (docs/BENCHMARKS.md).

use std::{
    sync::mpsc::{self, Receiver, SyncSender},
    thread::JoinHandle,
    time::Duration,
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
/// (tens of ms on a VM's disk), so it is repeated, each time with less to copy, until one finds
/// nothing new, at most this many times per nudge.
const CATCH_UP_TRIES: usize = 8;

/// Past this many frames (64 MiB of 4 KiB pages) the log has not restarted for a long while
/// (a steady stream of commits leaves no gap): one checkpoint then makes the writer wait
/// while it empties the log, a stall of tens of milliseconds, so only as a last resort.
const RESTART_FRAMES: i64 = 16_000;

/// How long the checkpoint thread waits for a nudge before it ends. A process with a second
/// live thread pays for it on every socket call (the kernel then counts references on the
/// shared file table): 10,000 connects took 0.47 s against 0.42 with one parked thread
/// (docs/BENCHMARKS.md, run 17), so a server that writes nothing keeps none.
const IDLE: Duration = Duration::from_secs(10);

/// The writer's side of the checkpoint thread, which runs while nudges come and ends after
/// [`IDLE`] without one. Dropping it ends the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    nudges: SyncSender<()>,
    state: State,
    /// [`IDLE`], shorter in tests.
    idle: Duration,
}

/// What the checkpoint thread works with, handed back when it ends.
type Parts = (Connection, Receiver<()>);

/// Where the checkpoint connection and the nudge receiver are.
#[derive(Debug)]
enum State {
    Parked(Parts),
    Running(JoinHandle<Option<Parts>>),
    /// The thread failed with the connection: no more checkpoints (the writer has turned
    /// SQLite's own off), so the log grows; logged as an error.
    Gone,
}

impl Checkpointer {
    /// Keeps `conn`, a read-write connection with the writer's `synchronous`, for the thread
    /// the first nudge starts.
    pub(super) fn new(conn: Connection) -> Self {
        Self::with_idle(conn, IDLE)
    }

    fn with_idle(conn: Connection, idle: Duration) -> Self {
        let (nudges, asked) = mpsc::sync_channel(1);
        Self {
            nudges,
            state: State::Parked((conn, asked)),
            idle,
        }
    }

    /// Asks for a checkpoint, starting the thread when it is not running. Never blocks: one
    /// already asked for covers this one, and a nudge sent as the thread ends stays in the
    /// channel for the next thread.
    pub(super) fn nudge(&mut self) {
        let _ = self.nudges.try_send(());
        let parts = match std::mem::replace(&mut self.state, State::Gone) {
            State::Running(thread) if !thread.is_finished() => {
                self.state = State::Running(thread);
                return;
            }
            State::Running(thread) => match thread.join() {
                Ok(Some(parts)) => parts,
                Ok(None) | Err(_) => return error!("the history checkpoint thread failed"),
            },
            State::Parked(parts) => parts,
            State::Gone => return,
        };
        // The parts go over only once the thread exists, so a failed start keeps them for
        // the next nudge.
        let (handoff, handed) = mpsc::sync_channel(1);
        let idle = self.idle;
        let started = std::thread::Builder::new()
            .name("history-checkpoint".into())
            .spawn(move || handed.recv().ok().map(|parts| run(parts, idle)));
        match started {
            Ok(thread) => {
                let _ = handoff.send(parts);
                self.state = State::Running(thread);
            }
            Err(e) => {
                warn!(error = %e, "cannot start the history checkpoint thread; will retry");
                self.state = State::Parked(parts);
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Disconnects the channel, so a running thread ends at once.
        let (nudges, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.nudges, nudges));
        if let State::Running(thread) = std::mem::replace(&mut self.state, State::Gone)
            && thread.join().is_err()
        {
            error!("the history checkpoint thread panicked");
        }
    }
}

/// Checkpoints on every nudge until none came for `idle` (or the writer is gone), then
/// hands the connection and the receiver back.
fn run((conn, asked): Parts, idle: Duration) -> Parts {
    while asked.recv_timeout(idle).is_ok() {
        if let Err(e) = catch_up(&conn) {
            warn!(error = %e, "cannot checkpoint the history database; will retry");
        }
    }
    (conn, asked)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Far past a test's idle time: a thread still running then would never end on its own.
    const WAIT: Duration = Duration::from_secs(10);

    impl Checkpointer {
        /// Waits up to `limit` for the running thread to end on its own; true if it did and
        /// handed the connection back.
        fn ended_within(&mut self, limit: Duration) -> bool {
            let State::Running(thread) = std::mem::replace(&mut self.state, State::Gone) else {
                return false;
            };
            let (done, ended) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = done.send(thread.join());
            });
            match ended.recv_timeout(limit) {
                Ok(Ok(Some(parts))) => {
                    self.state = State::Parked(parts);
                    true
                }
                _ => false,
            }
        }
    }

    #[test]
    fn the_thread_ends_when_idle_and_the_next_nudge_starts_another_with_the_same_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).expect("open the writer");
        writer
            .pragma_update(None, "journal_mode", "wal")
            .expect("WAL mode");
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no automatic checkpoints");
        writer
            .execute("CREATE TABLE t (body BLOB)", [])
            .expect("create a table");
        let conn = Connection::open(&path).expect("open the checkpointer's connection");
        let mut checkpointer = Checkpointer::with_idle(conn, Duration::from_millis(50));
        let file_size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        for round in 0..2 {
            let before = file_size();
            // 20 pages of 4 KB: they stay in the log until a checkpoint copies them.
            for _ in 0..20 {
                writer
                    .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                    .expect("insert");
            }
            checkpointer.nudge();
            assert!(
                checkpointer.ended_within(WAIT),
                "round {round}: the checkpoint thread did not end when idle"
            );
            assert!(
                file_size() >= before + 20 * 4000,
                "round {round}: no checkpoint copied the log into the file"
            );
        }
    }
}
