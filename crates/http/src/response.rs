use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::{HeaderMap, Response, StatusCode, header};

/// A response whose body is complete in memory: every answer but a file's.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Any response's body: in memory, or a file streamed from storage.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A body in memory as a [`Body`].
pub(crate) fn boxed(body: Full<Bytes>) -> Body {
    body.map_err(|never| match never {}).boxed_unsync()
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether `If-None-Match` names one of `tags` (or `*`): the answer is then 304.
pub(crate) fn not_modified(headers: &HeaderMap, tags: &[&[u8]]) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tags.contains(&tag.as_bytes()))
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn asking(tags: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(tags));
        headers
    }

    #[test]
    fn if_none_match_names_a_tag() {
        let tags: [&[u8]; 2] = [b"\"ab\"", b"\"ab-gz\""];
        for hit in ["\"ab\"", "W/\"ab-gz\"", "\"x\", \"ab\"", "*"] {
            assert!(not_modified(&asking(hit), &tags), "{hit}");
        }
        for miss in ["\"a\"", "ab", "\"abc\""] {
            assert!(!not_modified(&asking(miss), &tags), "{miss}");
        }
    }
}
