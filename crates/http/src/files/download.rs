//! Downloads: a file (or its thumbnail) streamed from storage, with `ETag`/304, `Range`/206
//! (416 past the end), and the headers that keep it from running as a page of this site.

use std::ops::Range;

use chat_files::{Download, Files, OpenError, Part};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode,
    body::{Frame, Incoming},
    header::{self, HeaderValue},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{empty, plain};
use crate::response::{Body, not_modified};

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

/// The CSP of every file response: nothing in it may run, load or submit anything.
const FILE_CSP: &str = "default-src 'none'; sandbox";

/// Types shown in the page rather than downloaded.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

pub(super) async fn download(
    files: &Files,
    id: &str,
    part: Part,
    request: &Request<Incoming>,
) -> Response<Body> {
    let found = match files.open(id, part).await {
        Ok(found) => found,
        Err(error) => return unreadable(id, error),
    };
    let etag = match part {
        Part::File => format!("\"{}\"", found.meta.id),
        Part::Thumb => format!("\"{}-thumb\"", found.meta.id),
    };
    let headers = request.headers();
    if not_modified(headers, &[etag.as_bytes()]) {
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
            Err(error) => return unreadable(id, error),
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

/// The answer when a file cannot be opened or read: 404 when it is gone, else 500 (logged).
fn unreadable(id: &str, error: OpenError) -> Response<Body> {
    match error {
        OpenError::NotFound => plain(StatusCode::NOT_FOUND, "not found\n"),
        OpenError::Failed(why) => {
            tracing::warn!(file = id, error = %why, "a file could not be read");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read\n",
            )
        }
    }
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
