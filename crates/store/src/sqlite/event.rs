//! A row of the `events` table and the in-memory message it becomes: the one place to extend
//! when a kind other than 'message' is stored.

use std::sync::Arc;

use chat_ws::{
    log::{Event, EventKind},
    protocol::{RoomName, User},
};
use rusqlite::{
    Row,
    types::{FromSql, FromSqlError, FromSqlResult, ValueRef},
};

/// The columns [`message_from_row`] reads, in its order, for every read of `events` to select
/// (with `concat!`, so each statement stays one static string for the statement cache).
macro_rules! event_columns {
    () => {
        "seq, ts, user_id, user_name, text, client_id, kind"
    };
}
pub(super) use event_columns;

/// What an event is, from its `kind` column. Only plain messages exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
}

impl FromSql for Kind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "message" => Ok(Self::Message),
            other => Err(FromSqlError::Other(
                format!("unknown event kind {other:?}").into(),
            )),
        }
    }
}

/// The message in a row of [`event_columns`]; a row of any other kind is an error.
pub(super) fn message_from_row(room: &RoomName, row: &Row<'_>) -> rusqlite::Result<Arc<Event>> {
    // Irrefutable while messages are the only kind: a new kind stops compiling here.
    let Kind::Message = row.get(6)?;
    let user_id: String = row.get(2)?;
    let user_name: String = row.get(3)?;
    let text: String = row.get(4)?;
    let client_id: Option<String> = row.get(5)?;
    Ok(Arc::new(Event {
        room: room.clone(),
        seq: row.get(0)?,
        from: User::new(user_id, user_name),
        ts: row.get(1)?,
        client_id: client_id.map(Into::into),
        kind: EventKind::Message { text: text.into() },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rusqlite::Connection;

    /// One row of [`event_columns`] with the given kind, mapped.
    fn map(kind: &str) -> rusqlite::Result<Arc<Event>> {
        let conn = Connection::open_in_memory()?;
        let room = RoomName::parse("r").expect("a valid room");
        conn.query_row(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM (SELECT 7 AS seq, 1000 AS ts, 'u_1' AS user_id, 'alice' AS user_name,",
                " 'hi' AS text, 'c-1' AS client_id, ?1 AS kind)"
            ),
            [kind],
            |row| message_from_row(&room, row),
        )
    }

    #[test]
    fn a_message_row_becomes_the_message() {
        let m = map("message").expect("a message");
        assert_eq!((m.seq, m.ts, m.text().map(|t| &**t)), (7, 1000, Some("hi")));
        assert_eq!((&*m.from.id, &*m.from.name), ("u_1", "alice"));
        assert_eq!(m.client_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn another_kind_is_an_error_that_names_it() {
        let err = map("edit").expect_err("not a message");
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(6, _, _)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("unknown event kind \"edit\""),
            "{err}"
        );
    }
}
