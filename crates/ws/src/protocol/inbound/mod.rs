//! What clients send: [`parse_request`] reads a text frame into a [`Request`].
//!
//! The parse takes two passes over the frame. The first reads only `type` and `id`, so a bad
//! body can still be answered with the right code and `ref`; the second reads the body of
//! that verb, in the verb's own file, which also holds the verb's validation rules. Strings
//! are borrowed from the frame until a `Request` needs them. A new verb is its own file, one
//! line in [`parse_request`] and one variant of [`Request`].

mod delete;
mod edit;
mod history;
mod join;
mod leave;
#[cfg(test)]
mod properties;
mod react;
mod send;
mod typing;

pub use send::{MAX_FILES, SendFiles};

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;
use serde_json::{error::Category, value::RawValue};

use super::{ErrorCode, RoomName};

/// A valid request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Join {
        room: RoomName,
        since: Option<u64>,
    },
    Leave {
        room: RoomName,
    },
    Send {
        room: RoomName,
        text: Arc<str>,
        id: Option<Arc<str>>,
        files: Option<SendFiles>,
    },
    Edit {
        room: RoomName,
        target: u64,
        text: Arc<str>,
        id: Option<Arc<str>>,
    },
    Delete {
        room: RoomName,
        target: u64,
        id: Option<Arc<str>>,
    },
    React {
        room: RoomName,
        target: u64,
        emoji: Arc<str>,
        active: bool,
        id: Option<Arc<str>>,
    },
    Typing {
        room: RoomName,
        active: bool,
    },
    History {
        room: RoomName,
        before: Option<u64>,
        limit: usize,
    },
}

impl Request {
    /// The room the request is about (every request names one).
    pub fn room(&self) -> &RoomName {
        match self {
            Self::Join { room, .. }
            | Self::Leave { room }
            | Self::Send { room, .. }
            | Self::Edit { room, .. }
            | Self::Delete { room, .. }
            | Self::React { room, .. }
            | Self::Typing { room, .. }
            | Self::History { room, .. } => room,
        }
    }
}

/// A valid request and the frame's string `id`, which any later error about the request
/// (the hub's `not_joined`, say) echoes as `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub request: Request,
    pub reference: Option<Arc<str>>,
}

/// Why a frame was refused: becomes an `error` frame, never a disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    /// The offending frame's `id`, when it had a string one.
    pub reference: Option<String>,
}

impl FrameError {
    /// An error about a frame whose `id` (if any) is `reference`.
    pub fn new(code: ErrorCode, message: impl Into<String>, reference: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            reference: reference.map(str::to_owned),
        }
    }
}

/// First pass: only the fields every frame may carry, so a bad body can still be answered
/// with the right code and `ref`.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    /// Of any JSON type; only a string one can be echoed as `ref`. Kept raw, as serde would
    /// otherwise buffer it to try each type in turn.
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
}

/// A JSON string, borrowed from the frame unless it has escapes. serde borrows a `Cow` only
/// as a field of its own: an `Option<Cow<str>>` would copy every time.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The text of a JSON string, borrowed when it has no escapes; `None` for any other value.
fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|Text(text)| text)
}

/// Longest `id` of any frame, in characters: a send's resend id is kept for 10 minutes, and
/// any frame's is echoed as `ref`.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Parses and validates one text frame. `max_text_bytes` bounds a `send`'s text.
pub fn parse_request(json: &str, max_text_bytes: usize) -> Result<Parsed, FrameError> {
    let head: Head<'_> = serde_json::from_str(json).map_err(|e| match e.classify() {
        Category::Data => FrameError::new(
            ErrorCode::BadRequest,
            "a frame must be a JSON object with a string field \"type\"",
            None,
        ),
        _ => FrameError::new(ErrorCode::BadJson, format!("not valid JSON: {e}"), None),
    })?;
    let id = head.id.and_then(string_of);
    let frame = Incoming {
        json,
        reference: id.as_deref(),
        max_text_bytes,
    };
    let Some(Text(kind)) = head.kind else {
        return Err(frame.error(ErrorCode::BadRequest, "missing string field \"type\""));
    };
    if id
        .as_ref()
        .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
    {
        return Err(frame.error(
            ErrorCode::BadRequest,
            format!("id is longer than {MAX_CLIENT_ID_CHARS} characters"),
        ));
    }
    let request = match kind.as_ref() {
        "join" => join::parse(&frame),
        "leave" => leave::parse(&frame),
        "send" => send::parse(&frame),
        "edit" => edit::parse(&frame),
        "delete" => delete::parse(&frame),
        "react" => react::parse(&frame),
        "typing" => typing::parse(&frame),
        "history" => history::parse(&frame),
        other => Err(frame.error(
            ErrorCode::UnknownType,
            format!("unknown frame type {other:?}"),
        )),
    }?;
    let reference = match &request {
        // A send's (or a change's) own id is the same string: shared, not copied again.
        Request::Send { id: Some(id), .. }
        | Request::Edit { id: Some(id), .. }
        | Request::Delete { id: Some(id), .. }
        | Request::React { id: Some(id), .. } => Some(id.clone()),
        _ => id.as_deref().map(Arc::from),
    };
    Ok(Parsed { request, reference })
}

/// A frame whose head has been read, as each verb's parser gets it.
struct Incoming<'a> {
    /// The whole frame, which the verb reads its body from.
    json: &'a str,
    /// The frame's string `id`, echoed as `ref` by every error about the frame.
    reference: Option<&'a str>,
    /// The longest text a `send` may carry, in bytes.
    max_text_bytes: usize,
}

impl<'a> Incoming<'a> {
    /// The verb's body, its strings borrowed from the frame.
    fn body<T: Deserialize<'a>>(&self) -> Result<T, FrameError> {
        serde_json::from_str(self.json)
            .map_err(|e| self.error(ErrorCode::BadRequest, body_error_message(&e)))
    }

    /// `name` as a room name, or the `bad_room` error that says why not.
    fn room(&self, name: &str) -> Result<RoomName, FrameError> {
        RoomName::parse(name).map_err(|e| self.error(ErrorCode::BadRoom, e.to_string()))
    }

    /// A text to store (`send`, `edit`): not empty, at most `max_text_bytes` bytes.
    fn check_text(&self, text: &str) -> Result<(), FrameError> {
        if text.is_empty() {
            return Err(self.error(ErrorCode::BadRequest, "text must not be empty"));
        }
        let max_text_bytes = self.max_text_bytes;
        if text.len() > max_text_bytes {
            return Err(self.error(
                ErrorCode::TooLarge,
                format!(
                    "text is {} bytes, the limit is {max_text_bytes}",
                    text.len()
                ),
            ));
        }
        Ok(())
    }

    /// An error about this frame.
    fn error(&self, code: ErrorCode, message: impl Into<String>) -> FrameError {
        FrameError::new(code, message, self.reference)
    }
}

/// A stored event's client id from the frame's `id` (its length was checked with the
/// frame's head); an empty one counts as none.
fn client_id(id: Option<Text<'_>>) -> Option<Arc<str>> {
    id.map(|Text(id)| id)
        .filter(|id| !id.is_empty())
        .map(|id| Arc::from(id.as_ref()))
}

/// serde's message names the field and the expected type; drop its position suffix.
fn body_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// What the verbs' tests share: a text limit small enough to cross.
#[cfg(test)]
mod testing {
    use super::{ErrorCode, FrameError, Request, parse_request};

    pub(super) fn parse(json: &str) -> Result<Request, FrameError> {
        parse_request(json, 10).map(|parsed| parsed.request)
    }

    pub(super) fn code(json: &str) -> ErrorCode {
        parse(json).expect_err("frame should be refused").code
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{code, parse};
    use super::*;

    #[test]
    fn an_id_over_64_characters_is_refused_whatever_the_type() {
        // Found by fuzzing: a `join` kept an id of any length, a `send` refused it.
        let long = "x".repeat(65);
        for frame in [
            format!(r#"{{"type":"join","room":"a","id":"{long}"}}"#),
            format!(r#"{{"type":"history","room":"a","id":"{long}"}}"#),
            format!(r#"{{"type":"send","room":"a","text":"hi","id":"{long}"}}"#),
        ] {
            let refused = parse_request(&frame, 10).expect_err("too long an id");
            assert_eq!(refused.code, ErrorCode::BadRequest, "{frame}");
            assert_eq!(refused.reference.as_deref(), Some(long.as_str()));
        }
        // Characters, not bytes.
        let wide = "é".repeat(64);
        let frame = format!(r#"{{"type":"join","room":"a","id":"{wide}"}}"#);
        let parsed = parse_request(&frame, 10).expect("64 characters");
        assert_eq!(parsed.reference.as_deref(), Some(wide.as_str()));
    }

    #[test]
    fn optional_strings_are_borrowed_unless_escaped() {
        let head: Head<'_> = serde_json::from_str(r#"{"type":"send"}"#).expect("a head");
        assert!(matches!(head.kind, Some(Text(Cow::Borrowed("send")))));
        let head: Head<'_> = serde_json::from_str(r#"{"type":"s\u0065nd"}"#).expect("a head");
        assert!(matches!(head.kind, Some(Text(Cow::Owned(kind))) if kind == "send"));
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(code("{not json"), ErrorCode::BadJson);
        assert_eq!(code(""), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"room":"a"}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
    }

    #[test]
    fn ref_echoes_a_string_id_only() {
        let err =
            parse(r#"{"type":"send","room":"a b","text":"x","id":"c9"}"#).expect_err("bad room");
        assert_eq!(err.reference.as_deref(), Some("c9"));
        let err = parse(r#"{"type":"nope","id":"c\"9\u00e9"}"#).expect_err("unknown type");
        assert_eq!(
            err.reference.as_deref(),
            Some("c\"9é"),
            "an id with escapes"
        );
        let err = parse(r#"{"type":"nope","id":42}"#).expect_err("unknown type");
        assert_eq!(err.reference, None);
        let err = parse(r#"{"type":"nope","id":{"a":[1]}}"#).expect_err("unknown type");
        assert_eq!(err.reference, None);
    }

    #[test]
    fn a_valid_frame_keeps_its_id_for_later_errors_whatever_its_type() {
        let parsed = parse_request(
            r#"{"type":"typing","room":"a","active":true,"id":"t1"}"#,
            10,
        )
        .expect("a typing");
        assert_eq!(parsed.reference.as_deref(), Some("t1"));
        let parsed = parse_request(r#"{"type":"history","room":"a"}"#, 10).expect("a history");
        assert_eq!(parsed.reference, None);
    }
}
