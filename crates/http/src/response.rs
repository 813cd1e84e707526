use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::{Response, StatusCode, header};

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
