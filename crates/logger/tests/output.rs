//! What the subscriber writes: JSON lines with message and fields, text, level filtering, and
//! the error for a bad filter. Each test scopes its own subscriber with `with_default`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use chat_config::LogFormat;
use chat_logger::{LoggerError, subscriber};
use tracing_subscriber::fmt::MakeWriter;

/// A writer that keeps everything written to it, shared between the subscriber and the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8(bytes.clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `log` under a fresh subscriber and returns what it wrote.
fn capture(level: &str, format: LogFormat, log: impl FnOnce()) -> String {
    let out = Captured::default();
    let subscriber = subscriber(level, format, out.clone()).unwrap();
    tracing::subscriber::with_default(subscriber, log);
    out.text()
}

#[test]
fn json_lines_carry_message_and_fields() {
    let out = capture("info", LogFormat::Json, || {
        tracing::info!(user = "ann", room_count = 3, "joined room");
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one event, one line: {out:?}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["message"], "joined room");
    assert_eq!(line["user"], "ann");
    assert_eq!(line["room_count"], 3);
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string(), "{line}");
    assert!(line["target"].is_string(), "{line}");
}

#[test]
fn json_includes_the_current_span() {
    let out = capture("info", LogFormat::Json, || {
        let span = tracing::info_span!("connection", peer = "127.0.0.1:5000");
        let _entered = span.enter();
        tracing::warn!("slow client");
    });
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["message"], "slow client");
    assert_eq!(line["span"]["name"], "connection");
    assert_eq!(line["span"]["peer"], "127.0.0.1:5000");
}

#[test]
fn text_lines_carry_message_and_fields_without_colour() {
    let out = capture("info", LogFormat::Text, || {
        tracing::info!(user = "ann", "joined room");
    });
    assert!(out.contains("INFO"), "{out}");
    assert!(out.contains("joined room"), "{out}");
    assert!(out.contains("user=\"ann\""), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no ANSI escapes into an injected writer: {out:?}"
    );
}

#[test]
fn info_level_drops_debug() {
    for format in [LogFormat::Text, LogFormat::Json] {
        let out = capture("info", format, || {
            tracing::debug!("hidden detail");
            tracing::info!("shown");
        });
        assert!(out.contains("shown"), "{out}");
        assert!(!out.contains("hidden detail"), "{out}");
    }
}

#[test]
fn per_target_directives_apply() {
    let out = capture("warn,noisy=error,chatty=debug", LogFormat::Text, || {
        tracing::warn!(target: "noisy", "noisy warning");
        tracing::debug!(target: "chatty", "chatty debug");
        tracing::info!(target: "other", "other info");
    });
    assert!(!out.contains("noisy warning"), "{out}");
    assert!(out.contains("chatty debug"), "{out}");
    assert!(!out.contains("other info"), "{out}");
}

#[test]
fn a_bad_level_is_an_error_naming_it() {
    let result = subscriber("info,chat_ws=loud", LogFormat::Text, Captured::default());
    let Err(err) = result else {
        panic!("a bad level was accepted");
    };
    assert!(matches!(err, LoggerError::InvalidFilter { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("log.level: "), "{message}");
    assert!(message.contains("\"info,chat_ws=loud\""), "{message}");
    assert!(message.contains("expected"), "{message}");
}
