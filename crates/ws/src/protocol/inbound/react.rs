//! `react`: a member adds (`active`) or takes back an emoji on a message (`target`, a seq).

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;

use super::{ErrorCode, FrameError, Incoming, Request, Text};

/// Longest emoji, in UTF-8 bytes: room for a family or a flag sequence, not for a text.
pub(super) const MAX_EMOJI_BYTES: usize = 32;

#[derive(Deserialize)]
struct ReactBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    target: u64,
    #[serde(borrow)]
    emoji: Cow<'a, str>,
    active: bool,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: ReactBody<'_> = frame.body()?;
    let room = frame.room(&body.room)?;
    let emoji = &body.emoji;
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || emoji.chars().any(char::is_whitespace) {
        return Err(frame.error(
            ErrorCode::BadRequest,
            format!("emoji must be 1–{MAX_EMOJI_BYTES} UTF-8 bytes with no whitespace"),
        ));
    }
    Ok(Request::React {
        room,
        target: body.target,
        emoji: Arc::from(emoji.as_ref()),
        active: body.active,
        id: super::client_id(body.id),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{code, parse};
    use crate::protocol::{ErrorCode, Request, RoomName};

    #[test]
    fn parses_a_react() {
        assert_eq!(
            parse(r#"{"type":"react","room":"a","target":3,"emoji":"👍","active":true,"id":"r1"}"#),
            Ok(Request::React {
                room: RoomName::parse("a").expect("valid"),
                target: 3,
                emoji: "👍".into(),
                active: true,
                id: Some("r1".into()),
            })
        );
    }

    #[test]
    fn an_emoji_is_1_to_32_bytes_without_whitespace() {
        let frame = |emoji: &str| {
            format!(r#"{{"type":"react","room":"a","target":3,"emoji":"{emoji}","active":false}}"#)
        };
        assert!(parse(&frame(&"é".repeat(16))).is_ok(), "32 bytes");
        for bad in [
            String::new(),
            "é".repeat(17),
            "a b".into(),
            "\\u00a0".into(),
            "x\\n".into(),
        ] {
            assert_eq!(code(&frame(&bad)), ErrorCode::BadRequest, "{bad:?}");
        }
        assert_eq!(
            code(r#"{"type":"react","room":"a","target":3,"emoji":"x"}"#),
            ErrorCode::BadRequest,
            "active is required"
        );
    }
}
