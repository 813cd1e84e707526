//! `typing`: the client started or stopped typing in a room.

use std::borrow::Cow;

use serde::Deserialize;

use super::{FrameError, Incoming, Request};

#[derive(Deserialize)]
struct TypingBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    active: bool,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: TypingBody<'_> = frame.body()?;
    Ok(Request::Typing {
        room: frame.room(&body.room)?,
        active: body.active,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_typing() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"typing","room":"general","active":true}"#),
            Ok(Request::Typing {
                room: general,
                active: true
            })
        );
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(
            code(r#"{"type":"typing","room":"a","active":"yes"}"#),
            ErrorCode::BadRequest
        );
    }
}
