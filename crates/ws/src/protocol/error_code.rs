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
    Forbidden,
    NotFound,
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (so `code as usize` indexes it).
    pub const ALL: [Self; 12] = [
        Self::BadJson,
        Self::BadRequest,
        Self::UnknownType,
        Self::Unsupported,
        Self::BadRoom,
        Self::NotJoined,
        Self::TooLarge,
        Self::TooManyRooms,
        Self::RateLimited,
        Self::Forbidden,
        Self::NotFound,
        Self::Internal,
    ];

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
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_name_matches_serde_name() {
        for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(code as usize, index, "ALL is in declaration order");
            let json = serde_json::to_string(&code).expect("a unit enum serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
