//! The writer: owns the read-write connection, commits whatever has queued in one transaction
//! (group commit), reports each outcome to the hub, and between commits lets retention delete
//! what it no longer keeps (`trim.rs`). It runs in the hub's thread at the end of each batch
//! of commands, or, when every commit waits for the disk's sync (`fsync = full`), on a thread
//! of its own so that the hub never waits for the disk.

use std::{
    os::unix::fs::MetadataExt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Instant,
};

use chat_ws::{
    history::{Commit, HistoryError, Retention},
    log::Event,
};

use rusqlite::Connection;
use tokio::sync::mpsc::UnboundedSender;
use tracing::error;

use super::{
    checkpoint::{CHECKPOINT_PAGES, Checkpointer},
    insert::insert,
    trim::Trim,
};

/// Most messages in one transaction: bounds how long one commit holds the write lock and how
/// late the first message of a big backlog is reported.
const MAX_BATCH: usize = 2_048;

/// A sequenced message on its way to the file.
#[derive(Debug)]
pub(super) struct Write {
    /// The store's epoch when it was sequenced; see [`WriterHandle::failed_epoch`].
    pub(super) epoch: u64,
    pub(super) message: Arc<Event>,
    /// For a change: its target's new state, written over the target's row.
    pub(super) target: Option<Arc<Event>>,
}

enum Job {
    Write(Write),
    /// Answer once everything queued before it has been committed (or has failed).
    Flush(mpsc::SyncSender<Result<(), HistoryError>>),
}

/// What the writer publishes to the store without a lock.
#[derive(Debug, Default)]
struct Shared {
    /// How many writes, in queue order, have been committed or have failed.
    resolved: AtomicU64,
    /// The highest epoch in which a write failed (0: none yet).
    failed_epoch: AtomicU64,
    /// The database file was deleted or replaced: nothing is stored any more.
    file_gone: AtomicBool,
}

/// Whether the history can still store: false once its file was deleted or replaced while
/// the server runs (`/readyz` then answers 503).
#[derive(Debug, Clone)]
pub struct FileHealth(Arc<Shared>);

impl FileHealth {
    pub fn is_ok(&self) -> bool {
        !self.0.file_gone.load(Ordering::Acquire)
    }
}

/// The store's side of the writer: it commits in the caller's thread, at [`Self::end_batch`],
/// or on a thread of its own. Dropping it commits what is queued (and waits for the thread).
#[derive(Debug)]
pub(super) struct WriterHandle {
    mode: Mode,
    shared: Arc<Shared>,
}

#[derive(Debug)]
enum Mode {
    /// Commits in the caller's thread at the end of each batch. A commit that does not wait
    /// for the disk's sync is short; handing it to a thread and hearing back cost more (two
    /// wake-ups and four context switches per commit at light load; docs/BENCHMARKS.md).
    Inline {
        writer: Box<Writer>,
        /// Appended since the last commit.
        pending: Vec<Write>,
    },
    /// Commits on the `history-writer` thread, for commits that wait for the disk's sync.
    Thread {
        jobs: Option<mpsc::Sender<Job>>,
        thread: Option<JoinHandle<()>>,
        /// Writes handed over since the last [`WriterHandle::end_batch`].
        handed: bool,
    },
}

impl WriterHandle {
    /// A writer over `conn` that commits on its own thread when `on_thread`, else in
    /// [`Self::end_batch`]; outcomes go to `commits`.
    pub(super) fn start(
        conn: Connection,
        file: std::fs::File,
        checkpointer: Checkpointer,
        retention: Retention,
        commits: UnboundedSender<Commit>,
        on_thread: bool,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            conn,
            file,
            checkpointer,
            unchecked_pages: 0,
            commits,
            shared: shared.clone(),
            failed_epoch: 0,
            unflushed_error: None,
            trim: Trim::new(retention),
        };
        let mode = if on_thread {
            let (jobs, queue) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name("history-writer".into())
                .spawn(move || writer.run(&queue))?;
            Mode::Thread {
                jobs: Some(jobs),
                thread: Some(thread),
                handed: false,
            }
        } else {
            Mode::Inline {
                writer: Box::new(writer),
                pending: Vec::with_capacity(MAX_BATCH),
            }
        };
        Ok(Self { mode, shared })
    }

    /// Queues a write. Never blocks, but for a commit when [`MAX_BATCH`] writes are pending
    /// inline.
    pub(super) fn write(&mut self, write: Write) -> Result<(), HistoryError> {
        match &mut self.mode {
            Mode::Inline { writer, pending } => {
                pending.push(write);
                if pending.len() >= MAX_BATCH {
                    writer.commit(pending);
                }
                Ok(())
            }
            Mode::Thread { jobs, handed, .. } => {
                *handed = true;
                jobs.as_ref()
                    .and_then(|jobs| jobs.send(Job::Write(write)).ok())
                    .ok_or_else(stopped)
            }
        }
    }

    /// The caller's batch is over: inline, commit what is pending (reported before this
    /// returns) and take one bounded step of retention; on a thread, give it the CPU now, so
    /// that its commit (the usual case) is reported in time for the caller's next look.
    pub(super) fn end_batch(&mut self) {
        match &mut self.mode {
            Mode::Inline { writer, pending } => {
                writer.commit(pending);
                writer.trim.step(&writer.conn, Instant::now());
            }
            // On one CPU this saves a whole scheduling round per message under load.
            Mode::Thread { handed, .. } => {
                if std::mem::take(handed) {
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Blocks until everything queued so far is committed; an error if any write failed
    /// since the last flush.
    pub(super) fn flush(&mut self) -> Result<(), HistoryError> {
        match &mut self.mode {
            Mode::Inline { writer, pending } => {
                writer.commit(pending);
                writer.unflushed_error.take().map_or(Ok(()), Err)
            }
            Mode::Thread { jobs, .. } => {
                let (ack, done) = mpsc::sync_channel(1);
                jobs.as_ref()
                    .and_then(|jobs| jobs.send(Job::Flush(ack)).ok())
                    .ok_or_else(stopped)?;
                done.recv().map_err(|_| stopped())?
            }
        }
    }

    /// How many writes, in queue order, are committed or failed: those no longer need a copy
    /// in memory.
    pub(super) fn resolved(&self) -> u64 {
        self.shared.resolved.load(Ordering::Acquire)
    }

    /// Whether the history can still store.
    pub(super) fn health(&self) -> FileHealth {
        FileHealth(self.shared.clone())
    }

    /// The highest epoch with a failed write. Every write of that epoch or an earlier one
    /// that was not committed yet fails too, because its seq came after a lost one; the store
    /// starts a new epoch and reloads its rooms from the file.
    pub(super) fn failed_epoch(&self) -> u64 {
        self.shared.failed_epoch.load(Ordering::Acquire)
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        match &mut self.mode {
            Mode::Inline { writer, pending } => {
                writer.commit(pending);
            }
            Mode::Thread { jobs, thread, .. } => {
                jobs.take();
                if thread.take().is_some_and(|t| t.join().is_err()) {
                    error!("the history writer thread panicked");
                }
            }
        }
    }
}

fn stopped() -> HistoryError {
    HistoryError("the history writer has stopped".into())
}

/// Owns the read-write connection: commits, reports, and deletes what retention drops.
#[derive(Debug)]
struct Writer {
    conn: Connection,
    /// The database file, open on its own: its link count tells whether someone deleted it.
    file: std::fs::File,
    checkpointer: Checkpointer,
    /// Pages written since the last checkpoint was asked for, about: one per room a commit
    /// touched.
    unchecked_pages: u64,
    commits: UnboundedSender<Commit>,
    shared: Arc<Shared>,
    /// Mirror of `Shared::failed_epoch`.
    failed_epoch: u64,
    /// The first failure since the last flush, answered to the next flush.
    unflushed_error: Option<HistoryError>,
    trim: Trim,
}

impl Writer {
    /// The `history-writer` thread: commits whatever has queued, until the store is gone.
    fn run(mut self, queue: &mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = match self.trim.wait(Instant::now()) {
                None => queue
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(wait) => queue.recv_timeout(wait),
            };
            let mut flush = None;
            let mut next = match first {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                // The store is gone and the queue is empty: everything was committed.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            while let Some(job) = next.take() {
                match job {
                    Job::Write(write) => batch.push(write),
                    Job::Flush(ack) => {
                        flush = Some(ack);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            self.commit(&mut batch);
            if let Some(ack) = flush {
                let _ = ack.send(self.unflushed_error.take().map_or(Ok(()), Err));
            }
            self.trim.step(&self.conn, Instant::now());
        }
    }

    /// Commits `batch` in one transaction and reports the outcome, in queue order (nothing for
    /// an empty batch).
    fn commit(&mut self, batch: &mut Vec<Write>) {
        if batch.is_empty() {
            return;
        }
        // Epochs never decrease along the queue, so the writes that follow a failure (their
        // seqs would leave a gap) are a prefix of the batch.
        let tainted = batch
            .iter()
            .take_while(|w| w.epoch <= self.failed_epoch)
            .count();
        let fresh = &batch[tainted..];
        let result = if fresh.is_empty() {
            Ok(Vec::new())
        } else if self.file_gone() {
            Err(file_gone_error())
        } else {
            insert(&self.conn, fresh, &self.trim.rooms)
        };
        if let (Err(_), Some(last)) = (&result, fresh.last()) {
            self.failed_epoch = last.epoch;
            self.shared
                .failed_epoch
                .store(self.failed_epoch, Ordering::Release);
        }
        self.shared
            .resolved
            .fetch_add(batch.len() as u64, Ordering::Release);
        if tainted > 0 {
            self.fail(
                &batch[..tainted],
                HistoryError("not stored: an earlier message of the history failed".into()),
            );
        }
        match result {
            Ok(rooms) => {
                if !fresh.is_empty() {
                    let events = fresh.iter().map(|w| w.message.clone()).collect();
                    let _ = self.commits.send(Commit::Durable(events));
                }
                self.unchecked_pages += rooms.len() as u64;
                if self.unchecked_pages >= CHECKPOINT_PAGES {
                    self.unchecked_pages = 0;
                    self.checkpointer.nudge();
                }
                self.trim.committed(rooms);
            }
            Err(e) => {
                error!(messages = fresh.len(), error = %e, "cannot write the history database");
                self.fail(
                    fresh,
                    HistoryError(format!("cannot write the history database: {e}")),
                );
            }
        }
        batch.clear();
    }

    /// Whether the database file lost its last name (deleted, or replaced by another file):
    /// what would be committed now would be gone at the next start, and seqs reused then.
    fn file_gone(&mut self) -> bool {
        if self.shared.file_gone.load(Ordering::Relaxed) {
            return true;
        }
        let gone = self.file.metadata().map_or(true, |m| m.nlink() == 0);
        if gone {
            error!(
                "the history database file was deleted or replaced while the server runs; \
                 messages are refused until it is restarted"
            );
            self.shared.file_gone.store(true, Ordering::Release);
        }
        gone
    }

    fn fail(&mut self, writes: &[Write], error: HistoryError) {
        self.unflushed_error.get_or_insert_with(|| error.clone());
        let events = writes.iter().map(|w| w.message.clone()).collect();
        // The hub may be gone (at shutdown): then nobody waits for the outcome.
        let _ = self.commits.send(Commit::Failed { events, error });
    }
}

/// The error of a commit refused because the database file is gone.
fn file_gone_error() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some("the database file was deleted or replaced".into()),
    )
}
