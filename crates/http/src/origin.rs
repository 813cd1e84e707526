use hyper::{HeaderMap, header};

/// Whether a browser page from the request's `Origin` may open a WebSocket here.
///
/// No `Origin` header means a non-browser client, which the same-origin policy does not
/// concern. A browser's origin must be this server's own host, or listed in `allowed`
/// (exactly, e.g. `https://chat.example`), or `allowed` holds `*`.
pub(crate) fn allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn same_host_and_no_origin_pass() {
        assert!(allowed(&headers(None, "chat.example"), &[]));
        assert!(allowed(
            &headers(Some("http://localhost:8080"), "localhost:8080"),
            &[]
        ));
        assert!(allowed(
            &headers(Some("https://Chat.Example"), "chat.example"),
            &[]
        ));
    }

    #[test]
    fn other_origins_need_the_list() {
        let h = headers(Some("https://evil.example"), "chat.example");
        assert!(!allowed(&h, &[]));
        assert!(!allowed(&h, &["https://good.example".into()]));
        assert!(allowed(&h, &["https://evil.example".into()]));
        assert!(allowed(&h, &["*".into()]));
        // Same host name on another port is another origin.
        assert!(!allowed(
            &headers(Some("http://localhost:9999"), "localhost:8080"),
            &[]
        ));
    }
}
