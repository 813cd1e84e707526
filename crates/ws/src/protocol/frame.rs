use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One encoded server frame: JSON text behind a reference count.
///
/// A frame is encoded once and the same bytes are queued for every recipient; cloning it only
/// bumps the count, so a fan-out to N members allocates nothing per member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Utf8Bytes);

impl Frame {
    pub(crate) fn from_json(json: String) -> Self {
        Self(Utf8Bytes::from(json))
    }

    /// The JSON text of the frame.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The bytes handed to the WebSocket library.
    pub fn into_text(self) -> Utf8Bytes {
        self.0
    }

    /// Size of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never true for an encoded frame).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
