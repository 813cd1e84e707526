use serde::Serialize;

/// The `code` of an `error` frame: the closed list of PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    BadRequest,
    UnknownType,
    Unsupported,
    BadRoom,
    NotJoined,
    TooLarge,
    TooManyRooms,
    RateLimited,
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire (also used as a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::BadRequest => "bad_request",
            Self::UnknownType => "unknown_type",
            Self::Unsupported => "unsupported",
            Self::BadRoom => "bad_room",
            Self::NotJoined => "not_joined",
            Self::TooLarge => "too_large",
            Self::TooManyRooms => "too_many_rooms",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_name_matches_serde_name() {
        for code in [
            ErrorCode::BadJson,
            ErrorCode::BadRequest,
            ErrorCode::UnknownType,
            ErrorCode::Unsupported,
            ErrorCode::BadRoom,
            ErrorCode::NotJoined,
            ErrorCode::TooLarge,
            ErrorCode::TooManyRooms,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).expect("a unit enum serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
