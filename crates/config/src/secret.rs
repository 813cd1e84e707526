//! A setting that must never be shown: `Debug` prints `"[redacted]"` (or `""` when empty,
//! which says what a configuration error needs to say), so settings can be logged and
//! errors printed without leaking it.

use serde::{Deserialize, Serialize};

/// A secret string (`auth.jwt_secret`, `auth.api_key`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty or only whitespace (unset).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_blank() {
            std::fmt::Debug::fmt(&self.0, f)
        } else {
            f.write_str("\"[redacted]\"")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        assert_eq!(format!("{:?}", Secret::from("hunter2")), "\"[redacted]\"");
        assert_eq!(format!("{:?}", Secret::from("")), "\"\"");
    }
}
