//! `join`: enter a room, optionally catching up on what was said after `since`.

use std::borrow::Cow;

use serde::Deserialize;

use super::{FrameError, Incoming, Request};

#[derive(Deserialize)]
struct JoinBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    since: Option<u64>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: JoinBody<'_> = frame.body()?;
    Ok(Request::Join {
        room: frame.room(&body.room)?,
        since: body.since,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_join() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"join","room":"general","since":5,"extra":1}"#),
            Ok(Request::Join {
                room: general,
                since: Some(5)
            })
        );
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"join","room":7}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"join","room":"a b"}"#), ErrorCode::BadRoom);
    }
}
