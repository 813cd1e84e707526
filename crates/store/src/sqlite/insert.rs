//! A commit's statements: the events inserted in one transaction, and each change's target
//! row brought to its new state in the same one.

use chat_ws::{
    log::{Event, EventKind},
    protocol::RoomName,
};
use foldhash::{HashMap, HashMapExt};
use rusqlite::{Connection, params};

use super::{
    event::{files_column, reactions_column},
    trim::{Trimmed, record_last_seq},
    writer::Write,
};

/// Inserts the messages, all or nothing, and returns each room's new latest seq.
///
/// `rooms.last_seq` is written only for a room this writer has not written before (and by
/// [`Trim`] before it deletes): a room's latest seq is the larger of its row
/// and its newest message, so the row need not move with every message. That saves a page
/// write per commit.
///
/// The transaction is opened and committed by statements prepared once, like the inserts:
/// rusqlite's `Transaction` parses `BEGIN` and `COMMIT` again for every transaction, which
/// counts with a commit per message (many quiet rooms; docs/BENCHMARKS.md).
pub(super) fn insert(
    conn: &Connection,
    writes: &[Write],
    known: &HashMap<RoomName, Trimmed>,
) -> rusqlite::Result<Vec<(RoomName, u64)>> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let result = insert_in_transaction(conn, writes, known)
        .and_then(|rooms| conn.prepare_cached("COMMIT")?.execute([]).map(|_| rooms));
    if result.is_err() && !conn.is_autocommit() {
        // Whatever failed, nothing of the batch stays; a failed rollback leaves SQLite
        // rolling back by itself at the next statement.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// The inserts of [`insert`], inside its transaction; returns each room's latest seq.
fn insert_in_transaction(
    conn: &Connection,
    writes: &[Write],
    known: &HashMap<RoomName, Trimmed>,
) -> rusqlite::Result<Vec<(RoomName, u64)>> {
    let mut latest: HashMap<&RoomName, u64> = HashMap::new();
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (room, seq, ts, user_id, user_name, text, client_id, kind, target,
                             files, emoji, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for Write {
        message: m, target, ..
    } in writes
    {
        let (files, emoji, active) = match &m.kind {
            EventKind::Message(message) => (files_column(message.files.as_ref()), None, None),
            EventKind::React { emoji, active, .. } => (None, Some(&**emoji), Some(*active)),
            EventKind::Edit { .. } | EventKind::Delete { .. } => (None, None, None),
        };
        insert.execute(params![
            m.room.as_str(),
            m.seq,
            m.ts,
            &*m.from.id,
            &*m.from.name,
            m.text().map(|text| &**text),
            m.client_id.as_deref(),
            m.kind.name(),
            m.kind.target(),
            files,
            emoji,
            active,
        ])?;
        if let Some(target) = target {
            update_state(conn, target)?;
        }
        latest.insert(&m.room, m.seq);
    }
    for (name, seq) in &latest {
        if !known.contains_key(*name) {
            record_last_seq(conn, name, *seq)?;
        }
    }
    Ok(latest
        .into_iter()
        .map(|(room, seq)| (room.clone(), seq))
        .collect())
}

/// Writes a message's new state over its row; a deleted one's edits lose their text too.
fn update_state(conn: &Connection, target: &Event) -> rusqlite::Result<()> {
    let Some(state) = target.message() else {
        return Ok(());
    };
    conn.prepare_cached(
        "UPDATE events SET text = ?3, files = ?4, edited = ?5, deleted = ?6, reactions = ?7
         WHERE room = ?1 AND seq = ?2",
    )?
    .execute(params![
        target.room.as_str(),
        target.seq,
        target.text().map(|text| &**text),
        files_column(state.files.as_ref()),
        state.edited(),
        state.is_deleted(),
        reactions_column(state.reactions()),
    ])?;
    if state.is_deleted() {
        conn.prepare_cached(
            "UPDATE events SET text = NULL WHERE room = ?1 AND target = ?2 AND kind = 'edit'",
        )?
        .execute(params![target.room.as_str(), target.seq])?;
    }
    Ok(())
}
