//! `/files`: uploads (`POST /files?name=`) and downloads (`GET /files/<id>/<name>`, and
//! `/files/<id>/thumb/<name>` for an image's thumbnail), over [`chat_files::Files`]. Every
//! `/files` path is 404 while file sharing is off.
//!
//! Downloads stream from storage, answer `Range` with 206 (416 past the end) and
//! `If-None-Match` with 304, and are served so that no file runs as a page of this site:
//! `nosniff`, a `sandbox` CSP, and `attachment` for all but the four image types.

use std::{io, ops::Range, sync::Arc};

use bytes::Bytes;
use chat_files::{Download, Files, OpenError, Part, UploadError, Uploader};
use chat_ws::protocol::ErrorCode;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode,
    body::{Frame, Incoming},
    header::{self, HeaderValue},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{App, auth, response::Body};

/// Types shown in the page rather than downloaded.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The CSP of every file response: nothing in it may run, load or submit anything.
const FILE_CSP: &str = "default-src 'none'; sandbox";

/// Characters percent-encoded in `filename*` (RFC 8187's attr-char kept as is).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

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
    download(files, id, part, &request).await
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

async fn download(
    files: &Files,
    id: &str,
    part: Part,
    request: &Request<Incoming>,
) -> Response<Body> {
    let found = match files.open(id, part).await {
        Ok(found) => found,
        Err(OpenError::NotFound) => return plain(StatusCode::NOT_FOUND, "not found\n"),
        Err(OpenError::Failed(why)) => {
            tracing::warn!(file = id, error = %why, "a file could not be read");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read\n",
            );
        }
    };
    let etag = match part {
        Part::File => format!("\"{}\"", found.meta.id),
        Part::Thumb => format!("\"{}-thumb\"", found.meta.id),
    };
    let headers = request.headers();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| matches!(tag.trim(), "*") || tag.trim().trim_start_matches("W/") == etag)
        })
    {
        let mut reply = empty(StatusCode::NOT_MODIFIED);
        file_headers(reply.headers_mut(), &found, part, &etag);
        return reply;
    }
    // `If-Range` with another tag asks for the whole file.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.to_str().is_ok_and(|tag| tag.trim() == etag));
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(asked) if if_range_ok => match byte_range(asked, found.size) {
            RangeAsked::Whole => None,
            RangeAsked::Part(range) => Some(range),
            RangeAsked::Unsatisfiable => {
                let mut reply = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
                file_headers(reply.headers_mut(), &found, part, &etag);
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", found.size)) {
                    reply.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return reply;
            }
        },
        _ => None,
    };
    let (status, length) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.end - range.start),
        None => (StatusCode::OK, found.size),
    };
    let body = if request.method() == Method::HEAD || length == 0 {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        match files.read(&found, part, range.clone()).await {
            Ok(stream) => StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync(),
            Err(OpenError::NotFound) => return plain(StatusCode::NOT_FOUND, "not found\n"),
            Err(OpenError::Failed(why)) => {
                tracing::warn!(file = id, error = %why, "a file could not be read");
                return plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the file could not be read\n",
                );
            }
        }
    };
    let mut reply = Response::new(body);
    *reply.status_mut() = status;
    let out = reply.headers_mut();
    file_headers(out, &found, part, &etag);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(range) = range {
        let value = format!("bytes {}-{}/{}", range.start, range.end - 1, found.size);
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(header::CONTENT_RANGE, value);
        }
    }
    reply
}

/// The headers of every answer about a file (200, 206, 304, 416).
fn file_headers(out: &mut HeaderMap, found: &Download, part: Part, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&found.media_type) {
        out.insert(header::CONTENT_TYPE, value);
    }
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    // A file's bytes never change; it may be removed (its message deleted), so caches keep
    // it a day, privately.
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    let inline = part == Part::Thumb || INLINE_TYPES.contains(&found.media_type.as_str());
    let name = &found.meta.name;
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        utf8_percent_encode(name, ATTR_CHAR)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// No usable range (several, or not `bytes=`): the whole file, as RFC 9110 allows.
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

fn byte_range(asked: &str, size: u64) -> RangeAsked {
    let Some(spec) = asked.trim().strip_prefix("bytes=") else {
        return RangeAsked::Whole;
    };
    if spec.contains(',') {
        return RangeAsked::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = |text: &str| text.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // `-N`: the last N bytes.
        (true, false) => match parsed(last) {
            Some(0) => RangeAsked::Unsatisfiable,
            Some(_) if size == 0 => RangeAsked::Unsatisfiable,
            Some(n) => RangeAsked::Part(size.saturating_sub(n)..size),
            None => RangeAsked::Whole,
        },
        (false, _) => {
            let Some(start) = parsed(first) else {
                return RangeAsked::Whole;
            };
            let end = if last.is_empty() {
                size
            } else {
                match parsed(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return RangeAsked::Whole,
                }
            };
            if start >= size {
                RangeAsked::Unsatisfiable
            } else {
                RangeAsked::Part(start..end)
            }
        }
        (true, true) => RangeAsked::Whole,
    }
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut reply = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *reply.status_mut() = status;
    reply
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), RangeAsked::Part(0..10));
        assert_eq!(byte_range("bytes=90-", 100), RangeAsked::Part(90..100));
        assert_eq!(byte_range("bytes=-10", 100), RangeAsked::Part(90..100));
        assert_eq!(byte_range("bytes=-500", 100), RangeAsked::Part(0..100));
        assert_eq!(byte_range("bytes=50-500", 100), RangeAsked::Part(50..100));
        assert_eq!(byte_range("bytes=100-", 100), RangeAsked::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), RangeAsked::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), RangeAsked::Whole);
        assert_eq!(byte_range("bytes=9-1", 100), RangeAsked::Whole);
        assert_eq!(byte_range("items=0-1", 100), RangeAsked::Whole);
    }
}
