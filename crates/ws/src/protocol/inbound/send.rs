//! `send`: a message to a room. The client's optional `id` makes a resend safe: the hub
//! answers a repeated one with the stored message instead of storing it twice. Optional
//! `files` name uploads (PROTOCOL.md "Files"); the reader resolves them before the hub sees
//! the send.

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;

use super::{ErrorCode, FrameError, Incoming, Request, Text};

#[derive(Deserialize)]
struct SendBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
    #[serde(default, borrow)]
    files: Option<Vec<Cow<'a, str>>>,
}

/// Most files one message carries (PROTOCOL.md).
pub const MAX_FILES: usize = 10;
/// Longest file id accepted (ids are 34 characters; longer cannot name a file).
const MAX_FILE_ID_CHARS: usize = 64;

/// The files of a `send`: as the client named them, then (the reader's work, before the hub
/// sees the send) as the message carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFiles {
    /// File ids, 1 to [`MAX_FILES`].
    Named(Box<[Arc<str>]>),
    /// Checked: the `files` array of the message.
    Attached(crate::log::Files),
}

pub(super) fn parse(frame: &Incoming<'_>) -> Result<Request, FrameError> {
    let body: SendBody<'_> = frame.body()?;
    let room = frame.room(&body.room)?;
    let files = body.files.unwrap_or_default();
    if files.len() > MAX_FILES {
        return Err(frame.error(
            ErrorCode::BadRequest,
            format!("a message carries at most {MAX_FILES} files"),
        ));
    }
    if files
        .iter()
        .any(|id| id.is_empty() || id.chars().count() > MAX_FILE_ID_CHARS)
    {
        return Err(frame.error(ErrorCode::BadRequest, "files must be file ids"));
    }
    // A file alone needs no words.
    let file_alone = body.text.is_empty() && !files.is_empty();
    if !file_alone {
        frame.check_text(&body.text)?;
    }
    let files = (!files.is_empty())
        .then(|| SendFiles::Named(files.iter().map(|id| Arc::from(id.as_ref())).collect()));
    Ok(Request::Send {
        room,
        text: Arc::from(body.text.as_ref()),
        id: super::client_id(body.id),
        files,
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
                id: Some("c1".into()),
                files: None,
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
