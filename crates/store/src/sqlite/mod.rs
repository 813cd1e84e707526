//! The durable history: one SQLite file in WAL mode, written by one thread with group commit.
//!
//! # Threads, channels, caches
//! - The hub's task calls [`SqliteHistory`]. `append` gives the message the room's next seq
//!   from an in-memory counter (read from the file once per room), puts it in the room's
//!   in-memory cache, hands it to the writer over an unbounded channel and answers
//!   [`Appended::Queued`]: the hub never waits for the disk to send.
//! - The writer owns the read-write connection. At the end of each batch of the hub's commands
//!   ([`History::end_batch`]) it inserts what the batch appended (at most 2,048 messages per
//!   transaction), commits, and reports [`Commit::Durable`] (or [`Commit::Failed`]) on the
//!   hub's commit channel; the hub delivers a message only then, in the same batch's flush.
//!   Between commits it deletes, 512 rows at a time, what retention no longer keeps. With
//!   [`Fsync::Full`] (or [`SqliteOptions::commit_thread`]) it runs on a thread of its own
//!   (`history-writer`) instead, so that the hub never waits for the disk's sync.
//! - The checkpoint thread (`history-checkpoint`) copies the WAL into the database file when
//!   the writer has written about 1,000 pages, on its own connection, so the writer never
//!   waits for the disk's sync. It starts with the first checkpoint and ends after 10 s
//!   without one: a live second thread costs a server every socket call.
//! - Reads (`since`, `page`, `find_resend`) run on the hub's task. They are served from the
//!   room's cache of recent messages (see [`SqliteOptions::cache_per_room`]) and, for what is
//!   older, from an indexed range query on a read-only connection owned by the store. That
//!   query, and loading a room on its first touch, are the only places where the hub waits on
//!   the file: one range of one room's primary key, at most a page (200 rows) for `history`,
//!   at most the room's retained messages for a `since` older than the cache. They never see
//!   past the seq the hub passes, so a message still waiting for its commit is invisible.
//! - A change (edit, delete, react) is checked against its target's state (`chat_ws::log::apply`)
//!   in `append`, with its seq: the target's new state replaces it in the cache (and, until
//!   the change is committed, in the room's list of changed messages, so that the next change
//!   sees it even when the cache no longer holds the target), and the writer writes it over
//!   the target's row in the change's transaction; a delete erases the text of the target's
//!   edits too, with `secure_delete` on so that the old text leaves the file.
//! - Memory: the rooms in use keep their caches within one byte budget
//!   ([`SqliteOptions::cache_bytes`]): at the end of a batch over it, the least recently used
//!   rooms shed their oldest committed messages, which reads then take from the file. What
//!   waits for the disk stays (at most 100,000 messages in all before `append` refuses). A
//!   room the hub no longer uses, with nothing waiting, leaves memory
//!   ([`History::release`]).
//!
//! # What survives what
//! A message reaches a client only after the transaction holding it committed. In WAL mode a
//! committed transaction is in the WAL file (handed to the operating system) before the commit
//! returns, so it survives `kill -9` of the server whatever `fsync` says. Power loss or an OS
//! crash is where [`Fsync`] matters.
//!
//! # When a write fails
//! The failed batch's messages were never delivered; their senders get `internal`. The writes
//! queued behind them are failed too (their seqs came after the lost ones), and the store
//! reloads its rooms from the file, so the next message takes the first seq that was lost:
//! no delivered message ever has a gap before it or shares its seq.

mod checkpoint;
mod event;
mod insert;
mod room;
mod rooms;
mod schema;
mod trim;
mod writer;

use std::{path::PathBuf, sync::Arc, time::Duration};

use foldhash::fast::RandomState;
use hashlink::LinkedHashMap;

use chat_ws::{
    history::{Appended, Commit, History, HistoryError, Page, Retention, Since, now_ms},
    log::{self, Change, Draft, Event, EventKind},
    protocol::RoomName,
};
use tokio::sync::mpsc;
use tracing::warn;

use checkpoint::Checkpointer;
use room::Kept;
use rooms::{Rooms, Touched, read_failed};
pub use writer::FileHealth;
use writer::{Write, WriterHandle};

/// Messages appended but not yet committed or failed, past which `append` refuses (the sender
/// gets `internal`) rather than let memory grow while the disk cannot keep up.
const MAX_QUEUED: u64 = 100_000;

/// How hard each commit is pushed to the disk: SQLite's `synchronous` pragma, in WAL mode.
///
/// Every level survives a crash of the server process (`kill -9`): a commit has reached the
/// operating system before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// `synchronous=OFF`: never waits for the disk. An OS crash or power loss may lose recent
    /// commits and may corrupt the file.
    Off,
    /// `synchronous=NORMAL`: syncs only at checkpoints. An OS crash or power loss may lose the
    /// last commits, never corrupts the file.
    Normal,
    /// `synchronous=FULL`: syncs the WAL at every commit (one fsync per group commit). Commits
    /// survive power loss too.
    Full,
}

impl Fsync {
    fn pragma(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// How to open a [`SqliteHistory`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; its folder is created when missing.
    pub path: PathBuf,
    /// What each room keeps.
    pub retention: Retention,
    /// See [`Fsync`].
    pub fsync: Fsync,
    /// Newest messages kept in memory per room, so joins and recent pages do not touch the
    /// file. Uncommitted messages are always kept on top of this.
    pub cache_per_room: usize,
    /// Bytes all rooms' caches may hold together (see [`crate::weight`]); past it the least
    /// recently used rooms' committed messages go first.
    pub cache_bytes: usize,
    /// How long a statement waits for a lock held by another process before it fails.
    pub busy_timeout: Duration,
    /// Commit on a thread of its own instead of in the caller's thread at
    /// [`History::end_batch`]. Always so with [`Fsync::Full`], whose commits wait for the disk.
    pub commit_thread: bool,
}

impl SqliteOptions {
    /// The cache per room unless told otherwise: the resend window's 1,000 messages, so that
    /// a resend is answered from memory. The server uses at least `history.on_join`.
    pub const DEFAULT_CACHE_PER_ROOM: usize = 1_000;

    /// The caches' byte budget unless told otherwise (`history.memory_bytes`).
    pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

    /// Options with the defaults: [`Fsync::Normal`], [`Self::DEFAULT_CACHE_PER_ROOM`], a 5 s
    /// busy timeout, commits in the caller's thread.
    pub fn new(path: impl Into<PathBuf>, retention: Retention) -> Self {
        Self {
            path: path.into(),
            retention,
            fsync: Fsync::Normal,
            cache_per_room: Self::DEFAULT_CACHE_PER_ROOM,
            cache_bytes: Self::DEFAULT_CACHE_BYTES,
            busy_timeout: Duration::from_secs(5),
            commit_thread: false,
        }
    }
}

/// Why the database cannot be used; the server names `history.path` in front of it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create its folder {}: {source}", folder.display())]
    Folder {
        folder: PathBuf,
        source: std::io::Error,
    },
    #[error("not a usable SQLite database (corrupt, or another kind of file): {0}")]
    Corrupt(String),
    #[error("the file or its folder is read-only")]
    ReadOnly,
    #[error(
        "written by a newer version of the server (schema version {found}; this one knows up to {known})"
    )]
    TooNew { found: u32, known: u32 },
    #[error("{0}")]
    Sqlite(String),
    #[error("cannot start the writer thread: {0}")]
    Thread(std::io::Error),
}

/// The durable history (see the module documentation).
#[derive(Debug)]
pub struct SqliteHistory {
    rooms: Rooms,
    writer: WriterHandle,
    /// Until the hub takes it.
    commits: Option<mpsc::UnboundedReceiver<Commit>>,
    /// Bumped after a failed write, so the writer can tell the writes queued before the
    /// store noticed the failure (they must fail too) from those after.
    epoch: u64,
    /// Writes handed to the writer so far; each write's number is its position.
    appended: u64,
}

impl SqliteHistory {
    /// Opens (or creates) the database, migrates its schema and starts the writer thread.
    pub fn open(options: SqliteOptions) -> Result<Self, OpenError> {
        let conn = schema::open_writer(&options.path, options.fsync, options.busy_timeout)?;
        let reader = schema::open_reader(&options.path, options.busy_timeout)?;
        let checkpointer = Checkpointer::new(schema::open_checkpointer(
            &options.path,
            options.fsync,
            options.busy_timeout,
        )?);
        let (report, commits) = mpsc::unbounded_channel();
        let on_thread = options.commit_thread || options.fsync == Fsync::Full;
        let file = std::fs::File::open(&options.path)
            .map_err(|e| OpenError::Sqlite(format!("cannot open the file itself: {e}")))?;
        let writer = WriterHandle::start(
            conn,
            file,
            checkpointer,
            options.retention,
            report,
            on_thread,
        )
        .map_err(OpenError::Thread)?;
        Ok(Self {
            rooms: Rooms {
                retention: options.retention,
                cache_per_room: options.cache_per_room.max(1),
                reader,
                rooms: LinkedHashMap::with_hasher(RandomState::default()),
                bytes: 0,
                budget: options.cache_bytes,
            },
            writer,
            commits: Some(commits),
            epoch: 1,
            appended: 0,
        })
    }

    /// Whether the history can still store (see [`FileHealth`]).
    pub fn health(&self) -> FileHealth {
        self.writer.health()
    }

    /// Rooms held in memory: those touched since start (or the last failed write) and not
    /// released since.
    pub fn rooms_in_memory(&self) -> usize {
        self.rooms.rooms.len()
    }

    /// Bytes the rooms in memory hold (see [`crate::weight`]).
    pub fn bytes_in_memory(&self) -> usize {
        self.rooms.bytes
    }

    /// After a failed write, forgets every room and starts a new epoch: the next touch reads
    /// each room again from the file, which then holds exactly what was committed.
    fn recover(&mut self) {
        let failed = self.writer.failed_epoch();
        if failed >= self.epoch {
            warn!("a history write failed; reloading rooms from the database");
            self.epoch = failed + 1;
            self.rooms.forget_all();
        }
    }

    /// The room, after checking for a failed write.
    fn room(&mut self, name: &RoomName, now: u64) -> Result<Touched<'_>, HistoryError> {
        self.recover();
        self.rooms.get(name, now, self.writer.resolved())
    }
}

impl History for SqliteHistory {
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        Ok(self.room(room, now_ms())?.state.last_seq)
    }

    fn append(&mut self, mut draft: Draft, ts: u64) -> Result<Appended, HistoryError> {
        if self.appended - self.writer.resolved() >= MAX_QUEUED {
            return Err(HistoryError(format!(
                "{MAX_QUEUED} messages are waiting for the disk; refusing more"
            )));
        }
        self.recover();
        let Self {
            rooms,
            writer,
            epoch,
            appended,
            ..
        } = self;
        let (retention, cache_per_room) = (rooms.retention, rooms.cache_per_room);
        // Checked for failures just above, so `epoch` is the one this seq is counted in.
        let room = rooms.get(&draft.room, ts, writer.resolved())?;
        let target = match draft.kind.target() {
            None => None,
            Some(target) => {
                let current = room
                    .state
                    .target(room.reader, &draft.room, room.kept, target)
                    .map_err(read_failed)?;
                match log::apply(current.as_ref(), &mut draft, ts) {
                    Change::Applied(changed) => Some(Arc::new(changed)),
                    Change::Unchanged(target) => return Ok(Appended::Unchanged(target)),
                    Change::Refused(refusal) => return Ok(Appended::Refused(refusal)),
                }
            }
        };
        let seq = room.state.last_seq + 1;
        let message = Arc::new(draft.sequence(seq, ts));
        writer.write(Write {
            epoch: *epoch,
            message: message.clone(),
            target: target.clone(),
        })?;
        *appended += 1;
        if let Some(id) = &message.client_id {
            room.state.resend.insert(id, seq, ts);
        }
        let before = room.state.bytes;
        if let Some(target) = target {
            let deleted = matches!(message.kind, EventKind::Delete { .. });
            room.state.change(*appended, target, deleted);
        }
        room.state.push(*appended, message.kept());
        room.state.prune(
            Kept::new(retention, seq, ts),
            cache_per_room,
            writer.resolved(),
        );
        let after = room.state.bytes;
        rooms.bytes = rooms.bytes - before + after;
        Ok(Appended::Queued(message))
    }

    fn since(&mut self, room: &RoomName, after: u64, upto: u64) -> Result<Since, HistoryError> {
        let Touched {
            state,
            kept,
            reader,
        } = self.room(room, now_ms())?;
        let upto = upto.min(state.last_seq);
        if after >= upto {
            return Ok(Since {
                messages: Vec::new(),
                complete: after == upto,
            });
        }
        let messages = state
            .range(reader, room, kept, after + 1, upto + 1)
            .map_err(read_failed)?;
        Ok(Since {
            // Seqs are consecutive, so none is missing exactly when all of them are here.
            complete: messages.len() as u64 == upto - after,
            messages,
        })
    }

    fn page(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, HistoryError> {
        let Touched {
            state,
            kept,
            reader,
        } = self.room(room, now_ms())?;
        let before = before.min(state.last_seq + 1);
        // One more than asked tells whether anything older remains.
        let mut messages = state
            .newest_before(reader, room, kept, before, limit + 1)
            .map_err(read_failed)?;
        let has_more = messages.len() > limit;
        if has_more {
            messages.drain(..messages.len() - limit);
        }
        Ok(Page { messages, has_more })
    }

    fn find_resend(
        &mut self,
        room: &RoomName,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Arc<Event>>, HistoryError> {
        let Touched {
            state,
            kept,
            reader,
        } = self.room(room, now_ms)?;
        let Some(seq) = state.resend.find(id, state.last_seq, now_ms) else {
            return Ok(None);
        };
        // The index holds hashes: the message itself must carry the id. Answered as it
        // stands, changes not yet committed included.
        Ok(state
            .target(reader, room, kept, seq)
            .map_err(read_failed)?
            .filter(|m| m.client_id.as_deref() == Some(id)))
    }

    fn take_commits(&mut self) -> Option<mpsc::UnboundedReceiver<Commit>> {
        self.commits.take()
    }

    fn end_batch(&mut self) {
        self.writer.end_batch();
        self.rooms.shed(self.writer.resolved());
    }

    fn release(&mut self, room: &RoomName) {
        self.rooms.release(room, self.writer.resolved());
    }

    fn flush(&mut self) -> Result<(), HistoryError> {
        self.writer.flush()
    }
}
