//! A TLS stream over TCP on rustls's unbuffered API, whose buffers hold only what is in
//! flight and are freed once empty.
//!
//! Hand-written for memory: rustls's buffered connection (what tokio-rustls wraps) keeps a
//! 4 KiB receive buffer for the life of every connection, idle or not, more than a plain
//! connection's whole cost. Here the socket is read into a buffer on the stack and its whole
//! records are decrypted there; only a record's unfinished part, plaintext the reader has not
//! taken yet and ciphertext the socket has not taken yet stay on the heap, and only until
//! they are used up.

use std::{
    io,
    mem::MaybeUninit,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use rustls::{
    ServerConfig,
    server::UnbufferedServerConnection,
    unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// How much one socket read takes (a stack buffer): a TLS record is at most about 16 KiB,
/// and a chat frame is much smaller.
const READ_CHUNK: usize = 4096;

/// The most plaintext one write encrypts, so that what waits for the socket stays bounded.
const WRITE_CHUNK: usize = 64 * 1024;

/// A server-side TLS connection over a TCP socket.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: UnbufferedServerConnection,
    /// Encrypted bytes the socket has not taken yet, from `sent` on.
    outgoing: Vec<u8>,
    sent: usize,
    /// What reads left over; `None` (one pointer) while there is none, as between frames.
    left: Option<Box<Leftovers>>,
    /// The peer closed its side (close_notify, or the socket ended).
    read_done: bool,
    /// close_notify is queued.
    closing: bool,
    /// rustls failed (the peer sent what does not decrypt, say): nothing more goes through it.
    broken: bool,
}

/// What a read leaves for the next one: rare (a record cut by the socket read, a record
/// larger than the reader's buffer), so kept out of the stream itself.
#[derive(Default)]
struct Leftovers {
    /// Received bytes not yet processed: the start of a record.
    incoming: Vec<u8>,
    /// Decrypted bytes the reader has not taken yet, from `plain_at` on.
    plaintext: Vec<u8>,
    plain_at: usize,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

/// What the connection is to send besides answers of its own.
#[derive(Debug, Clone, Copy)]
enum Write<'a> {
    Data(&'a [u8]),
    Close,
}

/// Where processing what was received left the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// More bytes from the peer are needed.
    NeedInput,
    /// The peer sent its last byte.
    Ended,
}

impl TlsStream {
    /// Completes the server's side of a handshake on `tcp`.
    pub(crate) async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Self> {
        let tls = UnbufferedServerConnection::new(config).map_err(invalid)?;
        let mut stream = Self {
            tcp,
            tls,
            outgoing: Vec::new(),
            sent: 0,
            left: None,
            read_done: false,
            closing: false,
            broken: false,
        };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send(cx))?;
            if !self.tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            // Application data that follows the client's Finished waits in the leftovers.
            match ready!(self.poll_receive(cx, &mut ReadBuf::new(&mut [])))? {
                Some(Progress::NeedInput) => {}
                Some(Progress::Ended) | None => {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
            }
        }
    }

    /// Reads what the socket has and runs it through rustls behind what earlier reads left
    /// (see [`Self::process`]): `None` at the socket's end.
    fn poll_receive(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<Option<Progress>>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut read))?;
        if read.filled().is_empty() {
            return Poll::Ready(Ok(None));
        }
        let processed = if self.has_unprocessed() {
            self.process_unprocessed(read.filled(), out, None)
        } else {
            // Whole records are decrypted where they were read; only an unfinished one (or
            // the records of a handshake message not complete yet) is kept.
            let filled = read.filled_mut();
            let mut used = 0;
            let processed = self.process(filled, &mut used, out, None);
            if used < filled.len() {
                self.left.get_or_insert_default().incoming = filled[used..].to_vec();
            }
            processed
        };
        Poll::Ready(match processed {
            Ok((progress, _)) => Ok(Some(progress)),
            Err(e) => Err(self.failed(cx, e)),
        })
    }

    /// Whether an earlier read left bytes rustls has not done with.
    fn has_unprocessed(&self) -> bool {
        self.left
            .as_ref()
            .is_some_and(|left| !left.incoming.is_empty())
    }

    /// [`Self::process`] over what earlier reads left unprocessed followed by `more`; what is
    /// still unprocessed then is kept. Writes go through here too: rustls expects the same
    /// unprocessed bytes at every call.
    fn process_unprocessed(
        &mut self,
        more: &[u8],
        out: &mut ReadBuf<'_>,
        write: Option<Write<'_>>,
    ) -> io::Result<(Progress, usize)> {
        let mut incoming = self
            .left
            .as_mut()
            .map(|left| std::mem::take(&mut left.incoming))
            .unwrap_or_default();
        incoming.extend_from_slice(more);
        let mut used = 0;
        let processed = self.process(&mut incoming, &mut used, out, write);
        if used < incoming.len() {
            incoming.drain(..used);
            self.left.get_or_insert_default().incoming = incoming;
        } else {
            self.free_leftovers();
        }
        processed
    }

    /// Drops the leftovers once nothing is left over in them.
    fn free_leftovers(&mut self) {
        if self
            .left
            .as_ref()
            .is_some_and(|left| left.incoming.is_empty() && left.plaintext.is_empty())
        {
            self.left = None;
        }
    }

    /// Runs the records of `input` from `used` on through rustls, adding to `used` what it is
    /// done with (even when it fails): plaintext into `out` (the rest kept), records to send
    /// into `outgoing`; then `write`, once the connection may send it. Returns how much of
    /// `write` was encrypted.
    fn process(
        &mut self,
        input: &mut [u8],
        used: &mut usize,
        out: &mut ReadBuf<'_>,
        mut write: Option<Write<'_>>,
    ) -> io::Result<(Progress, usize)> {
        let mut taken = 0;
        loop {
            let status = self.tls.process_tls_records(&mut input[*used..]);
            let discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(e) => {
                    *used += discard;
                    return Err(invalid(e));
                }
            };
            let progress = match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let payload = record.map_err(invalid)?.payload;
                        let now = payload.len().min(out.remaining());
                        out.put_slice(&payload[..now]);
                        if now < payload.len() {
                            let left = self.left.get_or_insert_default();
                            left.plaintext.extend_from_slice(&payload[now..]);
                        }
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let mut room = 1024;
                    loop {
                        let at = self.outgoing.len();
                        self.outgoing.resize(at + room, 0);
                        match encode.encode(&mut self.outgoing[at..]) {
                            Ok(written) => {
                                self.outgoing.truncate(at + written);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(InsufficientSizeError {
                                required_size,
                            })) => {
                                self.outgoing.truncate(at);
                                room = required_size;
                            }
                            Err(e) => return Err(invalid(e)),
                        }
                    }
                    None
                }
                // The records stay in `outgoing`, in order, until the socket takes them.
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    None
                }
                ConnectionState::BlockedHandshake => {
                    if write.is_some() {
                        return Err(invalid("write before the TLS handshake completed"));
                    }
                    Some(Progress::NeedInput)
                }
                ConnectionState::WriteTraffic(mut traffic) => {
                    match write.take() {
                        Some(Write::Data(data)) => {
                            // Each record adds a header, a tag and the content type.
                            let mut room = data.len() + (data.len() / 16384 + 1) * 64;
                            loop {
                                let at = self.outgoing.len();
                                self.outgoing.resize(at + room, 0);
                                match traffic.encrypt(data, &mut self.outgoing[at..]) {
                                    Ok(written) => {
                                        self.outgoing.truncate(at + written);
                                        taken = data.len();
                                        break;
                                    }
                                    Err(EncryptError::InsufficientSize(
                                        InsufficientSizeError { required_size },
                                    )) => {
                                        self.outgoing.truncate(at);
                                        room = required_size;
                                    }
                                    Err(e) => return Err(invalid(e)),
                                }
                            }
                        }
                        Some(Write::Close) => {
                            let at = self.outgoing.len();
                            self.outgoing.resize(at + 64, 0);
                            let written = traffic
                                .queue_close_notify(&mut self.outgoing[at..])
                                .map_err(invalid)?;
                            self.outgoing.truncate(at + written);
                        }
                        None => {}
                    }
                    Some(Progress::NeedInput)
                }
                ConnectionState::PeerClosed => {
                    self.read_done = true;
                    // What follows says whether this side may still send.
                    write.is_none().then_some(Progress::Ended)
                }
                ConnectionState::Closed => {
                    self.read_done = true;
                    if write.is_some() {
                        return Err(io::ErrorKind::BrokenPipe.into());
                    }
                    Some(Progress::Ended)
                }
                // Early data is not enabled, and any state added later is not expected.
                _ => return Err(invalid("unexpected TLS connection state")),
            };
            *used += discard;
            if let Some(progress) = progress {
                return Ok((progress, taken));
            }
        }
    }

    /// rustls failed with `error` (the peer sent a record that does not decrypt, say): its
    /// alert that tells the peer why goes out if the socket takes it now, and the connection
    /// takes nothing more. Returns `error`.
    fn failed(&mut self, cx: &mut Context<'_>, error: io::Error) -> io::Error {
        self.broken = true;
        self.read_done = true;
        // rustls hands out what it queued (the alert) before it looks at the input again, and
        // is not called after it.
        let mut incoming = self
            .left
            .take()
            .map(|left| left.incoming)
            .unwrap_or_default();
        if let Ok(ConnectionState::EncodeTlsData(mut encode)) =
            self.tls.process_tls_records(&mut incoming).state
        {
            let at = self.outgoing.len();
            self.outgoing.resize(at + 64, 0);
            let written = encode.encode(&mut self.outgoing[at..]).unwrap_or(0);
            self.outgoing.truncate(at + written);
        }
        let _ = self.poll_send(cx);
        error
    }

    /// Writes `outgoing` to the socket until it is empty, then frees it.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let written =
                ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Hands out plaintext kept from an earlier record; false when there is none.
    fn take_plaintext(&mut self, out: &mut ReadBuf<'_>) -> bool {
        let Some(left) = self.left.as_mut().filter(|left| !left.plaintext.is_empty()) else {
            return false;
        };
        let now = (left.plaintext.len() - left.plain_at).min(out.remaining());
        out.put_slice(&left.plaintext[left.plain_at..left.plain_at + now]);
        left.plain_at += now;
        if left.plain_at == left.plaintext.len() {
            left.plaintext = Vec::new();
            left.plain_at = 0;
            self.free_leftovers();
        }
        true
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.take_plaintext(buf) || this.read_done {
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            let Some(progress) = ready!(this.poll_receive(cx, buf))? else {
                this.read_done = true;
                if this.has_unprocessed() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer ended the socket inside a TLS record",
                    )));
                }
                return Poll::Ready(Ok(()));
            };
            // Answers to what arrived (a key update, an alert) go now if the socket takes
            // them, else at the next write; a pending send wakes this task again.
            let _ = this.poll_send(cx)?;
            if buf.filled().len() > before || progress == Progress::Ended {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // What an earlier write encrypted goes first: the socket's pace bounds `outgoing`.
        ready!(this.poll_send(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let data = &data[..data.len().min(WRITE_CHUNK)];
        let (_, taken) =
            this.process_unprocessed(&[], &mut ReadBuf::new(&mut []), Some(Write::Data(data)))?;
        // Sent now if the socket takes it; the rest at the next write or flush.
        let _ = this.poll_send(cx)?;
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // After a failure the alert was the last word.
        if !std::mem::replace(&mut this.closing, true) && !this.broken {
            this.process_unprocessed(&[], &mut ReadBuf::new(&mut []), Some(Write::Close))?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
