//! Non-blocking socket calls on a TCP connection: the hub's writes and the reader's reads.

use std::{
    io::{self, IoSlice, Read},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use smallvec::SmallVec;
use tokio::{
    io::{AsyncRead, AsyncWrite, Interest, ReadBuf},
    net::TcpStream,
};

use crate::protocol::Frame;

/// Most frames handed to one `sendmsg` (Linux accepts 1024 slices).
const MAX_SLICES: usize = 256;

/// Writes as much of `frames` as the socket takes now, leaving in `frames` what it did not
/// take: `Ok(true)` and an empty vector when all went out; `Ok(false)` when the socket is full,
/// the first frame left possibly the unwritten end of one the kernel took in part (a
/// continuation, which must go out next). Never waits.
pub(super) fn write_now(socket: &TcpStream, frames: &mut Vec<Frame>) -> io::Result<bool> {
    let mut done = 0;
    while done < frames.len() {
        let sent = match &frames[done..] {
            // The usual fan-out write: one frame, or one slice of a room's laid-out frames.
            [one] => send_vectored(socket, &[IoSlice::new(one.wire())]),
            // Inline for a few frames: nothing to allocate per call.
            several => {
                let slices: SmallVec<[IoSlice<'_>; 16]> = several
                    .iter()
                    .take(MAX_SLICES)
                    .map(|frame| IoSlice::new(frame.wire()))
                    .collect();
                send_vectored(socket, &slices)
            }
        };
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut written) => {
                while written > 0 {
                    let len = frames[done].len();
                    if written >= len {
                        written -= len;
                        done += 1;
                    } else {
                        frames[done] = frames[done].tail(written);
                        written = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                frames.drain(..done);
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    frames.clear();
    Ok(true)
}

/// Writes `slices` without waiting: `send` for one slice (cheaper in the kernel than
/// `sendmsg`, which copies a message header and an iovec from user space) and `sendmsg` for
/// several (socket calls skip the file layer that `write`/`writev` go through).
///
/// Straight to the kernel first: tokio's `try_io` would read the socket's readiness, one more
/// cold cache line per member of a fan-out. Only a refusal goes through `try_io`, which tries
/// again and, on `WouldBlock`, clears tokio's readiness so that `writable()` then waits for
/// room.
fn send_vectored(tcp: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let send = || {
        let socket = socket2::SockRef::from(tcp);
        match slices {
            [one] => socket.send(one),
            several => socket.send_vectored(several),
        }
    };
    match send() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => tcp.try_io(Interest::WRITABLE, send),
        sent => sent,
    }
}

/// Ends the connection in both directions: the reader sees the end of its stream.
pub(super) fn cut(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Both);
}

/// The reading side of a TCP connection whose writes belong to the hub.
#[derive(Debug)]
pub(crate) struct TcpReader(pub(crate) Arc<TcpStream>);

impl AsyncRead for TcpReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let tcp = &*self.0;
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

/// Never written to: the hub writes a TCP connection's frames itself. (The reader's stream
/// type asks for writes, which only a connection that owns its stream makes.)
impl AsyncWrite for TcpReader {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
