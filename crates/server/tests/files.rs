//! File sharing through the real server: uploads (token, type from the bytes, limits),
//! downloads (ranges, ETags, the headers that keep a file from running as a page),
//! thumbnails, the sweep, and the same over S3 (a moto server; see `s3_endpoint`).

mod support;

use std::{io::Cursor, net::SocketAddr, path::Path, time::Duration};

use chat_config::Settings;
use serde_json::{Value, json};
use support::{Client, TestServer, WAIT, process::ServerProcess, redis};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// An HTTP answer: status, headers (names lowercased) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn parse(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// One request with a body of known length.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    parse(&raw)
}

async fn upload(addr: SocketAddr, token: &str, name: &str, claimed: &str, body: &[u8]) -> Answer {
    let auth = format!("Bearer {token}");
    let path = format!("/files?name={name}");
    request(
        addr,
        "POST",
        &path,
        &[("Authorization", &auth), ("Content-Type", claimed)],
        body,
    )
    .await
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(addr, "GET", path, headers, b"").await
}

/// Connects, reads `welcome`, returns the client and its upload object.
async fn connect(addr: SocketAddr, name: &str) -> (Client, Value) {
    let mut client = Client::connect(addr, &format!("/ws?name={name}")).await;
    let welcome = client.recv_type("welcome").await;
    client.id = welcome["user"]["id"].as_str().expect("user id").to_owned();
    (client, welcome["upload"].clone())
}

fn token(upload: &Value) -> String {
    upload["token"]
        .as_str()
        .expect("an upload token")
        .to_owned()
}

/// Settings with memory history and file sharing in `dir`, with `extra` TOML in `[files]`.
fn settings(dir: &Path, extra: &str) -> Settings {
    let toml = format!(
        "[history]\nbackend = \"memory\"\n[files]\ndir = {:?}\n{extra}",
        dir.display().to_string()
    );
    Settings::from_toml_str(&toml).expect("test settings are valid")
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .write_to(&mut out, image::ImageFormat::Png)
    .expect("a png");
    out.into_inner()
}

/// A JPEG with an EXIF segment (GPS tags included) right after its start marker.
fn jpeg_with_exif(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([10, 120, 200]))
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("a jpeg");
    let plain = out.into_inner();
    let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=48.8584;GPSLongitude=2.2945";
    let length = u16::try_from(payload.len() + 2).expect("short");
    let mut with_exif = plain[..2].to_vec();
    with_exif.extend_from_slice(&[0xFF, 0xE1]);
    with_exif.extend_from_slice(&length.to_be_bytes());
    with_exif.extend_from_slice(payload);
    with_exif.extend_from_slice(&plain[2..]);
    with_exif
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the files folder holds, temporary files included.
fn stored(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in walk(dir) {
        names.push(
            entry
                .strip_prefix(dir)
                .expect("inside")
                .display()
                .to_string(),
        );
    }
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn an_upload_comes_back_with_its_headers_ranges_and_etag() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let (_alice, upload_grant) = connect(server.addr, "alice").await;
    assert_eq!(upload_grant["url"], "/files");
    assert_eq!(upload_grant["max_bytes"], 10_485_760);

    let text = b"hello, files\nsecond line\n";
    let answer = upload(
        server.addr,
        &token(&upload_grant),
        "notes%20v1.txt",
        "text/plain",
        text,
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let file = answer.json();
    let id = file["id"].as_str().expect("an id");
    assert!(id.starts_with("f_") && id.len() >= 2 + 32, "{id}");
    assert_eq!(file["name"], "notes v1.txt");
    assert_eq!(file["size"], text.len());
    assert_eq!(file["type"], "text/plain");
    assert!(file.get("thumb").is_none() && file.get("width").is_none());
    let url = file["url"].as_str().expect("a url");
    assert_eq!(url, format!("/files/{id}/notes%20v1.txt"));

    let got = get(server.addr, url, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, text);
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert!(
        got.header("content-security-policy")
            .is_some_and(|csp| csp.contains("sandbox"))
    );
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment") && d.contains("notes v1.txt"))
    );
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    let etag = got.header("etag").expect("an etag").to_owned();

    let part = get(server.addr, url, &[("Range", "bytes=7-11")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"files");
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 7-11/{}", text.len()).as_str())
    );
    let tail = get(server.addr, url, &[("Range", "bytes=-5")]).await;
    assert_eq!((tail.status, tail.body.as_slice()), (206, &b"line\n"[..]));
    let past = get(server.addr, url, &[("Range", "bytes=999-")]).await;
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{}", text.len()).as_str())
    );

    let cached = get(server.addr, url, &[("If-None-Match", &etag)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    let changed = get(server.addr, url, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(changed.status, 200);

    // The name in the path does not matter; the id does.
    assert_eq!(
        get(server.addr, &format!("/files/{id}/x"), &[])
            .await
            .status,
        200
    );
    let unknown = "/files/f_00000000000000000000000000000000/notes.txt";
    assert_eq!(get(server.addr, unknown, &[]).await.status, 404);
    assert_eq!(
        get(server.addr, "/files/../../etc/passwd", &[])
            .await
            .status,
        404
    );
    assert_eq!(get(server.addr, "/files", &[]).await.status, 405);
    // Only complete files are in the folder: no temporary file is left.
    assert_eq!(
        stored(dir.path()),
        [format!("{id}/file"), format!("{id}/meta.json")]
    );
    drop(_alice);
    server.shutdown().await;
}

#[tokio::test]
async fn uploads_need_a_valid_token() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let none = request(server.addr, "POST", "/files?name=a.txt", &[], b"hi").await;
    assert_eq!(none.status, 401);
    assert!(none.header("www-authenticate").is_some());
    let forged = upload(
        server.addr,
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
        "a.txt",
        "text/plain",
        b"hi",
    )
    .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.json()["error"]["code"], "forbidden");
    server.shutdown().await;
}

#[tokio::test]
async fn with_sign_in_the_users_jwt_uploads_and_the_token_names_them() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let secret = "a-secret-for-files";
    let mut settings = settings(dir.path(), "");
    settings.auth = Settings::from_toml_str(&format!(
        "[auth]\nmode = \"jwt\"\njwt_secret = \"{secret}\""
    ))
    .expect("valid")
    .auth;
    let server = TestServer::start_with(settings).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 600;
    let jwt = chat_http::mint(
        secret,
        &chat_http::Claims {
            sub: "alice".into(),
            exp,
            name: Some("Alice".into()),
            rooms: None,
        },
    )
    .expect("a token");
    let answer = upload(server.addr, &jwt, "a.txt", "text/plain", b"from the jwt").await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let (_client, grant) = {
        let mut client = Client::connect(server.addr, &format!("/ws?token={jwt}")).await;
        let welcome = client.recv_type("welcome").await;
        (client, welcome["upload"].clone())
    };
    let answer = upload(
        server.addr,
        &token(&grant),
        "b.txt",
        "text/plain",
        b"from welcome",
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    drop(_client);
    server.shutdown().await;
}

#[tokio::test]
async fn an_image_is_typed_by_its_bytes_and_gets_a_clean_thumbnail() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;

    // A PNG that claims to be HTML is stored and served as a PNG.
    let answer = upload(
        server.addr,
        &token(&grant),
        "page.html",
        "text/html",
        &png(800, 600),
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let file = answer.json();
    assert_eq!(file["type"], "image/png");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(800), Some(600))
    );
    let got = get(server.addr, file["url"].as_str().expect("url"), &[]).await;
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("inline"))
    );
    let thumb = get(server.addr, file["thumb"].as_str().expect("a thumb"), &[]).await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/png"));
    assert_eq!(thumb.header("x-content-type-options"), Some("nosniff"));
    let small = image::load_from_memory(&thumb.body).expect("a thumbnail");
    assert_eq!((small.width(), small.height()), (320, 240));

    // A photo's EXIF (and its GPS position) stays out of the thumbnail.
    let photo = jpeg_with_exif(1000, 500);
    let answer = upload(
        server.addr,
        &token(&grant),
        "photo.jpg",
        "image/jpeg",
        &photo,
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let file = answer.json();
    let original = get(server.addr, file["url"].as_str().expect("url"), &[]).await;
    assert!(
        contains(&original.body, b"GPSLatitude"),
        "the original is kept as sent"
    );
    let thumb = get(server.addr, file["thumb"].as_str().expect("a thumb"), &[]).await;
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    assert!(!contains(&thumb.body, b"Exif") && !contains(&thumb.body, b"GPS"));
    let small = image::load_from_memory(&thumb.body).expect("a thumbnail");
    assert!(
        small.width() <= 320 && small.height() <= 320,
        "{}x{}",
        small.width(),
        small.height()
    );
    drop(_alice);
    server.shutdown().await;
}

#[tokio::test]
async fn refused_types_and_images_get_415_and_leave_nothing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "max_pixels = 10000\n")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    let token = token(&grant);
    // An executable, whatever it claims to be.
    let elf = [b"\x7fELF\x02\x01\x01\0".as_slice(), &[0u8; 64]].concat();
    let answer = upload(server.addr, &token, "cat.png", "image/png", &elf).await;
    assert_eq!(answer.status, 415, "{answer:?}");
    assert_eq!(answer.json()["error"]["code"], "unsupported");
    // HTML is not an accepted type, whatever the claim.
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
    assert_eq!(
        upload(server.addr, &token, "a.txt", "text/plain", html)
            .await
            .status,
        415
    );
    // A PNG header with nothing decodable behind it.
    let broken = [&png(10, 10)[..40], &[0u8; 100]].concat();
    assert_eq!(
        upload(server.addr, &token, "b.png", "image/png", &broken)
            .await
            .status,
        415
    );
    // 101 x 100 pixels, one row past the limit, refused from the header.
    let answer = upload(server.addr, &token, "c.png", "image/png", &png(101, 100)).await;
    assert_eq!(answer.status, 415);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("101x100"))
    );
    assert_eq!(
        upload(server.addr, &token, "d.png", "image/png", &png(100, 100))
            .await
            .status,
        201
    );
    assert_eq!(stored(dir.path()).len(), 3, "one image: file, thumb, meta");
    drop(_alice);
    server.shutdown().await;
}

/// Sends a chunked body of `total` bytes (no `Content-Length`) while reading the answer;
/// returns it (if one came before the connection was cut) and the bytes the writer got out.
async fn upload_streamed(addr: SocketAddr, token: &str, total: usize) -> (Option<Answer>, usize) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /files?name=big.txt HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    // The write half goes back with the count: dropped, it would end the connection (a
    // half-close, which the server takes for a client that left) before the answer.
    let writer = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        if write.write_all(head.as_bytes()).await.is_err() {
            return (sent, write);
        }
        while sent < total {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if write.write_all(&framed).await.is_err() {
                return (sent, write);
            }
            sent += chunk.len();
        }
        let _ = write.write_all(b"0\r\n\r\n").await;
        (sent, write)
    });
    let mut raw = Vec::new();
    let _ = timeout(WAIT * 2, read.read_to_end(&mut raw)).await;
    let (sent, _write) = timeout(WAIT, writer)
        .await
        .expect("the writer ends")
        .expect("joined");
    let answer = raw
        .windows(4)
        .any(|w| w == b"\r\n\r\n")
        .then(|| parse(&raw));
    (answer, sent)
}

#[tokio::test]
async fn a_body_past_the_limit_is_cut_off_with_413_as_it_arrives() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "max_bytes = 65536\n")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    let token = token(&grant);
    assert_eq!(grant["max_bytes"], 65536);

    // Declared too large: refused before the body is read.
    let declared = request(
        server.addr,
        "POST",
        "/files?name=a.txt",
        &[("Authorization", &format!("Bearer {token}"))],
        &vec![b'a'; 65537],
    )
    .await;
    assert_eq!(declared.status, 413, "{declared:?}");
    assert_eq!(declared.json()["error"]["code"], "too_large");

    // Streamed, four times the limit, with no length given.
    let (answer, _) = upload_streamed(server.addr, &token, 4 * 65536).await;
    let answer = answer.expect("an answer");
    assert_eq!(answer.status, 413, "{answer:?}");

    // Far past it: the server stops reading, so the client cannot get it all out.
    let total = 256 * 1024 * 1024;
    let (answer, sent) = upload_streamed(server.addr, &token, total).await;
    assert!(sent < total, "the server read all {sent} bytes");
    if let Some(answer) = answer {
        assert_eq!(answer.status, 413);
    }
    // Exactly the limit is fine.
    let exact = upload(
        server.addr,
        &token,
        "b.txt",
        "text/plain",
        &vec![b'b'; 65536],
    )
    .await;
    assert_eq!(exact.status, 201, "{exact:?}");
    // Nothing of the refused bodies is left, not even a temporary file.
    assert_eq!(stored(dir.path()).len(), 2, "{:?}", stored(dir.path()));
    drop(_alice);
    server.shutdown().await;
}

#[tokio::test]
async fn uploads_past_the_per_minute_rate_get_429() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "uploads_per_min = 2\n")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    let (_bob, bob_grant) = connect(server.addr, "bob").await;
    for _ in 0..2 {
        assert_eq!(
            upload(server.addr, &token(&grant), "a.txt", "text/plain", b"a")
                .await
                .status,
            201
        );
    }
    let limited = upload(server.addr, &token(&grant), "a.txt", "text/plain", b"a").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    // Another user has a bucket of their own.
    assert_eq!(
        upload(server.addr, &token(&bob_grant), "b.txt", "text/plain", b"b")
            .await
            .status,
        201
    );
    drop(_alice);
    drop(_bob);
    server.shutdown().await;
}

#[tokio::test]
async fn with_file_sharing_off_there_is_no_upload_and_no_route() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "enabled = false\n")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    assert_eq!(grant, Value::Null);
    let post = request(server.addr, "POST", "/files?name=a.txt", &[], b"x").await;
    assert_eq!(post.status, 404);
    let path = "/files/f_00000000000000000000000000000000/a.txt";
    assert_eq!(get(server.addr, path, &[]).await.status, 404);
    drop(_alice);
    server.shutdown().await;
}

/// Waits until `path` answers `status`, asking every 50 ms, at most [`WAIT`].
async fn until_status(addr: SocketAddr, path: &str, status: u16) {
    timeout(WAIT, async {
        while get(addr, path, &[]).await.status != status {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} never answered {status}"));
}

#[tokio::test]
async fn the_sweep_removes_an_unreferenced_file_across_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    let answer = upload(server.addr, &token(&grant), "old.txt", "text/plain", b"old").await;
    let url = answer.json()["url"].as_str().expect("url").to_owned();
    drop(_alice);
    server.shutdown().await;

    // The next start holds files for no time: its first pass removes the file.
    let server = TestServer::start_with(settings(dir.path(), "keep_unreferenced = \"0s\"\n")).await;
    until_status(server.addr, &url, 404).await;
    timeout(WAIT, async {
        while !stored(dir.path()).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every object of the file removed");
    server.shutdown().await;
}

/// The S3 API the S3 tests use: `CHAT_TEST_S3_ENDPOINT`, by default the moto server `.ci/run`
/// starts. Unreachable, the tests fail, unless `CHAT_TEST_SKIP_S3=1` says to skip them.
fn s3_endpoint() -> Option<String> {
    let endpoint = std::env::var("CHAT_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:5070".to_owned());
    let address = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let reachable = std::net::TcpStream::connect_timeout(
        &address
            .parse()
            .expect("CHAT_TEST_S3_ENDPOINT is http://HOST:PORT"),
        Duration::from_secs(2),
    )
    .is_ok();
    if reachable {
        return Some(endpoint);
    }
    if std::env::var("CHAT_TEST_SKIP_S3").is_ok_and(|v| v == "1") {
        eprintln!("skipped: no S3 API at {endpoint} and CHAT_TEST_SKIP_S3=1");
        return None;
    }
    panic!(
        "no S3 API at {endpoint}: start one (`moto_server -p 5070`, as .ci/run does), point \
         CHAT_TEST_S3_ENDPOINT at another, or set CHAT_TEST_SKIP_S3=1 to skip the S3 tests"
    );
}

/// Creates `bucket` (moto takes an unsigned request).
async fn create_bucket(endpoint: &str, bucket: &str) {
    let address: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("an address");
    let answer = request(address, "PUT", &format!("/{bucket}"), &[], b"").await;
    assert_eq!(answer.status, 200, "bucket {bucket}: {answer:?}");
}

#[tokio::test]
async fn over_s3_an_upload_comes_back_and_a_refused_one_leaves_nothing() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = format!("chat-files-{:x}", rand_suffix());
    create_bucket(&endpoint, &bucket).await;
    let env = [
        ("CHAT__FILES__BACKEND", "s3"),
        ("CHAT__FILES__S3_BUCKET", bucket.as_str()),
        ("CHAT__FILES__S3_ENDPOINT", endpoint.as_str()),
        ("CHAT__FILES__S3_REGION", "us-east-1"),
        ("CHAT__FILES__MAX_BYTES", "65536"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let mut server = ServerProcess::start(&[], &env).await;
    let (_alice, grant) = connect(server.addr, "alice").await;
    let token = token(&grant);

    let text = b"stored in a bucket";
    let answer = upload(server.addr, &token, "s3.txt", "text/plain", text).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let url = answer.json()["url"].as_str().expect("url").to_owned();
    let got = get(server.addr, &url, &[]).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &text[..]));
    let part = get(server.addr, &url, &[("Range", "bytes=10-")]).await;
    assert_eq!((part.status, part.body.as_slice()), (206, &b"a bucket"[..]));

    let picture = upload(server.addr, &token, "p.png", "image/png", &png(400, 100)).await;
    assert_eq!(picture.status, 201, "{picture:?}");
    let thumb = get(
        server.addr,
        picture.json()["thumb"].as_str().expect("thumb"),
        &[],
    )
    .await;
    let small = image::load_from_memory(&thumb.body).expect("a thumbnail");
    assert_eq!((small.width(), small.height()), (320, 80));

    let (answer, _) = upload_streamed(server.addr, &token, 4 * 65536).await;
    assert_eq!(answer.expect("an answer").status, 413);
    let unknown = "/files/f_00000000000000000000000000000000/s3.txt";
    assert_eq!(get(server.addr, unknown, &[]).await.status, 404);
    server.signal("TERM");
    assert!(server.exit_within(WAIT * 3).await.success());
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
        ^ u64::from(std::process::id())
}

#[tokio::test]
async fn a_message_carries_its_files_and_only_its_senders_own() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let (mut alice, alice_grant) = connect(server.addr, "alice").await;
    let (mut bob, bob_grant) = connect(server.addr, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    let picture = upload(
        server.addr,
        &token(&alice_grant),
        "cat.png",
        "image/png",
        &png(400, 300),
    )
    .await;
    let notes = upload(
        server.addr,
        &token(&alice_grant),
        "notes.txt",
        "text/plain",
        b"notes",
    )
    .await;
    let (picture, notes) = (picture.json(), notes.json());

    alice
        .send(
            json!({"type": "send", "room": "r", "text": "look", "id": "m1",
                     "files": [picture["id"], notes["id"]]}),
        )
        .await;
    let message = bob.recv_type("message").await;
    assert_eq!(message["text"], "look");
    assert_eq!(message["files"], json!([picture, notes]));
    let echo = alice.recv_type("message").await;
    assert_eq!(echo["files"], message["files"]);

    // A file alone needs no words.
    alice
        .send(json!({"type": "send", "room": "r", "text": "", "files": [notes["id"]]}))
        .await;
    assert_eq!(
        bob.recv_type("message").await["files"][0]["id"],
        notes["id"]
    );
    alice.recv_type("message").await;

    // Another user's file, an unknown one, too many, or not an id: bad_request, nothing sent.
    let bobs = upload(
        server.addr,
        &token(&bob_grant),
        "b.txt",
        "text/plain",
        b"bob's",
    )
    .await
    .json();
    let refusals = [
        json!([bobs["id"]]),
        json!(["f_00000000000000000000000000000000"]),
        json!(vec![notes["id"].clone(); 11]),
        json!([7]),
    ];
    for (n, files) in refusals.into_iter().enumerate() {
        let id = format!("bad{n}");
        alice
            .send(json!({"type": "send", "room": "r", "text": "x", "id": id, "files": files}))
            .await;
        let error = alice.recv_type("error").await;
        assert_eq!(error["code"], "bad_request", "{files}: {error}");
        assert_eq!(error["ref"], id.as_str());
    }
    bob.assert_quiet("r").await;

    // History carries them too.
    let (mut carol, _) = connect(server.addr, "carol").await;
    let joined = carol.join("r").await;
    assert_eq!(joined["history"][0]["files"], json!([picture, notes]));
    drop((alice, bob, carol));
    server.shutdown().await;
}

#[tokio::test]
async fn the_sweep_keeps_a_file_a_message_references() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = TestServer::start_with(settings(dir.path(), "")).await;
    let (mut alice, grant) = connect(server.addr, "alice").await;
    alice.join("r").await;
    let kept = upload(
        server.addr,
        &token(&grant),
        "kept.txt",
        "text/plain",
        b"kept",
    )
    .await
    .json();
    let dropped = upload(
        server.addr,
        &token(&grant),
        "dropped.txt",
        "text/plain",
        b"dropped",
    )
    .await
    .json();
    alice
        .send(json!({"type": "send", "room": "r", "text": "here", "files": [kept["id"]]}))
        .await;
    alice.recv_type("message").await;
    drop(alice);
    server.shutdown().await;

    let server = TestServer::start_with(settings(dir.path(), "keep_unreferenced = \"0s\"\n")).await;
    until_status(server.addr, dropped["url"].as_str().expect("url"), 404).await;
    let got = get(server.addr, kept["url"].as_str().expect("url"), &[]).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"kept"[..]));
    server.shutdown().await;
}

#[tokio::test]
async fn the_files_of_a_deleted_message_are_removed_and_no_others() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    deleting_removes_the_files(settings(dir.path(), "")).await;
}

#[tokio::test]
async fn through_redis_the_files_of_a_deleted_message_are_removed_and_no_others() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let prefix = redis::prefix("files");
    let toml = format!(
        "{}\n[files]\ndir = {:?}\n",
        redis::node_toml(redis::SHARED, &prefix, ""),
        dir.path().display().to_string()
    );
    deleting_removes_the_files(Settings::from_toml_str(&toml).expect("test settings are valid"))
        .await;
    redis::clean(redis::SHARED, &prefix).await;
}

/// A message with two files and another with one; the first is deleted: its files (and the
/// picture's thumbnail) go, the other message's stays.
async fn deleting_removes_the_files(settings: Settings) {
    let server = TestServer::start_with(settings).await;
    let (mut alice, grant) = connect(server.addr, "alice").await;
    alice.join("r").await;
    let up = async |name: &str, claimed: &str, body: &[u8]| {
        upload(server.addr, &token(&grant), name, claimed, body)
            .await
            .json()
    };
    let picture = up("cat.png", "image/png", &png(400, 300)).await;
    let notes = up("notes.txt", "text/plain", b"notes").await;
    let other = up("other.txt", "text/plain", b"other").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "look",
                     "files": [picture["id"], notes["id"]]}))
        .await;
    let shared = alice.recv_type("message").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "keep", "files": [other["id"]]}))
        .await;
    alice.recv_type("message").await;
    let urls = |file: &Value| {
        [&file["url"], &file["thumb"]]
            .into_iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    for url in urls(&picture).iter().chain(&urls(&notes)) {
        assert_eq!(get(server.addr, url, &[]).await.status, 200, "{url}");
    }

    alice
        .send(json!({"type": "delete", "room": "r", "target": shared["seq"]}))
        .await;
    assert_eq!(alice.recv_type("message").await["kind"], "delete");
    for url in urls(&picture).iter().chain(&urls(&notes)) {
        until_status(server.addr, url, 404).await;
    }
    let kept = other["url"].as_str().expect("url");
    assert_eq!(get(server.addr, kept, &[]).await.status, 200);
    drop(alice);
    server.shutdown().await;
}
