use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};

/// Every response of this server has a complete body in memory.
pub(crate) type Reply = Response<Full<Bytes>>;

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
