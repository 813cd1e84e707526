//! The HTTP side of the chat server: it accepts TCP connections, answers the plain HTTP
//! routes, serves the web page, and hands upgraded WebSockets to the chat core.
//!
//! # Layout
//! - [`App`]: what every request may need (hub handle, settings, connection caps, shutdown).
//! - `accept`: the accept loop on hyper-util, with graceful shutdown of HTTP connections.
//! - `routes`: path → handler, `/healthz`, `/readyz`, `/metrics`, 404.
//! - `upgrade`: `/ws` refusals (405, 426, 400, 403, 503) and the 101 that hands off to
//!   [`chat_ws`].
//! - `per_ip`: open WebSockets per peer address, for the per-address cap.
//! - `cork`: holds the 101 back so that it leaves in one write with the first frame.
//! - `static_files`: the page, from `server.web_dir` or from `embedded`, the copy built into
//!   the binary (gzipped, with `ETag`s).
//! - `origin`, `identity`: one check each.
//!
//! This crate knows HTTP and nothing of the chat protocol: after the upgrade it passes the
//! socket to [`chat_ws::client::serve`] and forgets it.

mod accept;
mod app;
mod cork;
mod embedded;
mod identity;
mod origin;
mod per_ip;
mod response;
mod routes;
mod static_files;
mod upgrade;

pub use accept::serve;
pub use app::{App, HttpConfig, MetricsRenderer, StorageCheck};
