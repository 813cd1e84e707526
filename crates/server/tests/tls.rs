//! TLS on the server's port, with certificates made by rcgen: the page, `/healthz` and chat
//! over `wss://`, plain HTTP refused, SIGHUP swapping the certificate without dropping
//! connections, frames spanning many TLS records both ways, a slow TLS reader cut off, key
//! updates in the middle of a chat, and a client that ends TLS abruptly or sends a record
//! that does not decrypt.

mod support;

use chat_config::Settings;
use serde_json::json;
use support::{
    TestServer, WAIT,
    process::ServerProcess,
    tls::{TestCert, connect, https_get, recv, recv_type, send, wss},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// A server on a TLS port with `cert`, and its files' folder (kept while it runs).
async fn tls_server(cert: &TestCert) -> (TestServer, tempfile::TempDir) {
    tls_server_with(cert, "").await
}

/// As [`tls_server`], with more settings (TOML sections other than `[server]`/`[history]`).
async fn tls_server_with(cert: &TestCert, more: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_path, key_path) = cert.write(dir.path());
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");
    let toml = format!(
        "[server]\ntls_cert = {cert_path:?}\ntls_key = {key_path:?}\nweb_dir = {web:?}\n[history]\nbackend = \"memory\"\n{more}"
    );
    let settings = Settings::from_toml_str(&toml).expect("valid settings");
    (TestServer::start_with(settings).await, dir)
}

#[tokio::test]
async fn the_page_health_and_chat_go_over_tls() {
    let cert = TestCert::new();
    let (server, _dir) = tls_server(&cert).await;
    let connector = cert.connector();

    let (status, body) = https_get(server.addr, &connector, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, page) = https_get(server.addr, &connector, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "the chat page: {page}");

    let (mut alice, _) = wss(server.addr, &connector, "/ws?name=alice").await;
    let (mut bob, _) = wss(server.addr, &connector, "/ws?name=bob").await;
    send(&mut alice, json!({"type": "join", "room": "secure"})).await;
    recv_type(&mut alice, "joined").await;
    send(&mut bob, json!({"type": "join", "room": "secure"})).await;
    recv_type(&mut bob, "joined").await;
    send(
        &mut alice,
        json!({"type": "send", "room": "secure", "text": "over TLS", "id": "t1"}),
    )
    .await;
    let echo = recv_type(&mut alice, "message").await;
    assert_eq!(echo["client_id"], "t1");
    let got = recv_type(&mut bob, "message").await;
    assert_eq!(got["text"], "over TLS");
    assert_eq!(got["from"]["name"], "alice");
    server.shutdown().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_refused_and_counted() {
    let cert = TestCert::new();
    let (server, _dir) = tls_server(&cert).await;
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut raw = Vec::new();
    let _ = timeout(WAIT, plain.read_to_end(&mut raw))
        .await
        .expect("the server hangs up");
    assert!(
        !raw.starts_with(b"HTTP/"),
        "no HTTP answer on a TLS port: {:?}",
        String::from_utf8_lossy(&raw)
    );
    let (_, metrics) = https_get(server.addr, &cert.connector(), "/metrics").await;
    assert!(
        metrics.contains("chat_tls_handshake_failures_total 1"),
        "{metrics}"
    );
    // A client that trusts another certificate does not get in either.
    let stranger = TestCert::new().connector();
    assert!(connect(server.addr, &stranger).await.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn one_key_without_the_other_or_a_bad_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_path, key_path) = TestCert::new().write(dir.path());
    let cases = [
        (
            vec![("CHAT__SERVER__TLS_CERT", cert_path.clone())],
            "server.tls_key",
        ),
        (
            vec![("CHAT__SERVER__TLS_KEY", key_path.clone())],
            "server.tls_cert",
        ),
        (
            vec![
                ("CHAT__SERVER__TLS_CERT", cert_path.clone()),
                ("CHAT__SERVER__TLS_KEY", "/nonexistent/key.pem".to_owned()),
            ],
            "server.tls_key",
        ),
        (
            vec![
                ("CHAT__SERVER__TLS_CERT", key_path.clone()),
                ("CHAT__SERVER__TLS_KEY", key_path.clone()),
            ],
            "server.tls_cert",
        ),
    ];
    for (env, key) in cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = timeout(
            WAIT,
            support::process::command(&["--listen", "127.0.0.1:0"], &env).output(),
        )
        .await
        .expect("exits in time")
        .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(key), "{env:?} names {key}: {stderr}");
    }
}

#[tokio::test]
async fn sighup_swaps_the_certificate_and_keeps_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = TestCert::new();
    let (cert_path, key_path) = first.write(dir.path());
    let env = [
        ("CHAT__SERVER__TLS_CERT", cert_path.as_str()),
        ("CHAT__SERVER__TLS_KEY", key_path.as_str()),
    ];
    let mut server = ServerProcess::start(&[], &env).await;
    let (mut old, _) = wss(server.addr, &first.connector(), "/ws?name=old").await;
    send(&mut old, json!({"type": "join", "room": "r"})).await;
    recv_type(&mut old, "joined").await;

    let second = TestCert::new();
    second.write(dir.path());
    server.signal("HUP");
    wait_for_log(&mut server, "TLS certificate and key reloaded").await;
    let (status, _) = https_get(server.addr, &second.connector(), "/healthz").await;
    assert_eq!(status, 200, "new connections get the new certificate");
    assert!(connect(server.addr, &first.connector()).await.is_err());

    // A reload that fails keeps the pair in use.
    std::fs::write(&key_path, "not a key").expect("write");
    server.signal("HUP");
    wait_for_log(&mut server, "TLS reload failed").await;
    let (status, _) = https_get(server.addr, &second.connector(), "/healthz").await;
    assert_eq!(status, 200);

    // The connection made before both reloads still chats.
    send(
        &mut old,
        json!({"type": "send", "room": "r", "text": "still here"}),
    )
    .await;
    assert_eq!(recv_type(&mut old, "message").await["text"], "still here");
    drop(old);
    server.signal("TERM");
    assert!(server.exit_within(WAIT).await.success());
}

/// A text of `len` ASCII bytes in which any byte lost, doubled or moved shows.
fn patterned(len: usize, salt: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + i / 26 + salt) % 26) as u8))
        .collect()
}

#[tokio::test]
async fn frames_of_many_tls_records_arrive_intact_both_ways() {
    let cert = TestCert::new();
    let more = "[ws]\nmax_frame_bytes = 1048576\nmax_text_bytes = 200000\n";
    let (server, _dir) = tls_server_with(&cert, more).await;
    let connector = cert.connector();
    let (mut alice, _) = wss(server.addr, &connector, "/ws?name=alice").await;
    send(&mut alice, json!({"type": "join", "room": "big"})).await;
    recv_type(&mut alice, "joined").await;
    // Each text spans about ten TLS records each way, read in pieces smaller than a record.
    let texts: Vec<String> = (0..3).map(|salt| patterned(150_000 + salt, salt)).collect();
    for (n, text) in texts.iter().enumerate() {
        let id = format!("big{n}");
        send(
            &mut alice,
            json!({"type": "send", "room": "big", "text": text, "id": id}),
        )
        .await;
        let echo = recv_type(&mut alice, "message").await;
        assert_eq!(echo["client_id"], id.as_str());
        assert!(
            echo["text"] == text.as_str(),
            "message {n} came back changed"
        );
    }
    // All three in one `joined` frame of about 450 KB.
    let (mut bob, _) = wss(server.addr, &connector, "/ws?name=bob").await;
    send(&mut bob, json!({"type": "join", "room": "big"})).await;
    let joined = recv_type(&mut bob, "joined").await;
    let history = joined["history"].as_array().expect("history");
    assert_eq!(history.len(), 3);
    for (got, sent) in history.iter().zip(&texts) {
        assert!(got["text"] == sent.as_str(), "history came back changed");
    }
    drop((alice, bob));
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_tls_reader_is_cut_off_with_4008() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let cert = TestCert::new();
    let more = "[ws]\noutbound_queue_bytes = 65536\n[limits]\nmessages_per_sec = 1000000\nburst = 1000000\n";
    let (server, _dir) = tls_server_with(&cert, more).await;
    let connector = cert.connector();
    let (mut stuck, welcome) = wss(server.addr, &connector, "/ws?name=stuck").await;
    let stuck_id = welcome["user"]["id"].clone();
    send(&mut stuck, json!({"type": "join", "room": "r"})).await;
    recv_type(&mut stuck, "joined").await;
    let (mut sender, _) = wss(server.addr, &connector, "/ws?name=sender").await;
    send(&mut sender, json!({"type": "join", "room": "r"})).await;
    recv_type(&mut sender, "joined").await;

    // `stuck` reads nothing from here on; the sender reads its own echoes, so only `stuck`
    // falls behind, until the socket buffers between it and the server are full and its
    // queue passes 64 KiB.
    let text = patterned(4000, 0);
    let mut evicted = false;
    'sending: for n in 0..20_000 {
        let id = format!("m{n}");
        send(
            &mut sender,
            json!({"type": "send", "room": "r", "text": text, "id": id}),
        )
        .await;
        loop {
            let frame = recv(&mut sender).await;
            if frame["type"] == "presence" && frame["event"] == "leave" {
                assert_eq!(frame["user"]["id"], stuck_id);
                evicted = true;
                break 'sending;
            }
            if frame["type"] == "message" && frame["client_id"] == id.as_str() {
                break;
            }
        }
    }
    assert!(evicted, "the slow reader was never cut off");

    // Reading again, it finds the close behind what its socket already held.
    let close = timeout(WAIT, async {
        while let Some(message) = stuck.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(e) => panic!("the stream broke before the close: {e}"),
            }
        }
        None
    })
    .await
    .expect("the close in time");
    assert_eq!(close, Some(4008));
    server.shutdown().await;
}

/// Two members of room `room`: (alice, bob), and alice's user id.
async fn two_in_a_room(
    server: &TestServer,
    connector: &tokio_rustls::TlsConnector,
    room: &str,
) -> (Wss, Wss, serde_json::Value) {
    let (mut alice, welcome) = wss(server.addr, connector, "/ws?name=alice").await;
    let (mut bob, _) = wss(server.addr, connector, "/ws?name=bob").await;
    for member in [&mut alice, &mut bob] {
        send(member, json!({"type": "join", "room": room})).await;
        recv_type(member, "joined").await;
    }
    (alice, bob, welcome["user"]["id"].clone())
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Sends `text` from `from` into `room` and checks that `to` gets it.
async fn says(from: &mut Wss, to: &mut Wss, room: &str, text: &str) {
    send(from, json!({"type": "send", "room": room, "text": text})).await;
    loop {
        let frame = recv_type(to, "message").await;
        if frame["text"] == text {
            return;
        }
    }
}

/// Reads `ws` until the presence `leave` of user `id`.
async fn sees_leave(ws: &mut Wss, id: &serde_json::Value) {
    loop {
        let frame = recv(ws).await;
        if frame["type"] == "presence" && frame["event"] == "leave" && frame["user"]["id"] == *id {
            return;
        }
    }
}

#[tokio::test]
async fn key_updates_in_the_middle_of_a_chat_keep_messages_flowing_both_ways() {
    let cert = TestCert::new();
    let (server, _dir) = tls_server(&cert).await;
    let connector = cert.connector();
    let (mut alice, mut bob, _) = two_in_a_room(&server, &connector, "keys").await;
    says(&mut alice, &mut bob, "keys", "before").await;
    for round in 0..3 {
        // Alice's client takes new keys and asks the server to take new ones too (a TLS 1.3
        // KeyUpdate): in the first round on a record of its own, then ahead of a message.
        let (_, tls) = alice.get_mut().get_mut();
        tls.refresh_traffic_keys().expect("a key update");
        if round == 0 {
            alice.get_mut().flush().await.expect("the key update sent");
            // The server's next record to alice is its first under its new keys.
            says(&mut bob, &mut alice, "keys", "to alice after update 0").await;
            says(&mut alice, &mut bob, "keys", "from alice after update 0").await;
        } else {
            let text = format!("from alice after update {round}");
            says(&mut alice, &mut bob, "keys", &text).await;
            let text = format!("to alice after update {round}");
            says(&mut bob, &mut alice, "keys", &text).await;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_ending_tls_mid_chat_is_let_go_with_close_notify_and_others_go_on() {
    let cert = TestCert::new();
    let (server, _dir) = tls_server(&cert).await;
    let connector = cert.connector();
    let (mut alice, mut bob, alice_id) = two_in_a_room(&server, &connector, "r").await;

    // No WebSocket close: alice's client sends close_notify and ends its side of the socket.
    alice.get_mut().shutdown().await.expect("close_notify sent");
    sees_leave(&mut bob, &alice_id).await;
    // The server ends its side the same way: without its close_notify, the end of the
    // stream would be an error (a cut connection, as far as alice can tell).
    let mut rest = Vec::new();
    timeout(WAIT, alice.get_mut().read_to_end(&mut rest))
        .await
        .expect("the end in time")
        .expect("the server's close_notify");

    let (mut carol, _) = wss(server.addr, &connector, "/ws?name=carol").await;
    send(&mut carol, json!({"type": "join", "room": "r"})).await;
    recv_type(&mut carol, "joined").await;
    says(&mut bob, &mut carol, "r", "still serving").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_record_that_does_not_decrypt_gets_an_alert_and_others_go_on() {
    let cert = TestCert::new();
    let (server, _dir) = tls_server(&cert).await;
    let connector = cert.connector();
    let (mut alice, mut bob, alice_id) = two_in_a_room(&server, &connector, "r").await;

    // An application-data record of 32 bytes that no key decrypts, under alice's TLS.
    let (tcp, _) = alice.get_mut().get_mut();
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    record.extend_from_slice(&[0xab; 32]);
    tcp.write_all(&record).await.expect("write");

    // The server says why (bad_record_mac, encrypted as alerts are once the handshake is
    // done) and lets the connection go.
    let mut rest = Vec::new();
    let end = timeout(WAIT, alice.get_mut().read_to_end(&mut rest))
        .await
        .expect("the end in time")
        .expect_err("an alert, not a clean end");
    let alert = end
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    assert_eq!(
        alert,
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::BadRecordMac
        )),
        "{end}"
    );
    sees_leave(&mut bob, &alice_id).await;

    let (mut carol, _) = wss(server.addr, &connector, "/ws?name=carol").await;
    send(&mut carol, json!({"type": "join", "room": "r"})).await;
    recv_type(&mut carol, "joined").await;
    says(&mut bob, &mut carol, "r", "still serving").await;
    says(&mut carol, &mut bob, "r", "both ways").await;
    server.shutdown().await;
}

/// Reads the server's log until a line contains `needle`.
async fn wait_for_log(server: &mut ServerProcess, needle: &str) {
    timeout(WAIT, async {
        while let Some(line) = server.stderr.next_line().await.expect("read stderr") {
            if line.contains(needle) {
                return;
            }
        }
        panic!("the server exited before logging {needle:?}");
    })
    .await
    .expect("the log line in time");
}
