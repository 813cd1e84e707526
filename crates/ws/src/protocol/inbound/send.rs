//! `send`: a message to a room. The client's optional `id` makes a resend safe: the hub
//! answers a repeated one with the stored message instead of storing it twice.

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;

use super::{FrameError, Incoming, Request, Text};

#[derive(Deserialize)]
struct SendBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: SendBody<'_> = frame.body()?;
    let room = frame.room(&body.room)?;
    frame.check_text(&body.text)?;
    Ok(Request::Send {
        room,
        text: Arc::from(body.text.as_ref()),
        id: super::client_id(body.id),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_send() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"send","room":"general","text":"hi","id":"c1"}"#),
            Ok(Request::Send {
                room: general,
                text: "hi".into(),
                id: Some("c1".into())
            })
        );
    }

    #[test]
    fn empty_id_counts_as_none() {
        let frame = parse(r#"{"type":"send","room":"a","text":"hi","id":""}"#);
        assert!(matches!(frame, Ok(Request::Send { id: None, .. })));
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(
            code(r#"{"type":"send","room":"a","text":""}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"send","room":"a","text":"01234567890"}"#),
            ErrorCode::TooLarge
        );
        let long_id = format!(
            r#"{{"type":"send","room":"a","text":"x","id":"{}"}}"#,
            "i".repeat(65)
        );
        assert_eq!(code(&long_id), ErrorCode::BadRequest);
    }

    #[test]
    fn text_limit_counts_utf8_bytes() {
        // Four two-byte characters are 8 bytes: under 10. Six are 12: over.
        assert!(parse(r#"{"type":"send","room":"a","text":"éééé"}"#).is_ok());
        assert_eq!(
            code(r#"{"type":"send","room":"a","text":"éééééé"}"#),
            ErrorCode::TooLarge
        );
    }
}
