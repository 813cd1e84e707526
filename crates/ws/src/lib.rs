//! The chat core: everything between a connected WebSocket and the rooms.
//!
//! # Layout
//! - [`protocol`]: the frames of `PROTOCOL.md` (parse, validate, encode once).
//! - [`history`]: the seam where messages get their seq and are kept (the stores behind it live
//!   in `chat-store`).
//! - [`hub`]: the actor that owns rooms, members and delivery; reached only through
//!   [`hub::HubHandle`]. `hub::outlet` is a connection's sending side: corked frames go out
//!   in one socket write, what must wait goes to the connection's bounded queue.
//! - [`client`]: one connection's reader and writer tasks, its rate limit.
//! - [`metrics`]: the counters and histograms, registered once.
//!
//! This crate never sees HTTP or hyper: it is handed the TCP stream of a connection whose
//! upgrade is done. It takes no locks: shared state lives in the hub task and travels
//! over channels; a connection's sending side is ordered by atomics (`hub::outlet`).

pub mod client;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod protocol;
