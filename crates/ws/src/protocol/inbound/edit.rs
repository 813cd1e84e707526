//! `edit`: the author replaces the text of one of its messages (`target`, a seq). Whether the
//! target exists and is the sender's is the store's to check, with the change's sequencing.

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;

use super::{FrameError, Incoming, Request, Text};

#[derive(Deserialize)]
struct EditBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    target: u64,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: EditBody<'_> = frame.body()?;
    let room = frame.room(&body.room)?;
    frame.check_text(&body.text)?;
    Ok(Request::Edit {
        room,
        target: body.target,
        text: Arc::from(body.text.as_ref()),
        id: super::client_id(body.id),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_an_edit() {
        assert_eq!(
            parse(r#"{"type":"edit","room":"a","target":58,"text":"hello!","id":"e1"}"#),
            Ok(Request::Edit {
                room: RoomName::parse("a").expect("valid"),
                target: 58,
                text: "hello!".into(),
                id: Some("e1".into()),
            })
        );
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(
            code(r#"{"type":"edit","room":"a","text":"x"}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"edit","room":"a","target":-1,"text":"x"}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"edit","room":"a","target":1,"text":""}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"edit","room":"a","target":1,"text":"01234567890"}"#),
            ErrorCode::TooLarge
        );
        assert_eq!(
            code(r#"{"type":"edit","room":"a b","target":1,"text":"x"}"#),
            ErrorCode::BadRoom
        );
    }
}
