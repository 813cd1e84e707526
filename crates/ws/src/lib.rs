//! The chat core: everything between a connected WebSocket and the rooms.
//!
//! # Layout
//! - [`protocol`]: the frames of `PROTOCOL.md` (parse, validate, encode once).
//! - [`log`]: a room's log of events, apart from their wire form.
//! - [`broker`]: the seam between the hub and storage (jobs out, tagged outcomes back), and
//!   the in-process broker over a [`history::History`] (the stores live in `chat-store`).
//! - [`conn`]: a connection's sending side (its transport and what waits for it), owned by
//!   the hub.
//! - [`hub`]: the actor that owns rooms, members, outboxes and delivery; reached only
//!   through [`hub::HubHandle`].
//! - [`client`]: one connection's reader task and its rate limit.
//! - [`api`]: the server API's requests (the operator's backend), answered by the hub.
//! - [`metrics`]: the counters and histograms, registered once.
//! - [`files`]: the seam to file sharing (`welcome.upload`).
//!
//! This crate never sees HTTP or hyper: it is handed the stream of a connection whose upgrade
//! is done. It takes no locks: shared state lives in the hub task and travels over channels.

pub mod api;
pub mod broker;
pub mod client;
pub mod conn;
pub mod files;
pub mod history;
pub mod hub;
pub mod log;
pub mod metrics;
pub mod protocol;
pub mod rate;
