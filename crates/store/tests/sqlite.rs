//! What only the SQLite history has: commit reports, restarts, background retention, write
//! failures, and files it must refuse at start.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

mod support;

use support::{draft, keep, room};

use chat_store::{OpenError, SqliteHistory, SqliteOptions};
use chat_ws::{
    history::{Appended, Commit, History, Retention, now_ms},
    log::Event,
};
use rusqlite::Connection;
use tokio::sync::mpsc::UnboundedReceiver;

/// The longest any expected event may take.
const WAIT: Duration = Duration::from_secs(5);

/// Both ways to commit: in the caller's thread at `end_batch` (the default), and on the
/// writer thread (what `Fsync::Full` uses).
const COMMIT_THREAD: [bool; 2] = [false, true];

fn open_with(path: &Path, retention: Retention, commit_thread: bool) -> SqliteHistory {
    let mut options = SqliteOptions::new(path, retention);
    options.commit_thread = commit_thread;
    SqliteHistory::open(options).expect("open")
}

fn append(h: &mut SqliteHistory, room_name: &str, text: &str, ts: u64) -> Arc<Event> {
    match h.append(draft(room_name, text, None), ts).expect("append") {
        Appended::Queued(m) => m,
        other => panic!("the SQLite history queues every message: {other:?}"),
    }
}

/// The next commit report, within [`WAIT`].
fn next_report(commits: &mut UnboundedReceiver<Commit>) -> Commit {
    let deadline = Instant::now() + WAIT;
    loop {
        match commits.try_recv() {
            Ok(commit) => return commit,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("no commit report: {e}"),
        }
    }
}

/// Waits for reports that make exactly `count` appends durable, failing on a failed write.
fn wait_durable(commits: &mut UnboundedReceiver<Commit>, count: usize) {
    let mut durable = 0;
    while durable < count {
        match next_report(commits) {
            Commit::Durable(events) => durable += events.len(),
            Commit::Failed { error, .. } => panic!("write failed: {error}"),
        }
    }
    assert_eq!(durable, count);
}

/// Expects the next report to fail one message with an error that mentions `cause`.
fn expect_one_failed(commits: &mut UnboundedReceiver<Commit>, cause: &str) {
    match next_report(commits) {
        Commit::Failed { events, error } => {
            assert_eq!(events.len(), 1);
            assert!(error.0.contains(cause), "{error}");
        }
        Commit::Durable(_) => panic!("the write cannot have been committed"),
    }
}

/// Waits until `check` holds on a fresh connection to the file, for at most [`WAIT`], ending
/// a batch of `h` between looks, as the hub does after each batch of commands.
fn eventually(h: &mut SqliteHistory, path: &Path, what: &str, check: impl Fn(&Connection) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        h.end_batch();
        let conn = Connection::open(path).expect("open the file");
        if check(&conn) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(conn: &Connection, sql: &str) -> u64 {
    conn.query_row(sql, [], |row| row.get(0)).expect("count")
}

#[test]
fn commits_are_reported_in_order_and_add_up() {
    for commit_thread in COMMIT_THREAD {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut h = open_with(&dir.path().join("c.db"), keep(100), commit_thread);
        let mut commits = h.take_commits().expect("a commit channel");
        assert!(h.take_commits().is_none(), "taken once");
        // Batches of 50, and one of 3,000: more than one transaction holds.
        for batch in [50; 10].into_iter().chain([3_000]) {
            for i in 0..batch {
                append(&mut h, ["a", "b", "c"][i % 3], "x", now_ms());
            }
            h.end_batch();
        }
        wait_durable(&mut commits, 3_500);
        assert!(commits.try_recv().is_err(), "nothing counted twice");
    }
}

#[test]
fn in_the_callers_thread_a_batch_is_reported_when_it_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = open_with(&dir.path().join("e.db"), keep(100), false);
    let mut commits = h.take_commits().expect("a commit channel");
    for _ in 0..3 {
        append(&mut h, "r", "x", now_ms());
    }
    assert!(commits.try_recv().is_err(), "nothing committed mid-batch");
    h.end_batch();
    assert!(matches!(commits.try_recv(), Ok(Commit::Durable(events)) if events.len() == 3));
}

#[test]
fn flush_makes_everything_durable_and_drop_commits_what_is_queued() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/folder/f.db");
    let mut h = SqliteHistory::open(SqliteOptions::new(&path, keep(10_000))).expect("open");
    for _ in 0..1_000 {
        append(&mut h, "r", "x", now_ms());
    }
    h.flush().expect("flush");
    let conn = Connection::open(&path).expect("open the file");
    assert_eq!(count(&conn, "SELECT count(*) FROM events"), 1_000);
    for _ in 0..100 {
        append(&mut h, "r", "y", now_ms());
    }
    drop(h);
    assert_eq!(count(&conn, "SELECT count(*) FROM events"), 1_100);
    let mut reopened = SqliteHistory::open(SqliteOptions::new(&path, keep(10_000))).expect("open");
    assert_eq!(reopened.last_seq(&room("r")).ok(), Some(1_100));
}

#[test]
fn a_new_file_gets_the_current_schema_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let h = SqliteHistory::open(SqliteOptions::new(&path, keep(10))).expect("open");
    let conn = Connection::open(&path).expect("open the file");
    assert_eq!(count(&conn, "PRAGMA user_version"), 3);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    drop(h);
    // Opening again runs no migration twice.
    SqliteHistory::open(SqliteOptions::new(&path, keep(10))).expect("reopen");
}

#[test]
fn a_restart_continues_each_room_even_after_retention_deleted_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.db");
    let retention = Retention {
        max_per_room: 100,
        max_age: Some(Duration::from_secs(2)),
    };
    let mut h = open_with(&path, retention, false);
    let long_ago = now_ms() - 60_000;
    // Two commits: the room's row is written with the first, so the deletion must move it.
    append(&mut h, "r", "a", long_ago);
    h.flush().expect("flush");
    for text in ["b", "c"] {
        append(&mut h, "r", text, long_ago);
    }
    append(&mut h, "s", "kept", now_ms());
    h.flush().expect("flush");
    eventually(&mut h, &path, "deleting the expired messages", |conn| {
        count(conn, "SELECT count(*) FROM events WHERE room = 'r'") == 0
    });
    drop(h);
    let mut h = SqliteHistory::open(SqliteOptions::new(&path, retention)).expect("reopen");
    assert_eq!(h.last_seq(&room("r")).ok(), Some(3));
    let since = h.since(&room("r"), 0, 3).expect("since");
    assert_eq!((since.messages.len(), since.complete), (0, false));
    assert_eq!(append(&mut h, "r", "d", now_ms()).seq, 4);
    assert_eq!(append(&mut h, "s", "next", now_ms()).seq, 2);
}

#[test]
fn retention_deletes_old_rows_in_the_background() {
    for commit_thread in COMMIT_THREAD {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let mut h = open_with(&path, keep(10), commit_thread);
        for _ in 0..2_000 {
            append(&mut h, "r", "x", now_ms());
        }
        h.flush().expect("flush");
        // The writer lets a room grow a little past its limit before it deletes (64 rows).
        eventually(&mut h, &path, "trimming to about max_per_room", |conn| {
            count(conn, "SELECT count(*) FROM events") < 10 + 64
        });
        let conn = Connection::open(&path).expect("open the file");
        assert!(count(&conn, "SELECT min(seq) FROM events") > 1_900);
        let page = h.page(&room("r"), u64::MAX, 50).expect("page");
        assert_eq!((page.messages.len(), page.has_more), (10, false));
    }
}

#[test]
fn a_failed_write_fails_its_senders_and_the_seq_is_taken_again() {
    for commit_thread in COMMIT_THREAD {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.db");
        let mut options = SqliteOptions::new(&path, keep(100));
        options.busy_timeout = Duration::from_millis(50);
        options.commit_thread = commit_thread;
        let mut h = SqliteHistory::open(options).expect("open");
        let mut commits = h.take_commits().expect("a commit channel");
        append(&mut h, "r", "first", now_ms());
        h.end_batch();
        assert!(matches!(next_report(&mut commits), Commit::Durable(events) if events.len() == 1));

        // Another process holding the write lock makes the next commit fail.
        let blocker = Connection::open(&path).expect("open the file");
        blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        assert_eq!(append(&mut h, "r", "lost", now_ms()).seq, 2);
        h.end_batch();
        expect_one_failed(&mut commits, "locked");
        blocker.execute_batch("ROLLBACK").expect("unlock");

        // Nobody saw seq 2, so the next message takes it.
        let kept = append(&mut h, "r", "kept", now_ms());
        assert_eq!(kept.seq, 2);
        h.end_batch();
        assert!(matches!(next_report(&mut commits), Commit::Durable(events) if events.len() == 1));
        assert!(h.flush().is_err(), "flush reports the failure once");
        h.flush().expect("then nothing failed since");
        let page = h.page(&room("r"), u64::MAX, 10).expect("page");
        let texts: Vec<_> = page
            .messages
            .iter()
            .map(|m| m.text().map(ToString::to_string).unwrap_or_default())
            .collect();
        assert_eq!(texts, ["first", "kept"]);
    }
}

#[test]
fn a_write_that_fails_inside_its_transaction_is_rolled_back() {
    for commit_thread in COMMIT_THREAD {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.db");
        let mut h = open_with(&path, keep(100), commit_thread);
        let mut commits = h.take_commits().expect("a commit channel");
        append(&mut h, "r", "first", now_ms());
        h.end_batch();
        assert!(matches!(next_report(&mut commits), Commit::Durable(events) if events.len() == 1));

        // A row this history does not know of takes seq 2: the insert fails after BEGIN.
        let other = Connection::open(&path).expect("open the file");
        other
            .execute(
                "INSERT INTO events (room, seq, ts, user_id, user_name, text)
                 VALUES ('r', 2, 0, 'u', 'n', 'intruder')",
                [],
            )
            .expect("insert");
        append(&mut h, "r", "clash", now_ms());
        h.end_batch();
        expect_one_failed(&mut commits, "UNIQUE");
        assert!(h.flush().is_err(), "flush reports the failure");

        // Rolled back: the writer can open its next transaction.
        append(&mut h, "s", "next", now_ms());
        h.end_batch();
        assert!(matches!(next_report(&mut commits), Commit::Durable(events) if events.len() == 1));
        let texts: Vec<String> = other
            .prepare("SELECT text FROM events ORDER BY room, seq")
            .and_then(|mut rows| rows.query_map([], |row| row.get(0))?.collect())
            .expect("read back");
        assert_eq!(texts, ["first", "intruder", "next"]);
    }
}

#[test]
fn messages_waiting_for_the_disk_stay_readable_from_memory() {
    for commit_thread in COMMIT_THREAD {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let mut options = SqliteOptions::new(&path, keep(100));
        options.cache_per_room = 1;
        options.commit_thread = commit_thread;
        let mut h = SqliteHistory::open(options).expect("open");
        let mut commits = h.take_commits().expect("a commit channel");
        let blocker = Connection::open(&path).expect("open the file");
        blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        for i in 1..=5 {
            append(&mut h, "r", &format!("m{i}"), now_ms());
        }
        let page = h.page(&room("r"), u64::MAX, 10).expect("page");
        assert_eq!(
            page.messages.len(),
            5,
            "uncommitted messages never leave memory"
        );
        blocker.execute_batch("ROLLBACK").expect("unlock");
        h.end_batch();
        wait_durable(&mut commits, 5);
        let page = h.page(&room("r"), u64::MAX, 10).expect("page");
        assert_eq!(
            page.messages.len(),
            5,
            "committed ones are read from the file"
        );
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("junk.db");
    std::fs::write(&path, "this is not a database, just text\n".repeat(200)).expect("write");
    let err = SqliteHistory::open(SqliteOptions::new(&path, keep(10))).expect_err("refused");
    assert!(matches!(err, OpenError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("not a database"), "{err}");
}

#[test]
fn a_folder_that_cannot_be_created_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let err = SqliteHistory::open(SqliteOptions::new(file.join("chat.db"), keep(10)))
        .expect_err("refused");
    assert!(matches!(err, OpenError::Folder { .. }), "{err}");
}

#[test]
fn a_schema_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("new.db");
    Connection::open(&path)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("write a newer schema version");
    let err = SqliteHistory::open(SqliteOptions::new(&path, keep(10))).expect_err("refused");
    assert!(
        matches!(
            err,
            OpenError::TooNew {
                found: 99,
                known: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn commits_reach_the_database_file_while_the_history_is_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.db");
    let mut h = SqliteHistory::open(SqliteOptions::new(&path, keep(10_000))).expect("open");
    let file_size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let at_open = file_size();
    // 30 commits of 50 rooms each: 1,500 pages as the writer counts, past the 1,000 that ask
    // for a checkpoint.
    for round in 0..30 {
        for r in 0..50 {
            append(&mut h, &format!("room-{r}"), &format!("{round}"), now_ms());
        }
        h.flush().expect("flush");
    }
    // Without a checkpoint the pages stay in the log and the database file keeps its few
    // pages until the last connection closes.
    let deadline = Instant::now() + WAIT;
    while file_size() < at_open + 32 * 1024 {
        assert!(
            Instant::now() < deadline,
            "no checkpoint copied the log into the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(h);
}

#[test]
fn a_released_room_leaves_memory_and_reads_back_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = open_with(&dir.path().join("chat.db"), keep(100), false);
    let mut commits = h.take_commits().expect("commit reports");
    let rooms: Vec<String> = (0..50).map(|n| format!("room-{n}")).collect();
    for name in &rooms {
        append(&mut h, name, "hello", now_ms());
    }
    // Not committed yet: a release keeps what is not in the file.
    h.release(&room("room-0"));
    assert_eq!(h.rooms_in_memory(), 50);
    h.end_batch();
    wait_durable(&mut commits, 50);
    for name in &rooms {
        h.release(&room(name));
    }
    assert_eq!(h.rooms_in_memory(), 0);
    let page = h.page(&room("room-7"), u64::MAX, 10).expect("page");
    assert_eq!(page.messages.len(), 1);
    assert_eq!(append(&mut h, "room-7", "again", now_ms()).seq, 2);
    assert_eq!(h.rooms_in_memory(), 1);
}

#[test]
fn the_cache_stays_within_its_byte_budget_and_reads_go_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = SqliteOptions::new(dir.path().join("chat.db"), keep(10_000));
    options.cache_bytes = 1 << 20;
    let mut h = SqliteHistory::open(options).expect("open");
    let mut commits = h.take_commits().expect("commit reports");
    let text = "x".repeat(4_000);
    let rooms: Vec<String> = (0..20).map(|n| format!("room-{n}")).collect();
    for name in &rooms {
        for _ in 0..100 {
            append(&mut h, name, &text, now_ms());
        }
        h.end_batch();
        wait_durable(&mut commits, 100);
    }
    h.end_batch();
    // 20 rooms of 400 KB each went through a cache of 1 MiB.
    assert!(
        h.bytes_in_memory() <= 1 << 20,
        "{} bytes cached",
        h.bytes_in_memory()
    );
    assert_eq!(h.rooms_in_memory(), 20);
    for name in &rooms {
        let since = h.since(&room(name), 0, u64::MAX).expect("since");
        assert!(since.complete);
        let seqs: Vec<u64> = since.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "{name}");
        let page = h.page(&room(name), 51, 10).expect("page");
        assert_eq!(page.messages.first().map(|m| m.seq), Some(41));
        assert!(page.has_more);
    }
    // What the rooms held is counted out exactly as it was counted in.
    for name in &rooms {
        h.release(&room(name));
    }
    assert_eq!((h.rooms_in_memory(), h.bytes_in_memory()), (0, 0));
}
