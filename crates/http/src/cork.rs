//! The client's socket while hyper has it. A `101 Switching Protocols` response is held back
//! instead of written, so that it leaves in one write with the chat core's first frame
//! (`welcome`), as uWebSockets corks the two: per connection one write fewer here, and one
//! wake-up and one read fewer for the client. Everything else passes straight through.

use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// How hyper's response head for a WebSocket upgrade starts (hyper writes the status line and
/// the headers in one buffer).
const SWITCHING_PROTOCOLS: &[u8] = b"HTTP/1.1 101 ";

/// A TCP stream that holds back a `101` response until [`UpgradeCork::into_parts`].
#[derive(Debug)]
pub(crate) struct UpgradeCork {
    stream: TcpStream,
    /// The held response; written ahead of anything else written through the cork.
    held: Vec<u8>,
    /// How much of `held` is written (only when something follows it through the cork).
    released: usize,
}

impl UpgradeCork {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            held: Vec::new(),
            released: 0,
        }
    }

    /// The stream, and what is held for it: the caller writes that before anything else.
    pub(crate) fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let mut held = self.held;
        held.drain(..self.released);
        (self.stream, held)
    }

    /// Whether a write starting with `first` is a response to hold (only the first one).
    fn holds(&self, first: &[u8]) -> bool {
        self.held.is_empty() && first.starts_with(SWITCHING_PROTOCOLS)
    }

    /// Writes what is held, before anything that follows it.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.released < self.held.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.held[self.released..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.released += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for UpgradeCork {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for UpgradeCork {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.holds(buf) {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.holds(first) {
            let len = bufs.iter().map(|buf| buf.len()).sum();
            this.held.reserve(len);
            for buf in bufs {
                this.held.extend_from_slice(buf);
            }
            return Poll::Ready(Ok(len));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// Leaves a held response held: it is written with what the chat core writes first.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: the cork on the server's end, the client's plain stream.
    async fn pair() -> (UpgradeCork, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted.expect("accept");
        (UpgradeCork::new(server), client.expect("connect"))
    }

    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";

    #[tokio::test]
    async fn a_switching_response_is_held_and_handed_back() {
        let (mut cork, mut client) = pair().await;
        cork.write_all(RESPONSE).await.expect("write");
        cork.flush().await.expect("flush");
        let (mut server, held) = cork.into_parts();
        assert_eq!(held, RESPONSE);
        // Nothing reached the client: the first bytes it reads are what comes next.
        server.write_all(b"next").await.expect("write");
        let mut got = [0; 4];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"next");
    }

    #[tokio::test]
    async fn a_vectored_switching_response_is_held_whole() {
        let (mut cork, _client) = pair().await;
        let (head, tail) = RESPONSE.split_at(20);
        let slices = [IoSlice::new(&[]), IoSlice::new(head), IoSlice::new(tail)];
        let n = std::future::poll_fn(|cx| Pin::new(&mut cork).poll_write_vectored(cx, &slices))
            .await
            .expect("write");
        assert_eq!(n, RESPONSE.len());
        assert_eq!(cork.into_parts().1, RESPONSE);
    }

    #[tokio::test]
    async fn other_responses_pass_through_and_follow_a_held_one() {
        let (mut cork, mut client) = pair().await;
        let page = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        cork.write_all(page).await.expect("write");
        let mut got = vec![0; page.len()];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(got, page);
        assert!(cork.into_parts().1.is_empty());

        // Were anything written after a held response, the response goes first.
        let (mut cork, mut client) = pair().await;
        cork.write_all(RESPONSE).await.expect("write");
        cork.write_all(b"after").await.expect("write");
        let mut got = vec![0; RESPONSE.len() + 5];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(&got[..RESPONSE.len()], RESPONSE);
        assert_eq!(&got[RESPONSE.len()..], b"after");
        assert!(cork.into_parts().1.is_empty());
    }
}
