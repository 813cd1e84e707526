//! `history`: a page of a room's messages, older than `before` when it is given.

use std::borrow::Cow;

use serde::Deserialize;

use super::{ErrorCode, FrameError, Incoming, Request};

/// Bounds and default of `history.limit`.
const HISTORY_LIMIT: std::ops::RangeInclusive<u64> = 1..=200;
const HISTORY_DEFAULT_LIMIT: usize = 50;

#[derive(Deserialize)]
struct HistoryBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    before: Option<u64>,
    limit: Option<u64>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: HistoryBody<'_> = frame.body()?;
    let room = frame.room(&body.room)?;
    let limit = match body.limit {
        None => HISTORY_DEFAULT_LIMIT,
        Some(n) if HISTORY_LIMIT.contains(&n) => n as usize,
        Some(n) => {
            return Err(frame.error(
                ErrorCode::BadRequest,
                format!("limit {n} is outside 1..=200"),
            ));
        }
    };
    Ok(Request::History {
        room,
        before: body.before,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_history_with_the_default_limit() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"history","room":"general"}"#),
            Ok(Request::History {
                room: general,
                before: None,
                limit: 50
            })
        );
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(
            code(r#"{"type":"history","room":"a","limit":0}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"history","room":"a","limit":201}"#),
            ErrorCode::BadRequest
        );
    }
}
