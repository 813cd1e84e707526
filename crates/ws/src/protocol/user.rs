use std::sync::Arc;

use serde::Serialize;

/// A user's stable id (`u_…` without auth, the JWT `sub` with it).
pub type UserId = Arc<str>;

/// Who a connection speaks for, as shown to others in `from`, `members` and `presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub name: Arc<str>,
}

impl User {
    /// A user with this id and display name.
    pub fn new(id: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }
}

/// Longest display name accepted, in characters.
const MAX_NAME_CHARS: usize = 32;

/// The display name to use for a requested one: kept when it has 1–32 printable characters
/// (surrounding spaces trimmed), else `None` so the caller picks `guest-<n>`.
pub fn display_name(requested: Option<&str>) -> Option<String> {
    let name = requested?.trim();
    let chars = name.chars().count();
    let printable = name.chars().all(|c| !c.is_control());
    ((1..=MAX_NAME_CHARS).contains(&chars) && printable).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_printable_names_up_to_32_characters() {
        assert_eq!(display_name(Some("alice")), Some("alice".into()));
        assert_eq!(display_name(Some("  Zoë ")), Some("Zoë".into()));
        let long = "ж".repeat(32);
        assert_eq!(display_name(Some(&long)), Some(long.clone()));
    }

    #[test]
    fn refuses_missing_empty_long_or_control_names() {
        assert_eq!(display_name(None), None);
        assert_eq!(display_name(Some("   ")), None);
        assert_eq!(display_name(Some(&"a".repeat(33))), None);
        assert_eq!(display_name(Some("a\nb")), None);
    }
}
