//! The chat core: everything between a connected WebSocket and the rooms.
//!
//! # Layout
//! - [`protocol`]: the frames of `PROTOCOL.md` (parse, validate, encode once).
//! - [`history`]: the seam where messages get their seq and are kept (the stores behind it live
//!   in `chat-store`).
//! - [`hub`]: the actor that owns rooms, members and delivery; reached only through
//!   [`hub::HubHandle`].
//! - [`client`]: one connection's reader and writer tasks, its outbound queue and rate limit.
//!
//! This crate never sees HTTP or hyper: it is handed an upgraded WebSocket stream. It holds no
//! Mutex or RwLock: shared state lives in the hub task and travels over channels.

pub mod client;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod protocol;
