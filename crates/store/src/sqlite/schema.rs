//! The database file: opening its two connections, their pragmas, and the versioned schema.

use std::{path::Path, time::Duration};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::{Fsync, OpenError};

/// The schema this build writes, kept in `PRAGMA user_version`.
pub(super) const SCHEMA_VERSION: u32 = 3;

/// `MIGRATIONS[v]` takes a database from version `v` to `v + 1`. Append, never edit: a file
/// written by an older build runs every step it has not run yet, in one transaction.
const MIGRATIONS: &[&str] = &[
    // 0 → 1. `rooms.last_seq` outlives the messages: when retention has deleted every message
    // of a room, its next message still gets the next seq, never a reused one.
    // WITHOUT ROWID clusters a room's messages by seq, so every read is one range of one index.
    "CREATE TABLE rooms (
         room     TEXT PRIMARY KEY NOT NULL,
         last_seq INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE messages (
         room      TEXT NOT NULL,
         seq       INTEGER NOT NULL,
         ts        INTEGER NOT NULL,
         user_id   TEXT NOT NULL,
         user_name TEXT NOT NULL,
         text      TEXT NOT NULL,
         client_id TEXT,
         PRIMARY KEY (room, seq)
     ) WITHOUT ROWID;",
    // 1 → 2. A room's history becomes a log of events with a kind; the kinds after 'message'
    // will name the event they apply to in `target`. A rename keeps the table's primary key
    // (room, seq), so every read stays one range of it, and adding columns rewrites no row:
    // rows written before read back as kind 'message' with no target.
    "ALTER TABLE messages RENAME TO events;
     ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
     ALTER TABLE events ADD COLUMN target INTEGER;",
    // 2 → 3. Changes to a message (edit, delete, react) are stored, and a plain message's row
    // holds its current state: `text` as last edited (NULL once deleted: erased, as is the
    // text of its edits), `files` (a JSON array), `edited` (the ts of its last edit),
    // `deleted`, `reactions` (a JSON array of {"emoji","users"}); a react's row holds its
    // `emoji` and `active`. `text` must become nullable, which SQLite only allows by copying
    // the table once. The partial index finds a deleted message's edits.
    "CREATE TABLE events_3 (
         room      TEXT NOT NULL,
         seq       INTEGER NOT NULL,
         ts        INTEGER NOT NULL,
         user_id   TEXT NOT NULL,
         user_name TEXT NOT NULL,
         text      TEXT,
         client_id TEXT,
         kind      TEXT NOT NULL DEFAULT 'message',
         target    INTEGER,
         files     TEXT,
         edited    INTEGER,
         deleted   INTEGER NOT NULL DEFAULT 0,
         reactions TEXT,
         emoji     TEXT,
         active    INTEGER,
         PRIMARY KEY (room, seq)
     ) WITHOUT ROWID;
     INSERT INTO events_3 (room, seq, ts, user_id, user_name, text, client_id, kind, target)
         SELECT room, seq, ts, user_id, user_name, text, client_id, kind, target FROM events;
     DROP TABLE events;
     ALTER TABLE events_3 RENAME TO events;
     CREATE INDEX events_edits ON events (room, target) WHERE kind = 'edit';",
];

/// Opens (creating it and its folder when missing) the file for the one writer: WAL mode, the
/// `synchronous` level of `fsync`, and the schema migrated to [`SCHEMA_VERSION`].
///
/// Everything that can be wrong with the file shows up here, at start: a folder that cannot be
/// created, a read-only file, a file that is not a database, a schema from a newer build.
pub(super) fn open_writer(
    path: &Path,
    fsync: Fsync,
    busy_timeout: Duration,
) -> Result<Connection, OpenError> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| OpenError::Folder {
            folder: folder.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(classify)? {
        return Err(OpenError::ReadOnly);
    }
    // The first statement that reads the file: a file that is not a database fails here.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(classify)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Sqlite(format!(
            "cannot switch to WAL mode (the journal mode stays {mode:?})"
        )));
    }
    conn.pragma_update(None, "synchronous", fsync.pragma())
        .map_err(classify)?;
    // What a delete or an update frees is overwritten with zeros: a deleted message's text
    // must not stay in the file's free space.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(classify)?;
    // The checkpoint thread checkpoints; the writer never waits for one.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(classify)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens the file for the checkpoint thread, with the writer's `synchronous` level (it decides
/// how checkpoints sync); the writer must have opened it first.
pub(super) fn open_checkpointer(
    path: &Path,
    fsync: Fsync,
    busy_timeout: Duration,
) -> Result<Connection, OpenError> {
    let conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    conn.pragma_update(None, "synchronous", fsync.pragma())
        .map_err(classify)?;
    Ok(conn)
}

/// Opens the file read-only for the hub's reads; the writer must have opened it first (it
/// creates the file and switches it to WAL mode).
pub(super) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, OpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    Ok(conn)
}

/// Brings the schema to [`SCHEMA_VERSION`]. The write transaction it always takes also proves
/// that the file can be written.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(classify)?;
    let found: u32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(classify)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for step in &MIGRATIONS[found as usize..] {
        tx.execute_batch(step).map_err(classify)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(classify)?;
    tx.commit().map_err(classify)
}

/// Names what is wrong with the file in the operator's terms.
fn classify(e: rusqlite::Error) -> OpenError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Corrupt(e.to_string())
        }
        Some(ErrorCode::ReadOnly) => OpenError::ReadOnly,
        Some(ErrorCode::DiskFull) => OpenError::Sqlite(format!("the disk is full ({e})")),
        _ => OpenError::Sqlite(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_version_has_a_migration() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }
}
