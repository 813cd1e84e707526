use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

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

/// Longest display name accepted, in characters after NFC normalization.
const MAX_NAME_CHARS: usize = 32;

/// The only default-ignorable code points that are letters (the Hangul fillers): they draw
/// as nothing, the usual trick for a blank or look-alike name, so they are refused as format
/// characters are.
const INVISIBLE_LETTERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

/// A symbol drawn as an empty cell (U+2800 BRAILLE PATTERN BLANK): fine inside a name, but
/// not as all of it.
const BLANK_SYMBOL: char = '\u{2800}';

/// The display name to use for a requested one: its NFC form, surrounding whitespace
/// trimmed, kept when it has 1–32 characters, none of them a control, format (zero-width,
/// bidi), line or paragraph separator or unassigned character, and at least one that shows
/// something (not only spaces and combining marks); else `None` so the caller picks
/// `guest-<n>`.
///
/// NFC makes names that look the same the same string (`e` + U+0301 is `é`). Invisible
/// characters are refused rather than stripped: a name is shown as the client sent it or
/// not at all.
pub fn display_name(requested: Option<&str>) -> Option<String> {
    // One character past the limit is enough to refuse: a long request is not normalized
    // any further.
    let name: String = requested?.trim().nfc().take(MAX_NAME_CHARS + 1).collect();
    let chars = name.chars().count();
    let allowed = !name.chars().any(refused);
    let visible = name.chars().any(shows_something);
    ((1..=MAX_NAME_CHARS).contains(&chars) && allowed && visible).then_some(name)
}

/// Characters that have no place in a name: they are invisible, reorder or break the text
/// around them, or mean nothing yet.
fn refused(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::Unassigned
    ) || INVISIBLE_LETTERS.contains(&c)
}

/// Whether `c`, in a name with no [`refused`] character, draws something by itself: not a
/// space, not a mark that sits on another character, not a blank.
fn shows_something(c: char) -> bool {
    !matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Separator | GeneralCategoryGroup::Mark
    ) && c != BLANK_SYMBOL
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

    #[test]
    fn names_are_nfc_normalized() {
        // `e` + COMBINING ACUTE ACCENT is stored as the one character `é`.
        assert_eq!(display_name(Some("Zoe\u{301}")), Some("Zo\u{e9}".into()));
        // Hangul jamo compose into syllables: the same name, the same string.
        assert_eq!(
            display_name(Some("\u{1100}\u{1161}")),
            Some("\u{AC00}".into())
        );
        // The 32-character limit counts the normalized form.
        let decomposed = "e\u{301}".repeat(32);
        assert_eq!(display_name(Some(&decomposed)), Some("\u{e9}".repeat(32)));
        assert_eq!(display_name(Some(&"e\u{301}".repeat(33))), None);
    }

    #[test]
    fn refuses_format_characters_anywhere() {
        for c in [
            '\u{AD}',    // soft hyphen
            '\u{61C}',   // Arabic letter mark
            '\u{180E}',  // Mongolian vowel separator
            '\u{200B}',  // zero-width space
            '\u{200C}',  // zero-width non-joiner
            '\u{200D}',  // zero-width joiner
            '\u{200E}',  // left-to-right mark
            '\u{202A}',  // left-to-right embedding
            '\u{202E}',  // right-to-left override
            '\u{2060}',  // word joiner
            '\u{2066}',  // left-to-right isolate
            '\u{2069}',  // pop directional isolate
            '\u{FEFF}',  // zero-width no-break space (BOM)
            '\u{E0041}', // tag letter A
            '\u{3164}',  // Hangul filler
            '\u{FFA0}',  // halfwidth Hangul filler
            '\u{FFFF}',  // a noncharacter
        ] {
            for name in [
                format!("{c}alice"),
                format!("al{c}ice"),
                format!("alice{c}"),
            ] {
                assert_eq!(display_name(Some(&name)), None, "U+{:04X}", u32::from(c));
            }
        }
        // Line and paragraph separators are whitespace: trimmed at the ends, refused inside.
        assert_eq!(display_name(Some("al\u{2028}ice")), None);
        assert_eq!(display_name(Some("al\u{2029}ice")), None);
        assert_eq!(display_name(Some("alice\u{2028}")), Some("alice".into()));
    }

    #[test]
    fn refuses_names_that_show_nothing() {
        for name in [
            "\u{3000}",         // ideographic space
            "\u{A0}\u{2003}",   // no-break and em space
            "\u{301}\u{302}",   // combining marks alone
            " \u{301} ",        // a mark on a space
            "\u{FE0F}",         // a variation selector alone
            "\u{2800}\u{2800}", // Braille blanks
            "\u{200B}",         // zero-width space alone
        ] {
            assert_eq!(display_name(Some(name)), None, "{name:?}");
        }
    }

    #[test]
    fn keeps_marks_emoji_and_inner_spaces_that_show_with_something() {
        for name in [
            "Ren\u{E9}e",
            "\u{2764}\u{FE0F} Bo",
            "\u{1F980}",
            "\u{0928}\u{092E}\u{0938}\u{094D}\u{0924}\u{0947}", // Devanagari with signs
            "a\u{2800}b",
            "\u{05E9}\u{05DC}\u{05D5}\u{05DD}", // Hebrew, right to left without a mark
        ] {
            assert_eq!(display_name(Some(name)), Some(name.into()), "{name:?}");
        }
    }
}
