//! Logging setup for the chat server: one `tracing` subscriber, filtered by a tracing
//! `EnvFilter` directive string, writing human-readable text or one JSON object per line.
//!
//! Architecture Invariant: this crate owns how log lines look and where they go, nothing else.
//! It does not know the settings tree (only [`LogFormat`] from chat-config) or any server crate;
//! the binary calls [`init`] once at start, and tests build a [`subscriber`] with their own
//! writer and scope it with `tracing::subscriber::with_default`.
//!
//! # Layout
//! - `lib.rs`: [`init`] (global, stderr, `RUST_LOG` wins) and [`subscriber`] (injected writer).
//! - `error.rs`: [`LoggerError`].

mod error;

use std::io::IsTerminal;

use chat_config::LogFormat;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use error::LoggerError;

/// The environment variable that, when set and not empty, replaces the configured level.
pub const RUST_LOG: &str = "RUST_LOG";

/// Installs the process-wide subscriber, writing to stderr, and routes `log` records into it.
///
/// `level` is `log.level` (e.g. `info` or `info,chat_ws=debug`); `RUST_LOG`, when set and not
/// empty, wins, so a developer can turn on debug output without editing a file. Text output is
/// coloured only when stderr is a terminal.
///
/// Fails when the filter does not parse (naming `log.level` or `RUST_LOG`) or when a global
/// subscriber is already installed; call it once, early in `main`.
pub fn init(level: &str, format: LogFormat) -> Result<(), LoggerError> {
    let from_env = std::env::var(RUST_LOG)
        .ok()
        .filter(|value| !value.trim().is_empty());
    let (origin, directives) = match &from_env {
        Some(value) => (RUST_LOG, value.as_str()),
        None => ("log.level", level),
    };
    let ansi = std::io::stderr().is_terminal();
    build(origin, directives, format, std::io::stderr, ansi)?
        .try_init()
        .map_err(|error| LoggerError::AlreadyInstalled {
            detail: error.to_string(),
        })
}

/// A subscriber filtered by `level` and writing in `format` to `writer`, not installed.
///
/// Tests pass a writer that captures output and scope the subscriber with
/// `tracing::subscriber::with_default`. `RUST_LOG` is not consulted here, so the result does
/// not depend on the environment the tests run in. Output is never coloured.
pub fn subscriber<W>(
    level: &str,
    format: LogFormat,
    writer: W,
) -> Result<impl Subscriber + Send + Sync + 'static, LoggerError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    build("log.level", level, format, writer, false)
}

/// The shared construction; `origin` names where `directives` came from, for the error.
fn build<W>(
    origin: &'static str,
    directives: &str,
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Result<impl Subscriber + Send + Sync + 'static, LoggerError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::builder()
            .parse(directives)
            .map_err(|error| LoggerError::InvalidFilter {
                origin,
                directives: directives.to_owned(),
                reason: error.to_string(),
            })?;
    // Boxed so that both formats have one type; one virtual call per event is negligible next
    // to formatting and writing the line.
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        // Fields sit next to `message` at the top level of each object (`flatten_event`), which
        // is what log collectors index.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .boxed(),
    };
    Ok(Registry::default().with(output).with(filter))
}
