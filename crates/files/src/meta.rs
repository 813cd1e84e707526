use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// What is kept beside a file's bytes (`<id>/meta.json`), written last: a file without it is
/// not complete and is not served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: String,
    /// The uploader's user id: only they may attach the file to a message.
    pub owner: String,
    /// The file's name as given, cleaned (see [`clean_name`]).
    pub name: String,
    pub size: u64,
    /// The type found in the bytes.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Milliseconds since the Unix epoch.
    pub uploaded_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The thumbnail's type, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_size: Option<u64>,
}

/// The file object clients see (the upload's answer, an entry of `message.files`).
#[derive(Debug, Serialize)]
pub(crate) struct Wire<'a> {
    id: &'a str,
    name: &'a str,
    size: u64,
    #[serde(rename = "type")]
    media_type: &'a str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumb: Option<String>,
}

/// Characters of a name kept as they are in a URL path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest name kept, in bytes.
const MAX_NAME_BYTES: usize = 200;

impl FileMeta {
    /// `/files/<id>/<name>`.
    pub fn url(&self) -> String {
        format!(
            "/files/{}/{}",
            self.id,
            utf8_percent_encode(&self.name, PATH_SEGMENT)
        )
    }

    /// `/files/<id>/thumb/<thumb.png|thumb.jpg>`: a path of its own shape, so no file name can
    /// be taken for it.
    pub fn thumb_url(&self) -> Option<String> {
        let extension = match self.thumb_type.as_deref()? {
            "image/jpeg" => "jpg",
            _ => "png",
        };
        Some(format!("/files/{}/thumb/thumb.{extension}", self.id))
    }

    pub(crate) fn wire(&self) -> Wire<'_> {
        Wire {
            id: &self.id,
            name: &self.name,
            size: self.size,
            media_type: &self.media_type,
            url: self.url(),
            width: self.width,
            height: self.height,
            thumb: self.thumb_url(),
        }
    }

    /// The file object as JSON.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and numbers cannot fail.
        serde_json::to_string(&self.wire()).unwrap_or_default()
    }
}

/// A file name fit to keep and show: its last path component, without control characters,
/// at most 200 bytes (cut at a character boundary), `file` when nothing is left.
pub(crate) fn clean_name(given: &str) -> String {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = name.trim();
    if trimmed.len() != name.len() {
        name = trimmed.to_owned();
    }
    if name.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    if name.is_empty() || name == "." || name == ".." {
        return "file".to_owned();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\x\\cat.png"), "cat.png");
        assert_eq!(clean_name(" a\u{0}b\n.txt "), "ab.txt");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(&"é".repeat(150)).len(), 200);
    }
}
