use std::{
    io::{self, Read},
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::{hub::Sender, protocol::Frame};

/// The reading side of a connection, as the WebSocket library sees it.
///
/// It reads from the socket the connection's outlet owns (one socket in one place, the one
/// the hub's writes reach first). The library parses client frames and answers pings and
/// closes by itself; those answers are the only bytes it ever writes. They are collected here
/// and, on flush, sent like any frame (so frames never interleave on the socket); a close
/// answer goes through the writer task, which ends the connection after it.
pub(super) struct ReadSide {
    replies: BytesMut,
    sender: Sender,
}

impl ReadSide {
    pub(super) fn new(sender: Sender) -> Self {
        Self {
            replies: BytesMut::new(),
            sender,
        }
    }
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let tcp = self.sender.outlet().socket();
        // The library reads into initialized memory: nothing to zero here.
        let into = buf.initialize_unfilled();
        let mut read = 0;
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            // A short read drained the socket. Like tokio's own read half, it then forgets the
            // readiness, so the next read waits for data instead of calling recv for nothing:
            // `try_io` does that when its closure says `WouldBlock`, so a short read says so.
            let result = tcp.try_io(Interest::READABLE, || {
                read = (&*socket2::SockRef::from(tcp)).read(&mut *into)?;
                if read > 0 && read < into.len() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            match result {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && read > 0 => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        buf.advance(read);
        Poll::Ready(Ok(()))
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
