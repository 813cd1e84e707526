//! `delete`: the author deletes one of its messages (`target`, a seq); the store erases its
//! text and files, and the text of its edits.

use std::borrow::Cow;

use serde::Deserialize;

use super::{FrameError, Incoming, Request, Text};

#[derive(Deserialize)]
struct DeleteBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    target: u64,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: DeleteBody<'_> = frame.body()?;
    Ok(Request::Delete {
        room: frame.room(&body.room)?,
        target: body.target,
        id: super::client_id(body.id),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_delete() {
        assert_eq!(
            parse(r#"{"type":"delete","room":"a","target":3}"#),
            Ok(Request::Delete {
                room: RoomName::parse("a").expect("valid"),
                target: 3,
                id: None,
            })
        );
        assert_eq!(
            code(r#"{"type":"delete","room":"a","target":"3"}"#),
            ErrorCode::BadRequest
        );
    }
}
