use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{
    conn::ConnId,
    hub::{Command, HubHandle},
    protocol::{Frame, whole_frames_len},
};

/// The connection's stream as the WebSocket library sees it: it reads from `R`, and the few
/// frames the library writes by itself (pong and close answers) go to the hub, which owns
/// the connection's sending side, so they never interleave with other frames.
pub(super) struct ReadSide<R> {
    inner: R,
    conn: ConnId,
    hub: HubHandle,
    /// Answers written by the library and not yet handed to the hub.
    replies: BytesMut,
}

impl<R> ReadSide<R> {
    pub(super) fn new(inner: R, conn: ConnId, hub: HubHandle) -> Self {
        Self {
            inner,
            conn,
            hub,
            replies: BytesMut::new(),
        }
    }

    /// The stream itself, for a connection task that also writes to it.
    pub(super) fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Hands the whole frames written so far to the hub. A hub whose queue is full gets
    /// them at the next write or flush.
    fn forward(&mut self) {
        let whole = whole_frames_len(&self.replies);
        if whole == 0 {
            return;
        }
        let frame = Frame::raw(self.replies.split_to(whole).freeze());
        let conn = self.conn;
        let command = if frame.is_close() {
            Command::Close { conn, frame }
        } else {
            Command::Write { conn, frame }
        };
        if let Err(refused) = self.hub.try_send(command) {
            let (Command::Close { frame, .. } | Command::Write { frame, .. }) =
                refused.into_inner()
            else {
                return;
            };
            let mut again = BytesMut::from(frame.wire());
            again.extend_from_slice(&self.replies);
            self.replies = again;
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.replies.extend_from_slice(buf);
        // The library may not flush after an answer: a whole frame goes at once.
        self.forward();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.forward();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
