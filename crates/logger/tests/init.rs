//! The global subscriber: installed once per process, so this file is its own test binary.

use chat_config::LogFormat;
use chat_logger::{LoggerError, init};

#[test]
fn init_installs_once_and_refuses_a_second_time() {
    // A RUST_LOG in the test environment replaces "info"; either way the filter is valid.
    let first = init("info", LogFormat::Json);
    assert!(first.is_ok(), "{first:?}");
    tracing::info!("logged through the global subscriber");

    let second = init("info", LogFormat::Text);
    assert!(
        matches!(second, Err(LoggerError::AlreadyInstalled { .. })),
        "{second:?}"
    );
}
