//! A file's type, from its own first bytes (magic numbers), never only from what the client
//! says: a PNG sent as `text/html` is a PNG.

/// How many leading bytes the type is read from.
pub(crate) const SNIFF_BYTES: usize = 8192;

/// The types thumbnails are made for, and served inline.
pub(crate) const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The type of a file that starts with `head` (all of it when shorter than [`SNIFF_BYTES`]).
/// Known magic numbers win; bytes with none that read as UTF-8 text are `text/plain`; the
/// rest is `application/octet-stream`.
pub(crate) fn detect(head: &[u8]) -> &'static str {
    if let Some(found) = infer::get(head) {
        return found.mime_type();
    }
    if looks_like_text(head) {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// UTF-8 without NUL; a character cut at the end of `head` is fine.
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // Only an incomplete last character (at most 3 bytes) may fail.
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    }
}

pub(crate) fn is_image(media_type: &str) -> bool {
    IMAGE_TYPES.contains(&media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decide_not_names() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(detect(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(detect("plain words, été".as_bytes()), "text/plain");
        assert_eq!(detect(&"é".as_bytes()[..1]), "text/plain");
        assert_eq!(detect(b"\0\x01\x02binary"), "application/octet-stream");
    }
}
