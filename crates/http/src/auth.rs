//! Sign-in with a JWT (`auth.mode = "jwt"`): HS256 tokens signed with the operator's secret,
//! checked before the upgrade. `sub` is the user's id, a `name` claim its display name, a
//! `rooms` claim the rooms it may join, `exp` when it must leave.
//!
//! The secret lives in the keys below and nowhere else: no `Debug`, log line or error shows
//! it.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use chat_ws::{
    client::Access,
    protocol::{User, display_name},
};
use http_body_util::Full;
use hyper::{
    HeaderMap, Response, StatusCode,
    header::{self, HeaderValue},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use serde::{Deserialize, Serialize};

use crate::response::Reply;

/// The leeway on `exp` at the upgrade (PROTOCOL.md: at most 5 s).
const EXP_LEEWAY_SECS: u64 = 5;
/// Longest `sub` accepted: it is the user's id in every frame about them.
const MAX_SUB_LEN: usize = 128;
/// Most entries of a `rooms` claim.
const MAX_ROOM_PATTERNS: usize = 1024;
/// A wait longer than any connection lives, for an `exp` far away (no `Instant` overflow).
const LONGEST_EXPIRY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The claims this server reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Display name; wins over the `name` query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Rooms the user may join (a name, or a prefix ending in `*`); absent: every room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
}

/// Why an upgrade is refused with 401 (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token in the query nor in `Authorization: Bearer`.
    Missing,
    /// Not a JWT, a bad signature, or claims that do not fit.
    Invalid,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// Signed with another algorithm than HS256, or not signed (`alg: none`).
    Algorithm,
}

impl AuthFailure {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 4] = [Self::Missing, Self::Invalid, Self::Expired, Self::Algorithm];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Algorithm => "algorithm",
        }
    }

    /// The body of the 401.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Missing => "a sign-in token is required\n",
            Self::Invalid => "the sign-in token is not valid\n",
            Self::Expired => "the sign-in token has expired\n",
            Self::Algorithm => "the sign-in token must be signed with HS256\n",
        }
    }
}

/// Checks tokens signed with the configured secret.
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtAuth { .. }")
    }
}

/// A signed-in connection: who it is and what it may do.
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub(crate) user: User,
    pub(crate) access: Access,
}

/// Numbers for `guest-<n>` names of signed-in users whose token names nothing usable.
static NEXT_GUEST: AtomicU64 = AtomicU64::new(1);

impl JwtAuth {
    /// Checks tokens signed with `secret`; `None` for an empty secret (which configuration
    /// refuses in `jwt` mode).
    pub fn new(secret: &str) -> Option<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = EXP_LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Some(Self {
            key: DecodingKey::from_secret(secret.as_bytes()).ok()?,
            validation,
        })
    }

    /// The user of an upgrade request, from its token; `query_name` is the `name` query
    /// parameter, used when the token names nobody.
    pub(crate) fn sign_in(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<SignedIn, AuthFailure> {
        let token = token(headers, query).ok_or(AuthFailure::Missing)?;
        let claims = decode::<Claims>(&token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm => AuthFailure::Algorithm,
                _ => AuthFailure::Invalid,
            })?
            .claims;
        if claims.sub.is_empty()
            || claims.sub.len() > MAX_SUB_LEN
            || claims.sub.chars().any(char::is_control)
            || claims
                .rooms
                .as_ref()
                .is_some_and(|rooms| rooms.len() > MAX_ROOM_PATTERNS)
        {
            return Err(AuthFailure::Invalid);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = Duration::from_secs(claims.exp.saturating_sub(now)).min(LONGEST_EXPIRY);
        let query_name = query_param(query, "name");
        let name = [
            claims.name.as_deref(),
            query_name.as_deref(),
            Some(&claims.sub),
        ]
        .into_iter()
        .find_map(display_name)
        .unwrap_or_else(|| format!("guest-{}", NEXT_GUEST.fetch_add(1, Ordering::Relaxed)));
        Ok(SignedIn {
            user: User::new(claims.sub, name),
            access: Access::new(claims.rooms, Some(tokio::time::Instant::now() + left)),
        })
    }
}

/// `GET /session`: whether sign-in is on and, with the request's token, who it signs in as,
/// so the page knows whether to ask for a name or for a sign-in link. 401 for a token that
/// would be refused at the upgrade.
pub(crate) fn session(auth: Option<&JwtAuth>, headers: &HeaderMap, query: Option<&str>) -> Reply {
    let (status, body) = match auth {
        None => (StatusCode::OK, serde_json::json!({"auth": "none"})),
        Some(auth) => match auth.sign_in(headers, query) {
            Ok(SignedIn { user, access }) => {
                let left = access.expires().map(|at| {
                    at.saturating_duration_since(tokio::time::Instant::now())
                        .as_secs()
                });
                let body = serde_json::json!({
                    "auth": "jwt",
                    "user": {"id": &*user.id, "name": &*user.name},
                    "expires_in": left,
                });
                (StatusCode::OK, body)
            }
            Err(failure) => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"auth": "jwt", "error": failure.as_str()}),
            ),
        },
    };
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

/// The token of a request: `Authorization: Bearer` first, then the `token` query parameter.
pub(crate) fn token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    bearer(headers)
        .map(str::to_owned)
        .or_else(|| query_param(query, "token"))
        .filter(|token| !token.is_empty())
}

/// The credentials of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the token could not be signed: {0}")]
pub struct MintError(String);

/// A token for `claims`, signed with HS256 and `secret` (the `token` subcommand).
pub fn mint(secret: &str, claims: &Claims) -> Result<String, MintError> {
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|e| MintError(e.to_string()))?;
    encode(&Header::new(Algorithm::HS256), claims, &key).map_err(|e| MintError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test secret";

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            exp,
            name: Some("Alice".into()),
            rooms: None,
        }
    }

    fn with_query(token: &str) -> String {
        format!("token={token}&name=ignored")
    }

    #[test]
    fn a_minted_token_signs_in_with_its_name() {
        let token = mint(SECRET, &claims(now() + 60)).expect("mint");
        let signed = JwtAuth::new(SECRET)
            .expect("a secret")
            .sign_in(&HeaderMap::new(), Some(&with_query(&token)))
            .expect("valid");
        assert_eq!(&*signed.user.id, "alice");
        assert_eq!(&*signed.user.name, "Alice");
    }

    #[test]
    fn the_query_name_then_the_sub_name_a_user_without_a_name_claim() {
        let mut c = claims(now() + 60);
        c.name = None;
        let token = mint(SECRET, &c).expect("mint");
        let auth = JwtAuth::new(SECRET).expect("a secret");
        let query = format!("token={token}&name=Bob");
        let signed = auth.sign_in(&HeaderMap::new(), Some(&query)).expect("ok");
        assert_eq!(&*signed.user.name, "Bob");
        let query = format!("token={token}");
        let signed = auth.sign_in(&HeaderMap::new(), Some(&query)).expect("ok");
        assert_eq!(&*signed.user.name, "alice");
    }

    #[test]
    fn refusals_say_why() {
        let auth = JwtAuth::new(SECRET).expect("a secret");
        let refuse = |token: &str| {
            auth.sign_in(&HeaderMap::new(), Some(&with_query(token)))
                .expect_err("refused")
        };
        assert_eq!(
            auth.sign_in(&HeaderMap::new(), Some("name=x"))
                .expect_err("no token"),
            AuthFailure::Missing
        );
        assert_eq!(refuse("not.a.jwt"), AuthFailure::Invalid);
        let other = mint("another secret", &claims(now() + 60)).expect("mint");
        assert_eq!(refuse(&other), AuthFailure::Invalid);
        let expired = mint(SECRET, &claims(now() - 60)).expect("mint");
        assert_eq!(refuse(&expired), AuthFailure::Expired);
        // `{"alg":"none"}`, the claims, and no signature.
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let body = serde_json::to_vec(&claims(now() + 60)).expect("json");
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(body)
        );
        assert_ne!(
            auth.sign_in(&HeaderMap::new(), Some(&with_query(&unsigned)))
                .map(|s| s.user.id.to_string()),
            Ok("alice".to_owned())
        );
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(now() + 60),
            &EncodingKey::from_secret(SECRET.as_bytes()).expect("a key"),
        )
        .expect("mint");
        assert_eq!(refuse(&hs512), AuthFailure::Algorithm);
    }

    #[test]
    fn a_bearer_header_works_too() {
        let token = mint(SECRET, &claims(now() + 60)).expect("mint");
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {token}").parse().expect("a header value");
        headers.insert(header::AUTHORIZATION, value);
        let auth = JwtAuth::new(SECRET).expect("a secret");
        assert!(auth.sign_in(&headers, None).is_ok());
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let auth = JwtAuth::new("s3cr3t-value").expect("a secret");
        assert!(!format!("{auth:?}").contains("s3cr3t"));
    }
}
