//! The transport for a stream the connection's own task owns (TLS, or any `AsyncRead +
//! AsyncWrite`): the hub hands frames over a channel, the task writes them. The channel is
//! bounded like a TCP backlog, in WebSocket frames and in bytes, by two counters of what was
//! handed over and not written yet: the hub adds to them, the task takes off as it writes.
//!
//! The queue is futures' unbounded channel, not tokio's: tokio's allocates a block of 32
//! slots when it is made, which an idle connection would keep for its whole life; this one
//! allocates a node per frame waiting and frees it once the frame is taken.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures_channel::mpsc;
use futures_util::{StreamExt, task::AtomicWaker};

use super::{Delivery, QueueLimits};
use crate::protocol::Frame;

/// What the hub and the connection's task share. Small: every connection over a stream
/// keeps one for its whole life.
#[derive(Debug, Default)]
struct Budget {
    /// The connection's task, woken when `cut` is set. A flag and a waker rather than a
    /// cancellation token: no allocation of its own, and no waiter to register per frame.
    task: AtomicWaker,
    /// Bytes handed over and not written yet. Only the hub adds (so a check and an add in
    /// two steps cannot overshoot: the task only ever takes off).
    bytes: AtomicU64,
    /// WebSocket frames handed over and not written yet, likewise.
    frames: AtomicU32,
    /// The client was cut off: the task drops what waits and writes the 4008 close (a flag:
    /// the close frame behind it is what wakes the task).
    evicted: AtomicBool,
    /// The connection is over: the task ends.
    cut: AtomicBool,
}

/// The hub's end.
#[derive(Debug)]
pub(super) struct ChannelSender {
    frames: mpsc::UnboundedSender<Frame>,
    budget: Arc<Budget>,
}

/// The connection task's end: the frames to write, in order.
#[derive(Debug)]
pub struct Outbound {
    frames: mpsc::UnboundedReceiver<Frame>,
    budget: Arc<Budget>,
}

pub(super) fn pair() -> (ChannelSender, Outbound) {
    let budget = Arc::new(Budget::default());
    let (tx, rx) = mpsc::unbounded();
    (
        ChannelSender {
            frames: tx,
            budget: budget.clone(),
        },
        Outbound { frames: rx, budget },
    )
}

impl ChannelSender {
    /// Hands `frames` to the task (emptying the vector); `Refused` once what waits would pass
    /// `limits`.
    pub(super) fn send(&self, frames: &mut Vec<Frame>, limits: QueueLimits) -> Delivery {
        let budget = &self.budget;
        // The frame count is a u32: it can never pass u32::MAX.
        let most_frames = limits.frames.min(u32::MAX.into());
        for frame in frames.drain(..) {
            let (Ok(count), bytes) = (u32::try_from(frame.frames()), frame.len() as u64) else {
                return Delivery::Refused;
            };
            let waiting_frames = u64::from(budget.frames.load(Ordering::Acquire));
            let waiting_bytes = budget.bytes.load(Ordering::Acquire);
            if waiting_frames + u64::from(count) > most_frames
                || waiting_bytes.saturating_add(bytes) > limits.bytes
            {
                return Delivery::Refused;
            }
            // Taken off by the task once written.
            budget.frames.fetch_add(count, Ordering::AcqRel);
            budget.bytes.fetch_add(bytes, Ordering::AcqRel);
            // A task that has ended reads nothing more: its connection is being detached.
            let _ = self.frames.unbounded_send(frame);
        }
        Delivery::Sent
    }

    /// Hands over a close frame, outside the limits.
    pub(super) fn close(&self, frame: Frame) -> Delivery {
        let _ = self.frames.unbounded_send(frame);
        Delivery::Sent
    }

    /// Tells the task to drop what waits and hands it `close`.
    pub(super) fn evict(&self, close: Frame) -> Delivery {
        self.budget.evicted.store(true, Ordering::Release);
        self.close(close)
    }

    pub(super) fn cut(&self) {
        self.budget.cut.store(true, Ordering::Release);
        self.budget.task.wake();
    }
}

impl Outbound {
    /// The next frame to write; `None` once the hub has cut the connection off or let go of
    /// it.
    ///
    /// After an eviction, frames that waited are skipped: the next is the 4008 close.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`Self::next`] as a poll, for a caller that keeps no future between wake-ups.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        loop {
            if self.poll_cut(cx).is_ready() {
                return Poll::Ready(None);
            }
            let Some(frame) = std::task::ready!(self.frames.poll_next_unpin(cx)) else {
                return Poll::Ready(None);
            };
            if !self.budget.evicted.load(Ordering::Acquire) || frame.is_close() {
                return Poll::Ready(Some(frame));
            }
            self.written(&frame);
        }
    }

    /// `frame`, taken from [`Self::next`], is written: its room in the queue is free again.
    pub fn written(&self, frame: &Frame) {
        if !frame.is_close() {
            // What `send` added for it (it refuses a frame whose count is not a u32).
            let count = u32::try_from(frame.frames()).unwrap_or(u32::MAX);
            self.budget.frames.fetch_sub(count, Ordering::AcqRel);
            self.budget
                .bytes
                .fetch_sub(frame.len() as u64, Ordering::AcqRel);
        }
    }

    /// Completes once the connection must end. Cancel-safe.
    pub async fn cut(&self) {
        std::future::poll_fn(|cx| self.poll_cut(cx)).await;
    }

    /// Ready once the connection must end; else the task is woken when it must.
    fn poll_cut(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before the flag is read, so that a cut in between still wakes the task.
        self.budget.task.register(cx.waker());
        if self.budget.cut.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
