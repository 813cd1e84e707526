//! `/files`: uploads (`POST /files?name=`) and downloads (`GET /files/<id>/<name>`, and
//! `/files/<id>/thumb/<name>` for an image's thumbnail), over [`chat_files::Files`]. Every
//! `/files` path is 404 while file sharing is off.
//!
//! Downloads stream from storage, answer `Range` with 206 (416 past the end) and
//! `If-None-Match` with 304, and are served so that no file runs as a page of this site:
//! `nosniff`, a `sandbox` CSP, and `attachment` for all but the four image types
//! (`download.rs`).

mod download;

use std::{io, sync::Arc};

use bytes::Bytes;
use chat_files::{Files, Part, UploadError, Uploader};
use chat_ws::protocol::ErrorCode;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
};

use crate::{App, auth, response::Body};

/// Answers a `/files` request.
pub(crate) async fn serve(app: &Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let Some(files) = app.files.as_ref() else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let path = request.uri().path().to_owned();
    if path == "/files" || path == "/files/" {
        if request.method() != Method::POST {
            let mut reply = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            reply
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return reply;
        }
        return upload(app, files, request).await;
    }
    let segments: Vec<&str> = path.trim_start_matches("/files/").split('/').collect();
    let (id, part) = match segments.as_slice() {
        [id, name] if !name.is_empty() => (*id, Part::File),
        [id, "thumb", name] if !name.is_empty() => (*id, Part::Thumb),
        _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut reply = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return reply;
    }
    download::download(files, id, part, &request).await
}

/// The uploader of a request: the `welcome.upload` token, or with sign-in on the user's JWT.
fn uploader(app: &App, files: &Files, headers: &HeaderMap) -> Option<Uploader> {
    let token = auth::bearer(headers)?;
    if let Some(uploader) = files.tokens().check(token) {
        return Some(uploader);
    }
    let signed_in = app.auth.as_ref()?.sign_in(headers, None).ok()?;
    Some(Uploader {
        id: signed_in.user.id.to_string(),
        name: signed_in.user.name.to_string(),
    })
}

async fn upload(app: &App, files: &Files, request: Request<Incoming>) -> Response<Body> {
    let Some(uploader) = uploader(app, files, request.headers()) else {
        let mut reply = error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden,
            "an upload token is required (welcome.upload.token, as Authorization: Bearer)",
        );
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return reply;
    };
    if !files.take_upload(&uploader) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            &UploadError::RateLimited.to_string(),
        );
    }
    let name = request
        .uri()
        .query()
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "name")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let mut body = request
        .into_body()
        .into_data_stream()
        .map_err(io::Error::other);
    let stored = files
        .upload(&uploader, &name, declared, Box::pin(&mut body))
        .await;
    if matches!(stored, Err(UploadError::TooLarge(_))) {
        drain(&mut body).await;
    }
    match stored {
        Ok(meta) => {
            let mut reply = Response::new(full(meta.to_json()));
            *reply.status_mut() = StatusCode::CREATED;
            let headers = reply.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(location) = HeaderValue::from_str(&meta.url()) {
                headers.insert(header::LOCATION, location);
            }
            reply
        }
        Err(refusal) => {
            let (status, code) = match &refusal {
                UploadError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
                UploadError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
                UploadError::Unsupported(_)
                | UploadError::TooManyPixels { .. }
                | UploadError::NotAnImage => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::Unsupported)
                }
                UploadError::Failed(why) => {
                    tracing::warn!(error = %why, "an upload could not be stored");
                    (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
                }
            };
            let mut reply = error(status, code, &refusal.to_string());
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                // What is left of the body may not have been read: the connection cannot
                // carry another request.
                reply
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            reply
        }
    }
}

/// Most bytes of a refused body read and thrown away before the answer, and for how long:
/// a client still sending when the connection closes gets a reset and may lose the 413.
/// One that sends far more gets the reset.
const DRAIN_BYTES: u64 = 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads what is left of a refused body, within [`DRAIN_BYTES`] and [`DRAIN_TIME`], keeping
/// none of it.
async fn drain<S>(body: &mut S)
where
    S: futures_util::Stream<Item = io::Result<Bytes>> + Unpin,
{
    use futures_util::StreamExt;
    let mut read = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

pub(super) fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(super) fn empty(status: StatusCode) -> Response<Body> {
    let mut reply = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *reply.status_mut() = status;
    reply
}

pub(super) fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    crate::response::text(status, body).map(crate::response::boxed)
}

/// `{"error":{"code","message"}}`, as the server API answers.
fn error(status: StatusCode, code: ErrorCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"code": code.as_str(), "message": message}});
    let mut reply = Response::new(full(body.to_string()));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}
