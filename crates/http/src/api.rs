//! The server API for the operator's own backend (PROTOCOL.md "Server API").

/// A route of the server API (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    PostMessage,
    Messages,
    Members,
    Rooms,
    Disconnect,
    /// A path under `/api/` that is none of the above.
    Unknown,
}

impl Route {
    /// Every route, in declaration order.
    pub(crate) const ALL: [Self; 6] = [
        Self::PostMessage,
        Self::Messages,
        Self::Members,
        Self::Rooms,
        Self::Disconnect,
        Self::Unknown,
    ];

    /// The metrics label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PostMessage => "post_message",
            Self::Messages => "messages",
            Self::Members => "members",
            Self::Rooms => "rooms",
            Self::Disconnect => "disconnect",
            Self::Unknown => "unknown",
        }
    }
}
