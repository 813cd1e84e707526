use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode,
    header::{self, HeaderValue},
};

use crate::{
    embedded,
    response::{Reply, not_modified, text},
};

/// The page may load scripts, styles and images from this server only, and open WebSockets
/// back to it: no inline script, no other origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves the page: from `web_dir` when one is set, else the copy built into the binary.
/// `/` is `index.html`; anything escaping the folder, or hidden, is 404.
pub(crate) async fn serve<B>(web_dir: Option<&Path>, request: &Request<B>) -> Reply {
    match web_dir {
        Some(dir) => serve_folder(dir, request).await,
        None => serve_built_in(request),
    }
}

fn serve_built_in<B>(request: &Request<B>) -> Reply {
    let Some(path) = resolve(Path::new(""), request.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(asset) = path.to_str().and_then(embedded::asset) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let headers = request.headers();
    let (body, etag, gzip) = match &asset.gzip {
        Some(packed) if accepts_gzip(headers) => (packed, &asset.etag_gzip, true),
        _ => (&asset.body, &asset.etag, false),
    };
    let mut response = if not_modified(
        headers,
        &[asset.etag.as_bytes(), asset.etag_gzip.as_bytes()],
    ) {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        file_response(request.method(), body.clone(), asset.content_type.clone())
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, etag.clone());
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip && response.status() == StatusCode::OK {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    with_page_headers(response)
}

async fn serve_folder<B>(web_dir: &Path, request: &Request<B>) -> Reply {
    let Some(path) = resolve(web_dir, request.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let body = match tokio::fs::read(&path).await {
        Ok(body) => body,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let content_type = HeaderValue::from_str(&content_type(&path.to_string_lossy()))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    with_page_headers(file_response(
        request.method(),
        Bytes::from(body),
        content_type,
    ))
}

/// A 200 with `body` (none for HEAD, with the length it would have).
fn file_response(method: &Method, body: Bytes, content_type: HeaderValue) -> Reply {
    let length = body.len();
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// What every answer of the page carries: its policy, and "ask before reusing".
fn with_page_headers(mut response: Reply) -> Reply {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `Content-Type` for a file name, with `charset=utf-8` on text.
pub(crate) fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    match mime.type_() {
        mime_guess::mime::TEXT | mime_guess::mime::APPLICATION
            if mime.get_param("charset").is_none() && is_textual(&mime) =>
        {
            format!("{mime}; charset=utf-8")
        }
        _ => mime.to_string(),
    }
}

fn is_textual(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml")
}

/// Whether `Accept-Encoding` allows gzip (by name or `*`, with a weight above zero).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Maps a URL path to a file under `web_dir`, or `None` when it would leave the folder.
fn resolve(web_dir: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(url_path)
        .decode_utf8()
        .ok()?;
    let mut path = web_dir.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') || s.starts_with('.') => return None,
            s => path.push(s),
        }
    }
    if decoded.ends_with('/') || path == web_dir || path.as_os_str().is_empty() {
        path.push("index.html");
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn gzip_when_the_client_takes_it() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "br;q=1.0, gzip;q=0.5",
            "*",
            "GZIP",
        ] {
            assert!(accepts_gzip(&headers(&[("accept-encoding", yes)])), "{yes}");
        }
        for no in ["", "br", "gzip;q=0", "identity", "gzip;q=0.0, br"] {
            assert!(!accepts_gzip(&headers(&[("accept-encoding", no)])), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn maps_urls_inside_the_folder() {
        let web = Path::new("/srv/web");
        assert_eq!(resolve(web, "/"), Some(web.join("index.html")));
        assert_eq!(resolve(web, "/app.js"), Some(web.join("app.js")));
        assert_eq!(
            resolve(web, "/css/a%20b.css"),
            Some(web.join("css/a b.css"))
        );
        assert_eq!(resolve(web, "/sub/"), Some(web.join("sub/index.html")));
        assert_eq!(resolve(web, "/a+b.png"), Some(web.join("a+b.png")));
    }

    #[test]
    fn refuses_escapes_and_hidden_files() {
        let web = Path::new("/srv/web");
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/.git/config",
            "/a%5cb",
            "/x%00",
        ] {
            assert_eq!(resolve(web, bad), None, "{bad}");
        }
    }
}
