use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    header::{self, HeaderValue},
};

use crate::response::{Reply, text};

/// The page may load scripts, styles and images from this server only, and open WebSockets
/// back to it: no inline script, no other origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves a file from `web_dir`: `/` is `index.html`; anything escaping the folder is 404.
pub(crate) async fn serve<B>(web_dir: &Path, request: &Request<B>) -> Reply {
    let Some(path) = resolve(web_dir, request.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let body = match tokio::fs::read(&path).await {
        Ok(body) => body,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let content_type = match mime.type_() {
        mime_guess::mime::TEXT | mime_guess::mime::APPLICATION
            if mime.get_param("charset").is_none() && is_textual(&mime) =>
        {
            format!("{mime}; charset=utf-8")
        }
        _ => mime.to_string(),
    };
    let length = body.len();
    let body = if request.method() == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
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

fn is_textual(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml")
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
    if decoded.ends_with('/') || path == web_dir {
        path.push("index.html");
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
