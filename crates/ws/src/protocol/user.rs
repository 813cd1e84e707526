use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A user's stable id (`u_…` without auth, the JWT `sub` with it).
pub type UserId = Arc<str>;

/// Who a connection speaks for, as shown to others in `from`, `members` and `presence`.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub name: Arc<str>,
    /// `{"id":…,"name":…}`, encoded once: `joined` lists every member, and escaping the same
    /// strings again for every join was the hub's largest cost while a room fills up.
    json: Arc<RawValue>,
}

impl User {
    /// A user with this id and display name.
    pub fn new(id: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        let (id, name): (Arc<str>, Arc<str>) = (id.into(), name.into());
        #[derive(Serialize)]
        struct Fields<'a> {
            id: &'a str,
            name: &'a str,
        }
        let fields = Fields {
            id: &id,
            name: &name,
        };
        // Two strings always encode; the fallback only keeps this free of panics.
        let json = serde_json::to_string(&fields)
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .map_or_else(|| Arc::from(RawValue::NULL.to_owned()), Arc::from);
        Self { id, name, json }
    }
}

impl User {
    /// `{"id":…,"name":…}`, as encoded once.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl PartialEq for User {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.name == other.name
    }
}

impl Eq for User {}

impl Serialize for User {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
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
    fn encodes_as_id_and_name_with_escaping() {
        let user = User::new("u_1", "a \"q\" é");
        assert_eq!(
            serde_json::to_string(&user).ok().as_deref(),
            Some(r#"{"id":"u_1","name":"a \"q\" é"}"#)
        );
    }

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
