//! What the core counts, for `/metrics`. Every handle is registered once at start, so the
//! hot path does an atomic add and never looks a metric up by name (no lock, no allocation).
//! Counting per message (`increment(members)`) rather than per delivery keeps fan-out cheap.

use metrics::{
    Counter, Gauge, Histogram, Recorder, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram, with_local_recorder,
};

use crate::protocol::ErrorCode;

/// Handles to every metric of the chat core.
#[derive(Clone)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Rooms with at least one member (or a message in flight).
    pub rooms: Gauge,
    /// Frames received from clients.
    pub frames_in: Counter,
    /// Frames written to clients.
    pub frames_out: Counter,
    /// Bytes of frames written to clients.
    pub bytes_out: Counter,
    /// Chat messages stored and published.
    pub messages: Counter,
    /// Frames queued for a recipient (a message to 500 members is 500 deliveries).
    pub deliveries: Counter,
    /// Clients closed with 4008 because their queue overflowed.
    pub slow_consumers: Counter,
    /// Seconds from the start of a room's flush until every member had its frames.
    pub fanout_seconds: Histogram,
    /// Seconds from `append` to the message being stored (durable stores: the commit).
    pub history_append_seconds: Histogram,
    errors: Vec<Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Handles that count nothing: for tests and tools that do not export metrics.
    pub fn noop() -> Self {
        Self {
            connections: Gauge::noop(),
            rooms: Gauge::noop(),
            frames_in: Counter::noop(),
            frames_out: Counter::noop(),
            bytes_out: Counter::noop(),
            messages: Counter::noop(),
            deliveries: Counter::noop(),
            slow_consumers: Counter::noop(),
            fanout_seconds: Histogram::noop(),
            history_append_seconds: Histogram::noop(),
            errors: ErrorCode::ALL.iter().map(|_| Counter::noop()).collect(),
        }
    }

    /// Registers every metric with `recorder` (for example a Prometheus recorder).
    pub fn register<R: Recorder>(recorder: &R) -> Self {
        with_local_recorder(recorder, || {
            describe_gauge!("chat_connections", "Open WebSocket connections");
            describe_gauge!("chat_rooms", "Rooms with members or messages in flight");
            describe_counter!("chat_frames_in_total", "Frames received from clients");
            describe_counter!("chat_frames_out_total", "Frames written to clients");
            describe_counter!(
                "chat_bytes_out_total",
                Unit::Bytes,
                "Bytes written to clients"
            );
            describe_counter!("chat_messages_total", "Chat messages stored and published");
            describe_counter!("chat_deliveries_total", "Frames queued for a recipient");
            describe_counter!(
                "chat_slow_consumers_total",
                "Clients closed with 4008 because their outbound queue overflowed"
            );
            describe_counter!("chat_errors_total", "Error frames sent, by code");
            describe_histogram!(
                "chat_fanout_seconds",
                Unit::Seconds,
                "Time from the start of a room's flush until every member has been handed its frames"
            );
            describe_histogram!(
                "chat_history_append_seconds",
                Unit::Seconds,
                "Time from append to stored (durable stores: to the commit)"
            );
            Self {
                connections: gauge!("chat_connections"),
                rooms: gauge!("chat_rooms"),
                frames_in: counter!("chat_frames_in_total"),
                frames_out: counter!("chat_frames_out_total"),
                bytes_out: counter!("chat_bytes_out_total"),
                messages: counter!("chat_messages_total"),
                deliveries: counter!("chat_deliveries_total"),
                slow_consumers: counter!("chat_slow_consumers_total"),
                fanout_seconds: histogram!("chat_fanout_seconds"),
                history_append_seconds: histogram!("chat_history_append_seconds"),
                errors: ErrorCode::ALL
                    .iter()
                    .map(|code| counter!("chat_errors_total", "code" => code.as_str()))
                    .collect(),
            }
        })
    }

    /// The counter of error frames with `code`.
    pub fn error(&self, code: ErrorCode) -> &Counter {
        &self.errors[code as usize]
    }
}
