//! The server API as the chat core sees it (PROTOCOL.md "Server API"): the operator's backend
//! posts into a room, reads its messages and members, lists rooms, and disconnects a user.
//! The HTTP layer checks the key and the route, parses with [`parse_post`] and
//! [`parse_page`], and asks the hub with [`HubHandle::api`]; the hub, which owns all chat
//! state, answers with the JSON body.

use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::oneshot;

use crate::{
    hub::{Command, HubGone, HubHandle},
    protocol::{ErrorCode, RoomName, User, UserId, display_name},
};

/// Longest client `id`, in characters (as for `send`).
const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest `from.id` (as for a JWT `sub`).
const MAX_USER_ID_LEN: usize = 128;
/// Messages in a page when the query gives no `limit` (as for `history`).
const DEFAULT_PAGE: usize = 50;
/// Most messages in a page (as for `history`).
const MAX_PAGE: usize = 200;

/// What the operator's backend asks of the hub.
#[derive(Debug)]
pub enum ApiRequest {
    /// Store and deliver a message as `from`, like a member's `send`.
    Post {
        room: RoomName,
        from: User,
        text: Arc<str>,
        id: Option<Arc<str>>,
    },
    /// A page of the room's messages, like `history`.
    Messages {
        room: RoomName,
        before: Option<u64>,
        limit: usize,
    },
    /// The room's members.
    Members { room: RoomName },
    /// The rooms with members.
    Rooms,
    /// Close every connection of the user with 4003.
    Disconnect { user: UserId },
}

/// A refused or failed API request, with the protocol's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The JSON body of a successful answer, or why there is none.
pub type ApiAnswer = Result<String, ApiError>;

impl HubHandle {
    /// Asks the hub; the answer comes once the hub (and, for a post or a page, storage) has
    /// it. Cancel-safe: a dropped request is answered to nobody.
    pub async fn api(&self, request: ApiRequest) -> Result<ApiAnswer, HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Api { request, reply }).await?;
        answer.await.map_err(|_| HubGone)
    }
}

/// A room name from a path, or `bad_room`.
pub fn room(name: &str) -> Result<RoomName, ApiError> {
    RoomName::parse(name).map_err(|e| ApiError::new(ErrorCode::BadRoom, e.to_string()))
}

#[derive(Deserialize)]
struct PostBody {
    text: String,
    from: FromBody,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct FromBody {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

/// The body of `POST /api/rooms/<room>/messages`, checked like a `send`.
pub fn parse_post(
    room_name: &str,
    body: &[u8],
    max_text_bytes: usize,
) -> Result<ApiRequest, ApiError> {
    let room = room(room_name)?;
    let body: PostBody = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            ErrorCode::BadRequest
        } else {
            ErrorCode::BadJson
        };
        ApiError::new(code, format!("the body is not a message: {e}"))
    })?;
    let bad = |message: &str| ApiError::new(ErrorCode::BadRequest, message);
    let from = body.from;
    if from.id.is_empty()
        || from.id.len() > MAX_USER_ID_LEN
        || from.id.chars().any(char::is_control)
    {
        return Err(bad(
            "from.id must be 1 to 128 characters, no control characters",
        ));
    }
    let name = match from.name {
        Some(name) => display_name(Some(&name))
            .ok_or_else(|| bad("from.name must be 1 to 32 printable characters"))?,
        None => from.id.clone(),
    };
    let id = body.id.filter(|id| !id.is_empty());
    if id
        .as_ref()
        .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
    {
        return Err(bad("id is longer than 64 characters"));
    }
    if body.text.is_empty() {
        return Err(bad("text must not be empty"));
    }
    if body.text.len() > max_text_bytes {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "text is {} bytes, the limit is {max_text_bytes}",
                body.text.len()
            ),
        ));
    }
    Ok(ApiRequest::Post {
        room,
        from: User::new(from.id, name),
        text: Arc::from(body.text),
        id: id.map(Arc::from),
    })
}

/// The query of `GET /api/rooms/<room>/messages` (`before`, `limit`), checked like `history`.
pub fn parse_page(room_name: &str, query: Option<&str>) -> Result<ApiRequest, ApiError> {
    let room = room(room_name)?;
    let (mut before, mut limit) = (None, DEFAULT_PAGE);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "before" => {
                before =
                    Some(value.parse::<u64>().map_err(|_| {
                        ApiError::new(ErrorCode::BadRequest, "before must be a seq")
                    })?);
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::BadRequest, "limit must be 1 to 200")
                    })?;
            }
            _ => {}
        }
    }
    Ok(ApiRequest::Messages {
        room,
        before,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<ApiRequest, ApiError>) -> ErrorCode {
        result.expect_err("refused").code
    }

    #[test]
    fn a_post_is_checked_like_a_send() {
        let ok = parse_post(
            "general",
            br#"{"text":"hi","from":{"id":"bot","name":"Bot"},"id":"x1"}"#,
            100,
        );
        assert!(matches!(ok, Ok(ApiRequest::Post { ref from, .. }) if &*from.name == "Bot"));
        assert_eq!(code(parse_post("bad room", b"{}", 100)), ErrorCode::BadRoom);
        assert_eq!(code(parse_post("r", b"{", 100)), ErrorCode::BadJson);
        assert_eq!(
            code(parse_post("r", br#"{"text":"hi"}"#, 100)),
            ErrorCode::BadRequest
        );
        let empty = br#"{"text":"","from":{"id":"bot"}}"#;
        assert_eq!(code(parse_post("r", empty, 100)), ErrorCode::BadRequest);
        let long = format!(r#"{{"text":"{}","from":{{"id":"bot"}}}}"#, "a".repeat(101));
        assert_eq!(
            code(parse_post("r", long.as_bytes(), 100)),
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn a_page_query_is_checked_like_history() {
        assert!(matches!(
            parse_page("r", Some("before=10&limit=5")),
            Ok(ApiRequest::Messages {
                before: Some(10),
                limit: 5,
                ..
            })
        ));
        assert!(matches!(
            parse_page("r", None),
            Ok(ApiRequest::Messages {
                before: None,
                limit: 50,
                ..
            })
        ));
        assert_eq!(
            code(parse_page("r", Some("limit=0"))),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(parse_page("r", Some("before=x"))),
            ErrorCode::BadRequest
        );
    }
}
