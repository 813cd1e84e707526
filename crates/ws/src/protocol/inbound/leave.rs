//! `leave`: leave a room.

use std::borrow::Cow;

use serde::Deserialize;

use super::{FrameError, Incoming, Request};

#[derive(Deserialize)]
struct LeaveBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: LeaveBody<'_> = frame.body()?;
    Ok(Request::Leave {
        room: frame.room(&body.room)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use crate::protocol::{Request, RoomName};

    #[test]
    fn parses_a_leave() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"leave","room":"general"}"#),
            Ok(Request::Leave { room: general })
        );
    }
}
