use std::{borrow::Borrow, fmt, sync::Arc};

use serde::Serialize;

/// A validated room name: 1–64 characters of `A–Z a–z 0–9 _ - .`.
///
/// Cheap to clone (shared string), so the hub can key maps by it and put it in every message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(Arc<str>);

/// Why a string is not a room name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("room name must be 1 to 64 characters long")]
    Length,
    #[error("room name may only hold A-Z, a-z, 0-9, '_', '-' and '.'")]
    Character,
}

impl RoomName {
    /// Longest room name accepted.
    pub const MAX_LEN: usize = 64;

    /// Validates `name` against the protocol's rule.
    pub fn parse(name: &str) -> Result<Self, RoomError> {
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return Err(RoomError::Length);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(RoomError::Character);
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "general", "A-b_c.9", &"x".repeat(64)] {
            assert_eq!(
                RoomName::parse(ok).map(|r| r.to_string()),
                Ok(ok.to_string())
            );
        }
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        assert_eq!(RoomName::parse(""), Err(RoomError::Length));
        assert_eq!(RoomName::parse(&"x".repeat(65)), Err(RoomError::Length));
        for bad in ["a b", "é", "a/b", "a:b", "<script>"] {
            assert_eq!(RoomName::parse(bad), Err(RoomError::Character), "{bad}");
        }
    }
}
