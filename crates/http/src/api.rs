//! The server API for the operator's own backend (PROTOCOL.md "Server API"): the key, the
//! routes and the HTTP answers. What each route does is the hub's (through
//! [`chat_ws::api`]): this module holds no chat state.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chat_ws::{
    api::{self, ApiError, ApiRequest},
    hub::HubGone,
    protocol::ErrorCode,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
};
use percent_encoding::percent_decode_str;

use crate::{
    App,
    auth::bearer,
    response::{Reply, text},
};

/// A route of the server API (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    PostMessage,
    Messages,
    Members,
    Rooms,
    Disconnect,
    /// A path under `/api/` that is none of the above.
    Unknown,
}

impl Route {
    /// Every route, in declaration order.
    pub(crate) const ALL: [Self; 6] = [
        Self::PostMessage,
        Self::Messages,
        Self::Members,
        Self::Rooms,
        Self::Disconnect,
        Self::Unknown,
    ];

    /// The metrics label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PostMessage => "post_message",
            Self::Messages => "messages",
            Self::Members => "members",
            Self::Rooms => "rooms",
            Self::Disconnect => "disconnect",
            Self::Unknown => "unknown",
        }
    }
}

/// How long an API request waits for the hub and storage before it is answered 503.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers a request under `/api/`: 404 without a configured key, 401 without the right one,
/// then the route.
pub(crate) async fn serve(app: &Arc<App>, request: Request<Incoming>) -> Reply {
    let Some(key) = &app.api_key else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let (route, method_ok) = route(request.method(), request.uri().path());
    let reply = if !bearer(request.headers()).is_some_and(|given| key.matches(given)) {
        let mut reply = error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden,
            "the server API needs Authorization: Bearer <auth.api_key>",
        );
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        reply
    } else if route == Route::Unknown {
        error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such API route",
        )
    } else if !method_ok {
        let mut reply = error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "method not allowed on this route",
        );
        let allow = if route == Route::PostMessage || route == Route::Messages {
            "GET, POST"
        } else if route == Route::Disconnect {
            "POST"
        } else {
            "GET"
        };
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        reply
    } else {
        answer(app, route, request).await
    };
    app.http_metrics.api_request(route, reply.status().as_u16());
    reply
}

/// Which route a path is, and whether the method is the route's.
fn route(method: &Method, path: &str) -> (Route, bool) {
    let parts: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    match (parts.as_slice(), method) {
        (["rooms"], m) => (Route::Rooms, m == Method::GET),
        (["rooms", _, "messages"], &Method::POST) => (Route::PostMessage, true),
        (["rooms", _, "messages"], m) => (Route::Messages, m == Method::GET),
        (["rooms", _, "members"], m) => (Route::Members, m == Method::GET),
        (["users", _, "disconnect"], m) => (Route::Disconnect, m == Method::POST),
        _ => (Route::Unknown, false),
    }
}

/// The answer to an authorized request on a known route.
async fn answer(app: &Arc<App>, route: Route, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let segment = |at: usize| {
        let raw = path
            .trim_start_matches("/api/")
            .split('/')
            .nth(at)
            .unwrap_or_default();
        percent_decode_str(raw).decode_utf8_lossy().into_owned()
    };
    let parsed = match route {
        Route::PostMessage => {
            let max_text_bytes = app.client.max_text_bytes;
            // A text at its limit with every character escaped, and room for the rest.
            let limit = max_text_bytes.saturating_mul(6).saturating_add(4096);
            let body = match Limited::new(request.into_body(), limit).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ErrorCode::TooLarge,
                        "the body is too large, or was cut off",
                    );
                }
            };
            api::parse_post(&segment(1), &body, max_text_bytes)
        }
        Route::Messages => api::parse_page(&segment(1), request.uri().query()),
        Route::Members => api::room(&segment(1)).map(|room| ApiRequest::Members { room }),
        Route::Rooms => Ok(ApiRequest::Rooms),
        Route::Disconnect => Ok(ApiRequest::Disconnect {
            user: segment(1).into(),
        }),
        Route::Unknown => Err(ApiError::new(ErrorCode::NotFound, "no such API route")),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, app.hub.api(request)).await {
        Ok(Ok(Ok(json))) => {
            let status = if route == Route::PostMessage {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_reply(status, json)
        }
        Ok(Ok(Err(e))) => {
            let status = match e.code {
                ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            error(status, e.code, &e.message)
        }
        Ok(Err(HubGone)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "the server is shutting down",
        ),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "no answer in time; try again (resending a message with the same id is safe)",
        ),
    }
}

/// `{"error":{"code","message"}}`.
fn error(status: StatusCode, code: ErrorCode, message: &str) -> Reply {
    let body = serde_json::json!({"error": {"code": code.as_str(), "message": message}});
    json_reply(status, body.to_string())
}

fn json_reply(status: StatusCode, json: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(json)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}
