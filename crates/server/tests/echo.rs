//! `/echo` (the `echo` feature, on in the tests): a plain WebSocket echo over the chat's own
//! connection layer, answering as RFC 6455 says.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{Client, TestServer, WAIT, http_get};
use tokio::{io::AsyncWriteExt, time::timeout};
use tokio_tungstenite::{
    MaybeTlsStream,
    tungstenite::{Message, protocol::CloseFrame, protocol::frame::coding::CloseCode},
};

async fn next(client: &mut Client) -> Message {
    timeout(WAIT, client.ws.next())
        .await
        .expect("an answer in time")
        .expect("the connection is open")
        .expect("a valid frame")
}

#[tokio::test]
async fn every_message_comes_back_as_it_was_sent_and_nothing_else() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(server.addr, "/echo").await;
    let text = "héllo, not JSON {";
    c.ws.send(Message::text(text)).await.expect("send");
    // No welcome: the first frame is the echo.
    assert_eq!(next(&mut c).await, Message::text(text));
    let bytes: Vec<u8> = (0..=255).collect();
    c.ws.send(Message::binary(bytes.clone()))
        .await
        .expect("send");
    assert_eq!(next(&mut c).await, Message::binary(bytes));
    let big = "x".repeat(60_000);
    c.ws.send(Message::text(big.clone())).await.expect("send");
    assert_eq!(next(&mut c).await, Message::text(big));
    c.ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(
        next(&mut c).await,
        Message::Pong(b"are you there".to_vec().into())
    );
}

#[tokio::test]
async fn a_fragmented_message_comes_back_whole() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(server.addr, "/echo").await;
    let MaybeTlsStream::Plain(tcp) = c.ws.get_mut() else {
        panic!("test clients use plain TCP");
    };
    // "hel" (text, not final), a ping between the fragments, then "lo" (continuation, final);
    // masked with a zero key, so the payloads are the bytes themselves.
    let frames: &[&[u8]] = &[
        &[0x01, 0x83, 0, 0, 0, 0, b'h', b'e', b'l'],
        &[0x89, 0x80, 0, 0, 0, 0],
        &[0x80, 0x82, 0, 0, 0, 0, b'l', b'o'],
    ];
    for frame in frames {
        tcp.write_all(frame).await.expect("raw write");
    }
    assert_eq!(next(&mut c).await, Message::Pong(Vec::new().into()));
    assert_eq!(next(&mut c).await, Message::text("hello"));
}

#[tokio::test]
async fn a_close_from_the_client_is_answered_with_the_same_code() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(server.addr, "/echo").await;
    c.ws.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    }))
    .await
    .expect("close");
    let answer = next(&mut c).await;
    let Message::Close(Some(frame)) = answer else {
        panic!("expected a close frame, got {answer:?}");
    };
    assert_eq!(frame.code, CloseCode::Away);
}

#[tokio::test]
async fn the_echo_is_refused_like_the_chat_without_an_upgrade() {
    let server = TestServer::start("").await;
    let (status, _, _) = http_get(server.addr, "/echo", "").await;
    assert_eq!(status, 426);
}
