//! A database written by the last release (schema version 1) opens with this build, keeps
//! every message as it was, and goes on from there.
//!
//! `fixtures/v1-release.db` was written by commit 933452160fd4 (`main` while the schema was
//! version 1) with a throwaway program: `SqliteHistory::open` on a fresh path (10,000 messages
//! per room, no age limit), the messages of [`FIXTURE`] appended in two batches, each followed
//! by `flush`, the history dropped, then `PRAGMA wal_checkpoint(TRUNCATE)` and `VACUUM`, so
//! the file needs no `-wal` beside it. As the release writes them, the `rooms` rows hold each
//! room's seq after its first batch only (`general` 2, `dev.ops-2` 1): the newest message
//! tells the rest.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

mod support;

use support::{draft, keep, room};

use chat_store::{SqliteHistory, SqliteOptions};
use chat_ws::{
    history::{Appended, History, now_ms},
    log::{Draft, Event, EventKind},
    protocol::User,
};
use rusqlite::Connection;

/// What the fixture holds: room, seq, ts, user id, user name, text, client id.
type Stored = (
    &'static str,
    u64,
    u64,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// The fixture's messages, in the order each room got them.
#[rustfmt::skip]
const FIXTURE: &[Stored] = &[
    ("general",   1, 1_763_800_000_000, "u_1",    "alice", "hello",                          Some("c-1")),
    ("general",   2, 1_763_800_001_500, "u_2",    "Bob",   "hi alice",                       None),
    ("general",   3, 1_763_800_003_000, "u_7f3a", "Zoë",   "héllo ✓ \"quoted\"\n日本語 👍", Some("z-9")),
    ("general",   4, 1_763_800_004_000, "u_1",    "alice", "bye",                            Some("c-2")),
    ("dev.ops-2", 1, 1_763_800_002_000, "u_2",    "Bob",   "deploy at 5?",                   None),
    ("dev.ops-2", 2, 1_763_800_003_500, "u_1",    "alice", "ok",                             Some("c-1")),
];

/// Read from memory after the room's first touch (the default cache), and from the file (a
/// cache of one message).
const CACHES: [usize; 2] = [SqliteOptions::DEFAULT_CACHE_PER_ROOM, 1];

/// A copy of the fixture in `dir`, so the checked-in file is never written.
fn copy_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("chat.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-release.db"),
        &path,
    )
    .expect("copy the fixture");
    path
}

fn open(path: &Path, cache_per_room: usize) -> SqliteHistory {
    let mut options = SqliteOptions::new(path, keep(100));
    options.cache_per_room = cache_per_room;
    SqliteHistory::open(options).expect("open")
}

/// The fixture's messages in `room_name`, oldest first.
fn expected(room_name: &str) -> Vec<Arc<Event>> {
    FIXTURE
        .iter()
        .filter(|m| m.0 == room_name)
        .map(|&(r, seq, ts, user_id, user_name, text, client_id)| {
            Arc::new(
                Draft::message(
                    room(r),
                    User::new(user_id, user_name),
                    text.into(),
                    client_id.map(Into::into),
                )
                .sequence(seq, ts),
            )
        })
        .collect()
}

fn count(conn: &Connection, sql: &str) -> u64 {
    conn.query_row(sql, [], |row| row.get(0)).expect("count")
}

/// Every table and index, with the statement that made it.
fn schema(path: &Path) -> Vec<(String, String, Option<String>)> {
    Connection::open(path)
        .and_then(|conn| {
            conn.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .expect("read the schema")
}

#[test]
fn a_release_file_gets_the_schema_of_a_new_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_fixture(dir.path());
    let before = Connection::open(&path).expect("open the copy");
    assert_eq!(count(&before, "PRAGMA user_version"), 1, "a release file");
    drop(before);
    // The second open finds the migration done.
    for _ in 0..2 {
        drop(open(&path, 1));
    }
    let fresh = dir.path().join("fresh.db");
    drop(open(&fresh, 1));
    assert_eq!(schema(&path), schema(&fresh));

    let conn = Connection::open(&path).expect("open the file");
    assert_eq!(count(&conn, "PRAGMA user_version"), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM events"), 6);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE kind = 'message' AND target IS NULL"
        ),
        6,
        "the rows written before read as plain messages"
    );
    // The rename kept the primary key: a read is still one range of it.
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM events
             WHERE room = 'general' AND seq > 1 AND seq < 4 ORDER BY seq",
            [],
            |row| row.get(3),
        )
        .expect("a plan");
    assert!(
        plan.contains("USING PRIMARY KEY (room=? AND seq>? AND seq<?)"),
        "{plan}"
    );
}

#[test]
fn a_release_file_reads_back_every_message() {
    for cache in CACHES {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut h = open(&copy_fixture(dir.path()), cache);
        for (name, last) in [("general", 4), ("dev.ops-2", 2)] {
            let r = room(name);
            assert_eq!(h.last_seq(&r).ok(), Some(last), "{name}, cache {cache}");
            let page = h.page(&r, u64::MAX, 10).expect("page");
            assert_eq!((page.messages, page.has_more), (expected(name), false));
            let since = h.since(&r, 0, last).expect("since");
            assert_eq!((since.messages, since.complete), (expected(name), true));
            let since = h.since(&r, 1, last).expect("since");
            assert_eq!(since.messages, expected(name)[1..]);
        }
        let page = h.page(&room("general"), 3, 1).expect("page");
        assert_eq!(
            (page.messages, page.has_more),
            (expected("general")[1..2].to_vec(), true)
        );

        let now = now_ms();
        let found = h.find_resend(&room("general"), "z-9", now).expect("lookup");
        assert_eq!(found, Some(expected("general")[2].clone()));
        let found = h
            .find_resend(&room("dev.ops-2"), "c-1", now)
            .expect("lookup");
        assert_eq!(found, Some(expected("dev.ops-2")[1].clone()));
        let found = h.find_resend(&room("general"), "c-1", now).expect("lookup");
        assert_eq!(found.map(|m| m.seq), Some(1));
        assert!(
            h.find_resend(&room("general"), "nope", now)
                .expect("lookup")
                .is_none()
        );
    }
}

#[test]
fn a_release_file_continues_each_room_after_a_restart() {
    for cache in CACHES {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = copy_fixture(dir.path());
        let mut h = open(&path, cache);
        let mut appended = Vec::new();
        for (name, text) in [
            ("general", "back"),
            ("dev.ops-2", "again"),
            ("new", "first"),
        ] {
            match h
                .append(draft(name, text, Some("n-1")), now_ms())
                .expect("append")
            {
                Appended::Queued(m) | Appended::Stored(m) => appended.push(m),
                other => panic!("a message is never refused: {other:?}"),
            }
        }
        let seqs: Vec<_> = appended.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [5, 3, 1]);
        h.flush().expect("flush");
        drop(h);

        let mut h = open(&path, cache);
        for (name, message) in [("general", &appended[0]), ("dev.ops-2", &appended[1])] {
            let r = room(name);
            assert_eq!(
                h.last_seq(&r).ok(),
                Some(message.seq),
                "{name}, cache {cache}"
            );
            let mut all = expected(name);
            all.push(message.clone());
            assert_eq!(h.page(&r, u64::MAX, 10).expect("page").messages, all);
            let found = h.find_resend(&r, "n-1", now_ms()).expect("lookup");
            assert_eq!(found.as_ref(), Some(message));
        }
        let page = h.page(&room("new"), u64::MAX, 10).expect("page");
        assert_eq!(page.messages, appended[2..]);

        let conn = Connection::open(&path).expect("open the file");
        assert_eq!(count(&conn, "PRAGMA user_version"), 3);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM events WHERE kind = 'message' AND target IS NULL"
            ),
            9
        );
    }
}

/// `fixtures/v2-release.db` was written by the release binary of commit 521d35b (`main` while
/// the schema was version 2): `chat-server` on a fresh `history.path`, five messages posted
/// through the server API (`general`: `u_1` "hello" id `c-1`, `u_2` "hi alice", `u_7f3a`
/// [`FIXTURE`]'s third text id `z-9`; `dev.ops-2`: `u_2` "deploy at 5?", `u_1` "ok" id
/// `c-1`), stopped with SIGTERM, then `PRAGMA wal_checkpoint(TRUNCATE)` and `VACUUM`.
#[test]
fn a_version_2_file_migrates_and_its_messages_take_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chat.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2-release.db"),
        &path,
    )
    .expect("copy the fixture");
    let before = Connection::open(&path).expect("open the copy");
    assert_eq!(count(&before, "PRAGMA user_version"), 2, "a version 2 file");
    drop(before);
    let fresh = dir.path().join("fresh.db");
    drop(open(&fresh, 1));
    let mut h = open(&path, 1);
    assert_eq!(schema(&path), schema(&fresh));

    let general = room("general");
    let page = h.page(&general, u64::MAX, 10).expect("page").messages;
    let texts: Vec<_> = page
        .iter()
        .map(|m| m.text().map(|t| t.to_string()))
        .collect();
    assert_eq!(
        texts,
        [
            Some("hello".into()),
            Some("hi alice".into()),
            Some(FIXTURE[2].5.into())
        ]
    );
    assert!(page.iter().all(|m| {
        m.message()
            .is_some_and(|s| s.edited().is_none() && !s.is_deleted())
    }));
    // A message written by the old build can be edited and deleted.
    let alice = User::new("u_1", "alice");
    let edit = EventKind::Edit {
        target: 1,
        text: Some("hello!".into()),
    };
    for kind in [edit, EventKind::Delete { target: 1 }] {
        let draft = Draft::new(general.clone(), alice.clone(), None, kind);
        assert!(matches!(h.append(draft, now_ms()), Ok(Appended::Queued(_))));
    }
    h.flush().expect("flush");
    drop(h);
    let conn = Connection::open(&path).expect("open the file");
    assert_eq!(count(&conn, "PRAGMA user_version"), 3);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE text IS NULL AND room = 'general'"
        ),
        3,
        "the message, its edit and the delete have no text"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT deleted FROM events WHERE room = 'general' AND seq = 1"
        ),
        1
    );
}
