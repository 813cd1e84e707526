//! The page built into the binary: every file of the repository's `web/` folder, embedded at
//! compile time, gzipped once at startup, each with its content type and an `ETag` from its
//! SHA-256. The binary then serves its page from any working directory, and a browser that
//! already holds a file revalidates it with a 304 instead of downloading it again.

use std::{collections::HashMap, io::Write, sync::LazyLock};

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use hyper::header::HeaderValue;
use rust_embed::RustEmbed;

use crate::static_files::content_type;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Web;

/// One file of the built-in page, ready to serve.
#[derive(Debug)]
pub(crate) struct Asset {
    pub(crate) body: Bytes,
    /// The body gzipped, when that makes it smaller.
    pub(crate) gzip: Option<Bytes>,
    pub(crate) content_type: HeaderValue,
    /// Strong tags, one per encoding: a cache never takes one encoding's bytes for the other's.
    pub(crate) etag: HeaderValue,
    pub(crate) etag_gzip: HeaderValue,
}

/// The built-in page by URL path without its leading `/` (`index.html`, `js/app.js`).
static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(build);

/// The file at `path` (relative, `/`-separated), if the built-in page has it.
pub(crate) fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.get(path)
}

/// Builds the table now, so the first request does not pay for the compression.
pub(crate) fn prepare() {
    LazyLock::force(&ASSETS);
}

fn build() -> HashMap<String, Asset> {
    Web::iter()
        .filter(|path| !path.split('/').any(|segment| segment.starts_with('.')))
        .filter_map(|path| {
            let file = Web::get(&path)?;
            let body = Bytes::from(file.data.into_owned());
            let hash = file.metadata.sha256_hash();
            let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
            let etag = HeaderValue::from_str(&format!("\"{hex}\"")).ok()?;
            let etag_gzip = HeaderValue::from_str(&format!("\"{hex}-gz\"")).ok()?;
            let content_type = HeaderValue::from_str(&content_type(&path)).ok()?;
            let gzip = gzip(&body).filter(|packed| packed.len() < body.len());
            Some((
                path.into_owned(),
                Asset {
                    body,
                    gzip,
                    content_type,
                    etag,
                    etag_gzip,
                },
            ))
        })
        .collect()
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_page_and_compresses_text() {
        let index = asset("index.html").expect("index.html is built in");
        assert!(index.body.starts_with(b"<!doctype html>"));
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        let gzip = index.gzip.as_ref().expect("html compresses");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut plain)
            .expect("valid gzip");
        assert_eq!(plain, index.body);
        assert!(asset("js/app.js").is_some());
        assert!(asset("favicon.svg").is_some());
        assert!(asset("nope.html").is_none());
    }
}
