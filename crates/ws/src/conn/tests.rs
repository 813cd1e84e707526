//! The outbox over a real TCP socket and over a channel: order behind a backlog, closes,
//! evictions and the queue's bounds.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{Delivery, Outbox, QueueLimits, SLOW_CONSUMER};
use crate::protocol::Frame;

const ROOMY: QueueLimits = QueueLimits {
    frames: 1 << 20,
    bytes: 1 << 30,
};

/// A connected pair with small kernel buffers, so a few frames fill the socket: the server's
/// outbox and a task that reads everything the client receives until the end.
async fn pair() -> (
    Outbox,
    Arc<TcpStream>,
    JoinHandle<Vec<u8>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    let sock = socket2::SockRef::from(&server);
    sock.set_send_buffer_size(4096).expect("small send buffer");
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let server = Arc::new(server);
    // The client reads only once told to, so the server's backlog builds up first.
    let (go, start) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let _ = start.await;
        let mut client = client;
        let mut all = Vec::new();
        let _ = client.read_to_end(&mut all).await;
        all
    });
    (Outbox::tcp(server.clone()), server, reader, go)
}

/// A text frame of `n` repeated `byte`s.
fn frame(byte: u8, n: usize) -> Frame {
    Frame::from_json(vec![byte; n])
}

/// The frames in `wire`, as (opcode, payload).
fn frames_of(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while wire.len() >= 2 {
        let (header, len) = match wire[1] & 0x7f {
            126 => (4, usize::from(u16::from_be_bytes([wire[2], wire[3]]))),
            127 => (
                10,
                u64::from_be_bytes(wire[2..10].try_into().expect("8 bytes")) as usize,
            ),
            n => (2, usize::from(n)),
        };
        assert!(wire.len() >= header + len, "a frame cut short");
        out.push((wire[0] & 0x0f, wire[header..header + len].to_vec()));
        wire = &wire[header + len..];
    }
    assert!(wire.is_empty(), "bytes after the last frame");
    out
}

/// Sends frames of 16 KiB until the socket is full; returns what was sent.
fn fill(outbox: &mut Outbox, limits: QueueLimits) -> Vec<Frame> {
    let mut sent = Vec::new();
    for n in 0..64u8 {
        let f = frame(b'a' + n % 26, 16 * 1024);
        sent.push(f.clone());
        if outbox.send(&mut vec![f], limits) == Delivery::Waiting {
            return sent;
        }
    }
    panic!("a 4 KiB socket buffer took 1 MiB");
}

/// Writes what waits as the socket takes it, until nothing waits.
async fn drain(outbox: &mut Outbox) {
    while outbox.has_backlog() {
        let writable = outbox
            .writable(1)
            .expect("a TCP outbox waits for its socket");
        tokio::time::timeout(Duration::from_secs(5), writable)
            .await
            .expect("the reader takes the bytes");
        outbox.resume();
    }
}

#[tokio::test]
async fn frames_sent_while_the_socket_is_full_go_out_after_the_backlog_in_order() {
    let (mut outbox, server, reader, go) = pair().await;
    let mut sent = fill(&mut outbox, ROOMY);
    for byte in [b'x', b'y'] {
        let f = frame(byte, 100);
        sent.push(f.clone());
        assert_eq!(outbox.send(&mut vec![f], ROOMY), Delivery::Waiting);
    }
    go.send(()).expect("reader waiting");
    drain(&mut outbox).await;
    super::tcp::cut(&server);
    let received = reader.await.expect("reader");
    let expected: Vec<u8> = sent.iter().flat_map(|f| f.wire().to_vec()).collect();
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "the bytes arrived out of order");
}

#[tokio::test]
async fn a_close_goes_out_after_what_waits_and_nothing_after_it() {
    let (mut outbox, server, reader, go) = pair().await;
    let sent = fill(&mut outbox, ROOMY);
    outbox.close(Frame::close(1001, "going away"));
    assert!(outbox.is_closing());
    assert_eq!(
        outbox.send(&mut vec![frame(b'z', 10)], ROOMY),
        Delivery::Sent
    );
    go.send(()).expect("reader waiting");
    drain(&mut outbox).await;
    super::tcp::cut(&server);
    let frames = frames_of(&reader.await.expect("reader"));
    assert_eq!(frames.len(), sent.len() + 1);
    let (opcode, payload) = frames.last().expect("a close");
    assert_eq!((*opcode, &payload[..2]), (0x8, &1001u16.to_be_bytes()[..]));
}

#[tokio::test]
async fn eviction_drops_what_waits_but_ends_a_started_frame_then_closes_with_4008() {
    let (mut outbox, server, reader, go) = pair().await;
    let sent = fill(&mut outbox, ROOMY);
    outbox.send(&mut vec![frame(b'q', 100)], ROOMY);
    outbox.evict();
    go.send(()).expect("reader waiting");
    drain(&mut outbox).await;
    super::tcp::cut(&server);
    // Every frame is whole (a cut one would fail to parse), the dropped ones never came.
    let frames = frames_of(&reader.await.expect("reader"));
    assert!(frames.len() < sent.len() + 1, "{} frames", frames.len());
    let (opcode, payload) = frames.last().expect("a close");
    assert_eq!(
        (*opcode, &payload[..2]),
        (0x8, &SLOW_CONSUMER.to_be_bytes()[..])
    );
}

#[tokio::test]
async fn what_waits_is_bounded_in_bytes_as_well_as_in_frames() {
    let (mut outbox, _server, _reader, _go) = pair().await;
    let limits = QueueLimits {
        frames: 1_000,
        bytes: 64 * 1024,
    };
    fill(&mut outbox, limits);
    let mut refused = false;
    for _ in 0..8 {
        if outbox.send(&mut vec![frame(b'b', 16 * 1024)], limits) == Delivery::Refused {
            refused = true;
            break;
        }
    }
    assert!(refused, "more than 64 KiB waited");
}

#[tokio::test]
async fn a_channel_is_bounded_and_gives_room_back_as_its_task_writes() {
    let limits = QueueLimits {
        frames: 3,
        bytes: 1 << 20,
    };
    let (mut outbox, mut out) = Outbox::channel();
    for n in 0..3 {
        assert_eq!(
            outbox.send(&mut vec![frame(b'a' + n, 10)], limits),
            Delivery::Sent
        );
    }
    assert_eq!(
        outbox.send(&mut vec![frame(b'd', 10)], limits),
        Delivery::Refused
    );
    let first = out.next().await.expect("a frame");
    out.written(&first);
    assert_eq!(
        outbox.send(&mut vec![frame(b'e', 10)], limits),
        Delivery::Sent
    );
    // Evicted: what waits is skipped, the next frame is the 4008 close.
    outbox.evict();
    let close = out.next().await.expect("the close");
    assert!(close.is_close());
    assert_eq!(&close.payload()[..2], &SLOW_CONSUMER.to_be_bytes());
    outbox.cut();
    assert!(out.next().await.is_none(), "a cut connection ends");
}
