use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;
use serde_json::{error::Category, value::RawValue};

use super::{ErrorCode, RoomName};

/// A valid request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
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

impl ClientFrame {
    /// The room the request is about (every request names one).
    pub fn room(&self) -> &RoomName {
        match self {
            Self::Join { room, .. }
            | Self::Leave { room }
            | Self::Send { room, .. }
            | Self::Typing { room, .. }
            | Self::History { room, .. } => room,
        }
    }
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

/// Longest client `id` on a `send`, in characters.
const MAX_CLIENT_ID_CHARS: usize = 64;
/// Bounds and default of `history.limit`.
const HISTORY_LIMIT: std::ops::RangeInclusive<u64> = 1..=200;
const HISTORY_DEFAULT_LIMIT: usize = 50;

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

#[derive(Deserialize)]
struct JoinBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    since: Option<u64>,
}

#[derive(Deserialize)]
struct RoomBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SendBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct TypingBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    active: bool,
}

#[derive(Deserialize)]
struct HistoryBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    before: Option<u64>,
    limit: Option<u64>,
}

/// Parses and validates one text frame. `max_text_bytes` bounds a `send`'s text.
pub fn parse_client_frame(json: &str, max_text_bytes: usize) -> Result<ClientFrame, FrameError> {
    let head: Head<'_> = serde_json::from_str(json).map_err(|e| match e.classify() {
        Category::Data => FrameError::new(
            ErrorCode::BadRequest,
            "a frame must be a JSON object with a string field \"type\"",
            None,
        ),
        _ => FrameError::new(ErrorCode::BadJson, format!("not valid JSON: {e}"), None),
    })?;
    let id = head.id.and_then(string_of);
    let reference = id.as_deref();
    let bad_body = |e: serde_json::Error| {
        FrameError::new(ErrorCode::BadRequest, body_error_message(&e), reference)
    };
    let room = |name: &str| {
        RoomName::parse(name)
            .map_err(|e| FrameError::new(ErrorCode::BadRoom, e.to_string(), reference))
    };
    let Some(Text(kind)) = head.kind else {
        return Err(FrameError::new(
            ErrorCode::BadRequest,
            "missing string field \"type\"",
            reference,
        ));
    };
    match kind.as_ref() {
        "join" => {
            let body: JoinBody<'_> = serde_json::from_str(json).map_err(bad_body)?;
            Ok(ClientFrame::Join {
                room: room(&body.room)?,
                since: body.since,
            })
        }
        "leave" => {
            let body: RoomBody<'_> = serde_json::from_str(json).map_err(bad_body)?;
            Ok(ClientFrame::Leave {
                room: room(&body.room)?,
            })
        }
        "send" => {
            let body: SendBody<'_> = serde_json::from_str(json).map_err(bad_body)?;
            let room = room(&body.room)?;
            let id = body.id.map(|Text(id)| id).filter(|id| !id.is_empty());
            if id
                .as_ref()
                .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
            {
                return Err(FrameError::new(
                    ErrorCode::BadRequest,
                    format!("id is longer than {MAX_CLIENT_ID_CHARS} characters"),
                    reference,
                ));
            }
            if body.text.is_empty() {
                return Err(FrameError::new(
                    ErrorCode::BadRequest,
                    "text must not be empty",
                    reference,
                ));
            }
            if body.text.len() > max_text_bytes {
                return Err(FrameError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "text is {} bytes, the limit is {max_text_bytes}",
                        body.text.len()
                    ),
                    reference,
                ));
            }
            Ok(ClientFrame::Send {
                room,
                text: Arc::from(body.text.as_ref()),
                id: id.map(|id| Arc::from(id.as_ref())),
            })
        }
        "typing" => {
            let body: TypingBody<'_> = serde_json::from_str(json).map_err(bad_body)?;
            Ok(ClientFrame::Typing {
                room: room(&body.room)?,
                active: body.active,
            })
        }
        "history" => {
            let body: HistoryBody<'_> = serde_json::from_str(json).map_err(bad_body)?;
            let room = room(&body.room)?;
            let limit = match body.limit {
                None => HISTORY_DEFAULT_LIMIT,
                Some(n) if HISTORY_LIMIT.contains(&n) => n as usize,
                Some(n) => {
                    return Err(FrameError::new(
                        ErrorCode::BadRequest,
                        format!("limit {n} is outside 1..=200"),
                        reference,
                    ));
                }
            };
            Ok(ClientFrame::History {
                room,
                before: body.before,
                limit,
            })
        }
        other => Err(FrameError::new(
            ErrorCode::UnknownType,
            format!("unknown frame type {other:?}"),
            reference,
        )),
    }
}

/// serde's message names the field and the expected type; drop its position suffix.
fn body_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ClientFrame, FrameError> {
        parse_client_frame(json, 10)
    }

    fn code(json: &str) -> ErrorCode {
        parse(json).expect_err("frame should be refused").code
    }

    #[test]
    fn parses_every_request() {
        let general = RoomName::parse("general").expect("valid");
        assert_eq!(
            parse(r#"{"type":"join","room":"general","since":5,"extra":1}"#),
            Ok(ClientFrame::Join {
                room: general.clone(),
                since: Some(5)
            })
        );
        assert_eq!(
            parse(r#"{"type":"leave","room":"general"}"#),
            Ok(ClientFrame::Leave {
                room: general.clone()
            })
        );
        assert_eq!(
            parse(r#"{"type":"send","room":"general","text":"hi","id":"c1"}"#),
            Ok(ClientFrame::Send {
                room: general.clone(),
                text: "hi".into(),
                id: Some("c1".into())
            })
        );
        assert_eq!(
            parse(r#"{"type":"typing","room":"general","active":true}"#),
            Ok(ClientFrame::Typing {
                room: general.clone(),
                active: true
            })
        );
        assert_eq!(
            parse(r#"{"type":"history","room":"general"}"#),
            Ok(ClientFrame::History {
                room: general,
                before: None,
                limit: 50
            })
        );
    }

    #[test]
    fn optional_strings_are_borrowed_unless_escaped() {
        let head: Head<'_> = serde_json::from_str(r#"{"type":"send"}"#).expect("a head");
        assert!(matches!(head.kind, Some(Text(Cow::Borrowed("send")))));
        let head: Head<'_> = serde_json::from_str(r#"{"type":"s\u0065nd"}"#).expect("a head");
        assert!(matches!(head.kind, Some(Text(Cow::Owned(kind))) if kind == "send"));
    }

    #[test]
    fn empty_id_counts_as_none() {
        let frame = parse(r#"{"type":"send","room":"a","text":"hi","id":""}"#);
        assert!(matches!(frame, Ok(ClientFrame::Send { id: None, .. })));
    }

    #[test]
    fn maps_each_mistake_to_its_code() {
        assert_eq!(code("{not json"), ErrorCode::BadJson);
        assert_eq!(code(""), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"room":"a"}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"join","room":7}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"join","room":"a b"}"#), ErrorCode::BadRoom);
        assert_eq!(
            code(r#"{"type":"send","room":"a","text":""}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"send","room":"a","text":"01234567890"}"#),
            ErrorCode::TooLarge
        );
        assert_eq!(
            code(r#"{"type":"typing","room":"a","active":"yes"}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"history","room":"a","limit":0}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"type":"history","room":"a","limit":201}"#),
            ErrorCode::BadRequest
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
}
