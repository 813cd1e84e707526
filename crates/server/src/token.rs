//! `chat-server token`: prints a JWT signed with the configured `auth.jwt_secret`, for
//! operators and for trying sign-in out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_config::Settings;
use chat_http::Claims;

/// Longest `--ttl`: a token is a password until it expires.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// What the token says.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub sub: String,
    pub name: Option<String>,
    /// Comma-separated room names and prefixes (`team-*`).
    pub rooms: Option<String>,
    pub ttl: Duration,
}

/// Why no token was printed (a configuration or usage error: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("auth.jwt_secret: \"\" is empty (expected the secret to sign with)")]
    NoSecret,
    #[error("--sub: {0:?} is not a user id (expected 1 to 128 characters, no control characters)")]
    Sub(String),
    #[error("--ttl: {0:?} is not between 1s and 366days")]
    Ttl(String),
    #[error("{0}")]
    Mint(#[from] chat_http::MintError),
}

/// The signed token for `request`.
pub fn token(settings: &Settings, request: TokenRequest) -> Result<String, TokenError> {
    let secret = &settings.auth.jwt_secret;
    if secret.is_blank() {
        return Err(TokenError::NoSecret);
    }
    let sub = request.sub;
    if sub.is_empty() || sub.len() > 128 || sub.chars().any(char::is_control) {
        return Err(TokenError::Sub(sub));
    }
    if request.ttl.is_zero() || request.ttl > MAX_TTL {
        return Err(TokenError::Ttl(
            humantime::format_duration(request.ttl).to_string(),
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rooms = request.rooms.map(|rooms| {
        rooms
            .split(',')
            .map(str::trim)
            .filter(|room| !room.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let claims = Claims {
        sub,
        exp: now + request.ttl.as_secs(),
        name: request.name,
        rooms,
    };
    Ok(chat_http::mint(secret.expose(), &claims)?)
}
