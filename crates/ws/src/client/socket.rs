use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::BytesMut;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::tcp::OwnedReadHalf,
};

use crate::{hub::Sender, protocol::Frame};

/// The reading half of a connection, as the WebSocket library sees it.
///
/// The library parses client frames and answers pings and closes by itself; those answers are
/// the only bytes it ever writes. They are collected here and, on flush, sent like any frame
/// (so frames never interleave on the socket); a close answer goes through the writer task,
/// which ends the connection after it.
pub(super) struct ReadSide {
    read: OwnedReadHalf,
    replies: BytesMut,
    sender: Sender,
}

impl ReadSide {
    pub(super) fn new(read: OwnedReadHalf, sender: Sender) -> Self {
        Self {
            read,
            replies: BytesMut::new(),
            sender,
        }
    }
}

impl AsyncRead for ReadSide {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadSide {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.replies.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.replies.is_empty() {
            let frame = Frame::raw(self.replies.split().freeze());
            // A client whose queue is full cannot take a pong either: it is evicted.
            if frame.is_close() {
                self.sender.queue(frame);
            } else {
                self.sender.send_one(frame);
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
