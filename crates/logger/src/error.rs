//! [`LoggerError`]: why logging could not be set up.

/// Why logging could not be set up. The server treats it as a configuration error.
#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    /// The filter string is not a valid tracing `EnvFilter` directive list.
    #[error(
        "{origin}: {directives:?} is not a valid log filter: {reason} \
         (expected e.g. \"info\" or \"info,chat_ws=debug\")"
    )]
    InvalidFilter {
        /// Where the string came from: `log.level` or `RUST_LOG`.
        origin: &'static str,
        /// The string as given.
        directives: String,
        /// The filter parser's message.
        reason: String,
    },
    /// [`crate::init`] ran after a global subscriber (or `log` logger) was already installed.
    #[error("cannot install the log subscriber: {detail}")]
    AlreadyInstalled {
        /// What tracing-subscriber said.
        detail: String,
    },
}
