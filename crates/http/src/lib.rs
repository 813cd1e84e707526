//! The HTTP side of the chat server: it accepts TCP connections, answers the plain HTTP
//! routes, serves the web page, and hands upgraded WebSockets to the chat core.
//!
//! # Layout
//! - [`App`]: what every request may need (hub handle, settings, connection caps, shutdown).
//! - `accept`: the accept loop on hyper-util, with graceful shutdown of HTTP connections.
//! - `routes`: path → handler, `/healthz`, `/readyz`, `/metrics`, 404.
//! - `upgrade`: `/ws` refusals (405, 426, 400, 403, 401, 503) and the 101 that hands off to
//!   [`chat_ws`].
//! - `tls`: the certificate and key of a TLS port, reloadable.
//! - `auth`: sign-in with a JWT before the upgrade (401), and minting tokens.
//! - `files`: `/files`, uploads and downloads over [`chat_files::Files`] (404 while file
//!   sharing is off).
//! - `api`: the server API for the operator's backend (`/api/`), through hub commands.
//! - `metrics`: TLS handshake failures, sign-in refusals, API requests.
//! - `per_ip`: open WebSockets per peer address, for the per-address cap.
//! - `cork`: holds the 101 back so that it leaves in one write with the first frame.
//! - `static_files`: the page, from `server.web_dir` or from `embedded`, the copy built into
//!   the binary (gzipped, with `ETag`s).
//! - `origin`, `identity`: one check each.
//!
//! This crate knows HTTP and nothing of the chat protocol: after the upgrade it passes the
//! socket to [`chat_ws::client::serve`] and forgets it.

mod accept;
mod api;
mod app;
mod auth;
mod cork;
mod embedded;
mod files;
mod identity;
mod metrics;
mod origin;
mod per_ip;
mod response;
mod routes;
mod static_files;
mod tls;
mod tls_stream;
mod upgrade;

pub use accept::serve;
pub use app::{ApiKey, App, HttpConfig, MetricsRenderer, Security, StorageCheck};
pub use auth::{AuthFailure, Claims, JwtAuth, MintError, mint};
pub use metrics::HttpMetrics;
pub use tls::{Tls, TlsError, TlsFiles};
