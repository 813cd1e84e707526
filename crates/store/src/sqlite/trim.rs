//! Background retention: the rows of each room that retention no longer keeps, deleted a
//! bounded step at a time between the writer's commits.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt};

use chat_ws::{
    history::{Retention, now_ms},
    protocol::RoomName,
};
use rusqlite::{Connection, params};
use tracing::warn;

/// Rows deleted by one retention step; the writer goes back to its queue between steps, so a
/// large cleanup never delays a commit by more than one step.
const TRIM_CHUNK: u64 = 512;

/// How far past `max_per_room` a room may grow before its oldest rows are deleted: reads
/// already hide them, and deleting one row per message would double the writes.
const TRIM_SLACK: u64 = 64;

/// Rooms the writer remembers (their latest committed seq and how far they were trimmed)
/// before it forgets those with nothing left to trim: it then writes a forgotten room's row
/// once more at its next commit, and scans its first rows again at its next trim.
const KNOWN_ROOMS: usize = 10_000;

/// Age-based retention looks at every room this often (a tenth of `max_age`, within bounds).
const MIN_SWEEP: Duration = Duration::from_millis(250);
const MAX_SWEEP: Duration = Duration::from_secs(60);

/// Moves the room's row in `rooms` up to `seq` (creating it).
pub(super) fn record_last_seq(
    conn: &Connection,
    room: &RoomName,
    seq: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO rooms (room, last_seq) VALUES (?1, ?2)
         ON CONFLICT (room) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
    )?
    .execute(params![room.as_str(), seq])?;
    Ok(())
}
/// Background retention: which rooms have rows to delete, and how far each was cleaned.
///
/// Reads already hide what retention drops (see `Kept`), so this only reclaims space; it may
/// lag behind without anyone seeing the difference.
#[derive(Debug)]
pub(super) struct Trim {
    retention: Retention,
    pub(super) rooms: HashMap<RoomName, Trimmed>,
    /// Rooms with rows to delete; one chunk of one room per writer loop.
    pending: BTreeSet<RoomName>,
    /// When every room is next checked for age (with `max_age` only).
    next_sweep: Option<Instant>,
}

/// The writer's view of one room.
#[derive(Debug, Default)]
pub(super) struct Trimmed {
    /// Latest committed seq.
    last_seq: u64,
    /// Rows with seq ≤ this are gone.
    trimmed: u64,
}

impl Trim {
    pub(super) fn new(retention: Retention) -> Self {
        Self {
            retention,
            rooms: HashMap::new(),
            pending: BTreeSet::new(),
            next_sweep: retention.max_age.map(|_| Instant::now()),
        }
    }

    /// How long the writer may sleep waiting for writes: not at all while rows wait for
    /// deletion, until the next age sweep, or (`None`) until a write comes.
    pub(super) fn wait(&self, now: Instant) -> Option<Duration> {
        if !self.pending.is_empty() {
            return Some(Duration::ZERO);
        }
        self.next_sweep.map(|at| at.saturating_duration_since(now))
    }

    /// Notes the rooms a commit moved; those past their size limit get cleaned.
    pub(super) fn committed(&mut self, rooms: Vec<(RoomName, u64)>) {
        if self.rooms.len() > KNOWN_ROOMS {
            let pending = &self.pending;
            self.rooms.retain(|name, _| pending.contains(name));
        }
        let max = self.retention.max_per_room as u64;
        for (name, seq) in rooms {
            let room = self.rooms.entry(name.clone()).or_default();
            room.last_seq = room.last_seq.max(seq);
            if seq.saturating_sub(max) >= room.trimmed + TRIM_SLACK {
                self.pending.insert(name);
            }
        }
    }

    /// One bounded step of cleaning; failures are logged and retried on the next trigger.
    pub(super) fn step(&mut self, conn: &Connection, now: Instant) {
        let due = match (self.next_sweep, self.retention.max_age) {
            (Some(at), Some(age)) if now >= at => Some(age),
            _ => None,
        };
        if let Some(age) = due {
            self.next_sweep = Some(now + (age / 10).clamp(MIN_SWEEP, MAX_SWEEP));
            if let Err(e) = self.sweep(conn) {
                warn!(error = %e, "retention could not list the rooms; will retry");
            }
        }
        let Some(name) = self.pending.pop_first() else {
            return;
        };
        match self.trim_chunk(conn, &name) {
            Ok(true) => {
                self.pending.insert(name);
            }
            Ok(false) => {}
            Err(e) => {
                warn!(room = %name, error = %e, "retention could not delete old messages; will retry");
            }
        }
    }

    /// Queues every room for an age check.
    fn sweep(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached("SELECT room, last_seq FROM rooms")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let last_seq: u64 = row.get(1)?;
            // Names in the file were valid when written; skip anything else.
            let Ok(name) = RoomName::parse(&name) else {
                continue;
            };
            let room = self.rooms.entry(name.clone()).or_default();
            room.last_seq = room.last_seq.max(last_seq);
            self.pending.insert(name);
        }
        Ok(())
    }

    /// Deletes up to [`TRIM_CHUNK`] of the room's oldest rows that retention drops. True when
    /// there may be more.
    fn trim_chunk(&mut self, conn: &Connection, name: &RoomName) -> rusqlite::Result<bool> {
        let room = self.rooms.entry(name.clone()).or_default();
        let count_floor = room
            .last_seq
            .saturating_sub(self.retention.max_per_room as u64);
        // Saturating like the reads' cutoff (`Kept`): a huge age deletes nothing.
        let cutoff = self
            .retention
            .max_age
            .map(|age| now_ms().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
        let from = room.trimmed;
        let mut upto = from;
        let mut first_kept = None;
        let mut scanned = 0;
        {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, ts FROM events WHERE room = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let mut rows = stmt.query(params![name.as_str(), from, TRIM_CHUNK])?;
            while let Some(row) = rows.next()? {
                let (seq, ts): (u64, u64) = (row.get(0)?, row.get(1)?);
                scanned += 1;
                if seq <= count_floor || cutoff.is_some_and(|c| ts < c) {
                    upto = seq;
                } else {
                    first_kept = Some(seq);
                    break;
                }
            }
        }
        if upto > from {
            // The row keeps the room's latest seq once its newest messages are gone too.
            let tx = conn.unchecked_transaction()?;
            record_last_seq(&tx, name, room.last_seq)?;
            tx.prepare_cached("DELETE FROM events WHERE room = ?1 AND seq > ?2 AND seq <= ?3")?
                .execute(params![name.as_str(), from, upto])?;
            tx.commit()?;
        }
        room.trimmed = match first_kept {
            Some(seq) => seq - 1,
            None if scanned < TRIM_CHUNK => upto.max(room.last_seq),
            None => upto,
        };
        Ok(first_kept.is_none() && scanned == TRIM_CHUNK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_limit_past_u64_milliseconds_deletes_nothing() {
        let mut conn = Connection::open_in_memory().expect("open a database");
        super::super::schema::migrate(&mut conn).expect("create the schema");
        conn.execute(
            "INSERT INTO events (room, seq, ts, user_id, user_name, text)
             VALUES ('r', 1, ?1, 'u_1', 'alice', 'a minute old')",
            [now_ms() - 60_000],
        )
        .expect("insert");
        // 2^64 ms and 384 ms more: cut to 64 bits it would be 384 ms.
        let huge = Duration::from_millis(u64::MAX) + Duration::from_millis(385);
        let mut trim = Trim::new(Retention {
            max_per_room: 100,
            max_age: Some(huge),
        });
        let room = RoomName::parse("r").expect("a valid room");
        trim.committed(vec![(room.clone(), 1)]);
        trim.trim_chunk(&conn, &room).expect("trim");
        let left: u64 = conn
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .expect("count");
        assert_eq!(left, 1);
    }
}
