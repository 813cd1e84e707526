use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{conn::QueueLimits, protocol::Limits};

/// Per-connection settings, shared by every connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest `send` text in UTF-8 bytes.
    pub max_text_bytes: usize,
    /// Rooms one connection may be in.
    pub max_rooms: usize,
    /// Frames waiting for one client before it is cut off as a slow consumer.
    pub outbound_queue: usize,
    /// Bytes waiting for one client before it is cut off as a slow consumer.
    pub outbound_queue_bytes: usize,
    /// How often the server pings, so idle but healthy clients show they are alive.
    pub ping_interval: Duration,
    /// Silence after which a connection is closed.
    pub idle_timeout: Duration,
    /// Sustained `send` + `typing` frames per second.
    pub messages_per_sec: u32,
    /// Token bucket size for the rate limit.
    pub burst: u32,
    /// Sustained `join` + `leave` + `history` frames per second.
    pub requests_per_sec: u32,
    /// Token bucket size for that rate.
    pub requests_burst: u32,
    /// Largest frame or message accepted from the client (over it: close 1009).
    pub max_frame_bytes: usize,
    /// `name/version`, announced in `welcome`.
    pub server_name: String,
    /// File sharing, when on: `welcome` then carries `upload`.
    pub files: Option<std::sync::Arc<dyn crate::files::FileSharing>>,
}

impl ClientConfig {
    /// What may wait for one connection.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            frames: self.outbound_queue as u64,
            bytes: self.outbound_queue_bytes as u64,
        }
    }

    /// The limits announced in `welcome`.
    pub fn limits(&self) -> Limits {
        Limits {
            max_text_bytes: self.max_text_bytes,
            messages_per_sec: self.messages_per_sec,
            burst: self.burst,
            max_rooms: self.max_rooms,
        }
    }
}

/// The WebSocket library settings for the reading side of a server connection.
///
/// The read buffer is small because chat frames are small (a `send` of 100 characters is about
/// 150 bytes) and most connections are idle: every connection keeps it, and the library
/// zero-fills it before each read. A larger frame still arrives whole, in several reads. The
/// library writes only pong and close answers, so it needs no write buffer.
pub fn websocket_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
}
