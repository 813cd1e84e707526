//! [`ConfigError`]: why settings could not be loaded, worded for the operator who has to fix it.

use std::io;
use std::path::PathBuf;

/// Why settings could not be loaded. The server prints it and exits with code 2.
///
/// Each message names what to fix: the key as `section.key` with the bad value and what is
/// expected, or the path of a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file given explicitly (or a default file that exists) could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    ReadFile {
        /// The path as given.
        path: PathBuf,
        /// What the operating system said (not found, permission denied, ...).
        error: io::Error,
    },
    /// A configuration file is not valid TOML.
    #[error("{origin} is not valid TOML: {detail}")]
    Syntax {
        /// The file's path, or "TOML string" for [`crate::Settings::from_toml_str`].
        origin: String,
        /// The TOML parser's message, with line and column.
        detail: String,
    },
    /// A key that no setting has: usually a typo, which would otherwise be silently ignored.
    #[error(
        "{key}: unknown key in {origin} (expected one of the keys listed in config/default.toml)"
    )]
    UnknownKey {
        /// The key as `section.key`.
        key: String,
        /// Where it came from: a file path or an environment variable name.
        origin: String,
    },
    /// A value that does not fit its key, or that contradicts another key.
    #[error("{key}: {detail}")]
    Invalid {
        /// The key as `section.key`.
        key: String,
        /// The bad value and what is expected, e.g. `"abc" is not a duration (expected e.g. "25s")`.
        detail: String,
    },
    /// A failure inside the configuration library that names no key; not expected in practice.
    #[error("cannot load settings: {detail}")]
    Other {
        /// The library's message.
        detail: String,
    },
}

impl ConfigError {
    /// The `section.key` this error is about, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, .. } | Self::Invalid { key, .. } => Some(key),
            Self::ReadFile { .. } | Self::Syntax { .. } | Self::Other { .. } => None,
        }
    }

    /// A value error for `key`; `detail` carries the value and what is expected.
    pub(crate) fn invalid(key: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            detail: detail.into(),
        }
    }

    /// Translates an error of the `config` crate raised while deserializing the merged settings.
    ///
    /// The crate reports the key path of the failing field (`At` / `Type`); the helpers in
    /// [`crate::value`] already wrote the value and what is expected into the inner message.
    pub(crate) fn from_deserialize(error: config::ConfigError) -> Self {
        match error {
            config::ConfigError::At {
                error,
                key: Some(key),
                ..
            } => Self::Invalid {
                key,
                detail: describe(*error),
            },
            config::ConfigError::Type {
                unexpected,
                expected,
                key: Some(key),
                ..
            } => Self::Invalid {
                key,
                detail: format!("found {unexpected} (expected {expected})"),
            },
            other => Self::Other {
                detail: other.to_string(),
            },
        }
    }
}

/// The message of an error whose key is reported separately.
fn describe(error: config::ConfigError) -> String {
    match error {
        config::ConfigError::Message(message) => message,
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("found {unexpected} (expected {expected})"),
        other => other.to_string(),
    }
}
