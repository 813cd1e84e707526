use std::{future::Future, pin::Pin, sync::Arc};

use tokio::net::TcpStream;

use super::{ConnId, SLOW_CONSUMER, channel, tcp};
use crate::protocol::Frame;

/// How much may wait for one connection before it is cut off as a slow consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// WebSocket frames (a room's frames laid end to end count one each).
    pub frames: u64,
    /// Bytes on the wire.
    pub bytes: u64,
}

/// What became of frames handed to an [`Outbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed over: written, or taken by the connection's task, or dropped because the
    /// connection is closing.
    Sent,
    /// Some wait for the socket: wait for [`Outbox::writable`], then [`Outbox::resume`].
    Waiting,
    /// Past the queue's limits: cut the client off ([`Outbox::evict`]).
    Refused,
}

/// A connection's sending side, owned by the hub (see the module documentation).
#[derive(Debug)]
pub struct Outbox {
    transport: Transport,
    /// TCP: what the socket has not taken yet, oldest first; the first may be the unwritten
    /// end of a frame, which must go out next.
    backlog: Vec<Frame>,
    /// WebSocket frames and bytes in `backlog`.
    waiting_frames: u64,
    waiting_bytes: u64,
    state: State,
}

#[derive(Debug)]
enum Transport {
    Tcp(Arc<TcpStream>),
    Channel(channel::ChannelSender),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame is queued or written: nothing more goes out.
    Closing,
}

/// A future that completes, with the connection's id, once its socket can take more.
pub type Writable = Pin<Box<dyn Future<Output = ConnId> + Send>>;

impl Outbox {
    /// The sending side of a TCP connection; its reader reads from the same socket.
    pub fn tcp(socket: Arc<TcpStream>) -> Self {
        Self::with(Transport::Tcp(socket))
    }

    /// The sending side of a connection whose stream its own task owns: frames go to the
    /// returned [`Outbound`], which that task writes. Bounded by the limits [`Self::send`] is
    /// given, as a TCP backlog is.
    pub fn channel() -> (Self, channel::Outbound) {
        let (sender, outbound) = channel::pair();
        (Self::with(Transport::Channel(sender)), outbound)
    }

    fn with(transport: Transport) -> Self {
        Self {
            transport,
            backlog: Vec::new(),
            waiting_frames: 0,
            waiting_bytes: 0,
            state: State::Open,
        }
    }

    /// Sends `frames` (emptying the vector): straight to the socket when nothing waits and it
    /// takes them, else behind what waits.
    pub fn send(&mut self, frames: &mut Vec<Frame>, limits: QueueLimits) -> Delivery {
        if self.state == State::Closing {
            frames.clear();
            return Delivery::Sent;
        }
        match &self.transport {
            Transport::Tcp(socket) => {
                if self.backlog.is_empty() {
                    match tcp::write_now(socket, frames) {
                        Ok(true) => return Delivery::Sent,
                        Ok(false) => {}
                        // A failed socket: the reader sees the failure and ends.
                        Err(_) => {
                            frames.clear();
                            return Delivery::Sent;
                        }
                    }
                }
                self.wait(frames);
                if self.waiting_frames > limits.frames || self.waiting_bytes > limits.bytes {
                    Delivery::Refused
                } else {
                    Delivery::Waiting
                }
            }
            Transport::Channel(sender) => sender.send(frames, limits),
        }
    }

    /// The socket can take more: writes what waits, as much as it takes.
    pub fn resume(&mut self) -> Delivery {
        let Transport::Tcp(socket) = &self.transport else {
            return Delivery::Sent;
        };
        let delivery = match tcp::write_now(socket, &mut self.backlog) {
            Ok(false) => Delivery::Waiting,
            // A burst's backlog gives its room back.
            Ok(true) | Err(_) => {
                self.backlog = Vec::new();
                Delivery::Sent
            }
        };
        self.recount();
        delivery
    }

    /// Sends a close frame after what waits; nothing goes out after it. Nothing when a close
    /// is already on its way.
    pub fn close(&mut self, frame: Frame) -> Delivery {
        if self.state == State::Closing {
            return Delivery::Sent;
        }
        self.state = State::Closing;
        match &self.transport {
            Transport::Tcp(_) => self.close_after_backlog(frame),
            Transport::Channel(sender) => sender.close(frame),
        }
    }

    /// Cuts off a client that cannot keep up: what waits is dropped (but the end of a frame
    /// already started, so the stream stays valid) and 4008 goes out instead.
    pub fn evict(&mut self) -> Delivery {
        let close = Frame::close(SLOW_CONSUMER, "slow consumer");
        self.state = State::Closing;
        match &self.transport {
            Transport::Tcp(_) => {
                let started = self.backlog.first().is_some_and(Frame::is_continuation);
                self.backlog.truncate(usize::from(started));
                self.recount();
                self.close_after_backlog(close)
            }
            Transport::Channel(sender) => sender.evict(close),
        }
    }

    /// Puts a close frame behind what waits, writing it now when nothing does.
    fn close_after_backlog(&mut self, close: Frame) -> Delivery {
        let idle = self.backlog.is_empty();
        self.wait(&mut vec![close]);
        if idle {
            self.resume()
        } else {
            Delivery::Waiting
        }
    }

    /// Whether frames wait for the socket.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Whether a close frame is on its way.
    pub fn is_closing(&self) -> bool {
        self.state == State::Closing
    }

    /// Completes once the socket can take more (TCP; `None` for a channel, which never waits
    /// in the outbox).
    pub fn writable(&self, conn: ConnId) -> Option<Writable> {
        let Transport::Tcp(socket) = &self.transport else {
            return None;
        };
        let socket = socket.clone();
        Some(Box::pin(async move {
            // An error is a dead socket: resuming finds that out and drops what waits.
            let _ = socket.writable().await;
            conn
        }))
    }

    /// Ends the connection now, in both directions: its reader sees the end of its stream.
    pub fn cut(&self) {
        match &self.transport {
            Transport::Tcp(socket) => tcp::cut(socket),
            Transport::Channel(sender) => sender.cut(),
        }
    }

    /// Counts what waits again, after the socket took some of it or an eviction dropped it.
    fn recount(&mut self) {
        self.waiting_frames = self.backlog.iter().map(Frame::frames).sum();
        self.waiting_bytes = self.backlog.iter().map(|f| f.len() as u64).sum();
    }

    /// Puts `frames` behind what waits.
    fn wait(&mut self, frames: &mut Vec<Frame>) {
        for frame in frames.drain(..) {
            self.waiting_frames += frame.frames();
            self.waiting_bytes += frame.len() as u64;
            self.backlog.push(frame);
        }
    }
}
