//! Typed settings of the chat server: every key of the operator contract (`CONFIG.md`), its
//! compiled-in default, the sources it may come from and their precedence, and the checks that
//! stop a bad configuration before the server starts.
//!
//! Architecture Invariant: this crate knows keys, values and where they come from, nothing about
//! what the server does with them. It never reads the process environment or the file system
//! except in [`Sources::from_process`] and [`Settings::load`], so tests feed TOML strings and
//! hand-built [`Sources`] (never `std::env::set_var`).
//!
//! Precedence, later wins: compiled defaults < `config/default.toml` < `--config PATH` <
//! `CHAT__SECTION__KEY` environment variables < `--listen` / `--log-level`.
//!
//! # Layout
//! - `settings.rs`: [`Settings`] and its sections, their defaults and serde attributes.
//! - `value.rs`: how a raw value becomes a field (durations, counts, lists, optional paths).
//! - `sources.rs`: [`Sources`], the inputs, and [`Sources::from_process`].
//! - `load.rs`: [`Settings::load`]: layering, unknown-key rejection, deserialization.
//! - `validate.rs`: ranges and relations between keys.
//! - `error.rs`: [`ConfigError`], each message naming `section.key`, the value and what is expected.

mod error;
mod load;
mod secret;
mod settings;
mod sources;
mod validate;
mod value;

pub use error::ConfigError;
pub use secret::Secret;
pub use settings::{
    AuthMode, AuthSettings, BrokerKind, BrokerSettings, FilesBackend, FilesSettings, FsyncPolicy,
    HistoryBackend, HistorySettings, LimitSettings, LogFormat, LogSettings, ServerSettings,
    Settings, WsSettings,
};
pub use sources::{DEFAULT_FILE, ENV_PREFIX, Sources};
pub use validate::{MAX_ON_JOIN, MIN_FRAME_BYTES};
