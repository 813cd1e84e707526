//! A row of the `events` table and the in-memory event it becomes, and the other way round:
//! the one place to extend when a kind of event is added.

use std::sync::Arc;

use chat_ws::{
    log::{Changed, Event, EventKind, Files, Message, Reaction},
    protocol::{RoomName, User},
};
use rusqlite::{
    Row, ToSql,
    types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef},
};

/// The columns [`message_from_row`] reads, in its order, for every read of `events` to select
/// (with `concat!`, so each statement stays one static string for the statement cache).
macro_rules! event_columns {
    () => {
        "seq, ts, user_id, user_name, text, client_id, kind, target, files, edited, deleted, \
         reactions, emoji, active"
    };
}
pub(super) use event_columns;

/// What an event is, from its `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Edit,
    Delete,
    React,
}

impl FromSql for Kind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "message" => Ok(Self::Message),
            "edit" => Ok(Self::Edit),
            "delete" => Ok(Self::Delete),
            "react" => Ok(Self::React),
            other => Err(FromSqlError::Other(
                format!("unknown event kind {other:?}").into(),
            )),
        }
    }
}

/// The `reactions` column: the wire's JSON array of `{"emoji","users"}` (NULL for none).
pub(super) struct ReactionsColumn(pub(super) Vec<Reaction>);

impl FromSql for ReactionsColumn {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Null = value {
            return Ok(Self(Vec::new()));
        }
        serde_json::from_str(value.as_str()?)
            .map(Self)
            .map_err(|e| FromSqlError::Other(e.into()))
    }
}

/// A message's reactions as their column holds them: NULL for none.
pub(super) fn reactions_column(reactions: &[Reaction]) -> Option<String> {
    // A list of strings always encodes.
    (!reactions.is_empty()).then(|| serde_json::to_string(reactions).unwrap_or_default())
}

/// The `files` column: a JSON array, NULL for none.
struct FilesColumn(Option<Files>);

impl FromSql for FilesColumn {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Null = value {
            return Ok(Self(None));
        }
        Files::parse(value.as_str()?.to_owned())
            .map(|files| Self(Some(files)))
            .map_err(|e| FromSqlError::Other(e.into()))
    }
}

/// A message's files as their column holds them.
pub(super) fn files_column(files: Option<&Files>) -> Option<impl ToSql + '_> {
    struct Json<'a>(&'a Files);
    impl ToSql for Json<'_> {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Borrowed(ValueRef::Text(
                self.0.json().as_bytes(),
            )))
        }
    }
    files.map(Json)
}

/// The event in a row of [`event_columns`].
pub(super) fn message_from_row(room: &RoomName, row: &Row<'_>) -> rusqlite::Result<Arc<Event>> {
    let user_id: String = row.get(2)?;
    let user_name: String = row.get(3)?;
    let text: Option<String> = row.get(4)?;
    let client_id: Option<String> = row.get(5)?;
    let target = || row.get::<_, u64>(7);
    let kind = match row.get(6)? {
        Kind::Message => {
            let deleted: bool = row.get(10)?;
            EventKind::Message(Message::with(
                text.map(Into::into).unwrap_or_default(),
                row.get::<_, FilesColumn>(8)?.0,
                Changed {
                    edited: row.get(9)?,
                    deleted,
                    reactions: row.get::<_, ReactionsColumn>(11)?.0,
                },
            ))
        }
        Kind::Edit => EventKind::Edit {
            target: target()?,
            text: text.map(Into::into),
        },
        Kind::Delete => EventKind::Delete { target: target()? },
        Kind::React => EventKind::React {
            target: target()?,
            emoji: row.get::<_, String>(12)?.into(),
            active: row.get(13)?,
        },
    };
    Ok(Arc::new(Event {
        room: room.clone(),
        seq: row.get(0)?,
        from: User::new(user_id, user_name),
        ts: row.get(1)?,
        client_id: client_id.map(Into::into),
        kind,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rusqlite::Connection;

    /// One row of [`event_columns`] with the given kind and state, mapped.
    fn map(kind: &str, reactions: Option<&str>) -> rusqlite::Result<Arc<Event>> {
        let conn = Connection::open_in_memory()?;
        let room = RoomName::parse("r").expect("a valid room");
        conn.query_row(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM (SELECT 7 AS seq, 1000 AS ts, 'u_1' AS user_id, 'alice' AS user_name,",
                " 'hi' AS text, 'c-1' AS client_id, ?1 AS kind, 3 AS target,",
                " '[{\"id\":\"f_1\"}]' AS files, 900 AS edited, 0 AS deleted, ?2 AS reactions,",
                " '👍' AS emoji, 1 AS active)"
            ),
            rusqlite::params![kind, reactions],
            |row| message_from_row(&room, row),
        )
    }

    #[test]
    fn a_message_row_becomes_the_message_with_its_state() {
        let m = map("message", Some(r#"[{"emoji":"👍","users":["u_2"]}]"#)).expect("a message");
        assert_eq!((m.seq, m.ts, m.text().map(|t| &**t)), (7, 1000, Some("hi")));
        assert_eq!((&*m.from.id, &*m.from.name), ("u_1", "alice"));
        assert_eq!(m.client_id.as_deref(), Some("c-1"));
        let state = m.message().expect("a plain message");
        assert_eq!(state.edited(), Some(900));
        assert_eq!(
            state.files.as_ref().map(Files::json),
            Some(r#"[{"id":"f_1"}]"#)
        );
        assert_eq!(&*state.reactions()[0].users[0], "u_2");
        assert_eq!(
            reactions_column(state.reactions()).as_deref(),
            Some(r#"[{"emoji":"👍","users":["u_2"]}]"#)
        );
    }

    #[test]
    fn a_change_row_becomes_the_change() {
        let react = map("react", None).expect("a react");
        assert!(
            matches!(&react.kind, EventKind::React { target: 3, emoji, active: true } if &**emoji == "👍")
        );
        let edit = map("edit", None).expect("an edit");
        assert!(matches!(&edit.kind, EventKind::Edit { target: 3, text: Some(t) } if &**t == "hi"));
    }

    #[test]
    fn another_kind_is_an_error_that_names_it() {
        let err = map("poll", None).expect_err("not a kind");
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(6, _, _)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("unknown event kind \"poll\""),
            "{err}"
        );
    }
}
