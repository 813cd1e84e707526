//! The upload token of `welcome.upload`: the user's id and name and an expiry, signed (HS256)
//! with a key every node derives from `auth.jwt_secret`, so any node behind a load balancer
//! takes a token another node gave. Without a secret the key is random per process: tokens
//! then work on the node that gave them only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an upload token lasts at most; a connection gets a fresh one each time it opens,
/// and a token never outlives the sign-in it came from.
pub const UPLOAD_TOKEN_LIFETIME: Duration = Duration::from_secs(4 * 60 * 60);

/// The audience of upload tokens: a token made for `/ws` (or anything else signed with the
/// same secret) is not one, and an upload token is not a sign-in (its key differs).
const AUDIENCE: &str = "chat-upload";

/// Separates the derived key from any other use of the secret.
const KEY_CONTEXT: &[u8] = b"chat-files upload token key v1\0";

/// Who uploads: the user a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploader {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    exp: u64,
    aud: String,
}

/// Makes and checks upload tokens.
pub struct UploadTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for UploadTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadTokens { .. }")
    }
}

impl UploadTokens {
    /// Tokens signed with a key derived from `secret`, or with a random key when `None`.
    pub fn new(secret: Option<&str>) -> Self {
        let key: [u8; 32] = match secret {
            Some(secret) => Sha256::new()
                .chain_update(KEY_CONTEXT)
                .chain_update(secret.as_bytes())
                .finalize()
                .into(),
            None => rand::random(),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 0;
        // HMAC takes a key of any length, so a 32-byte one is always accepted.
        Self {
            encoding: EncodingKey::from_secret(&key).expect("an HMAC key"),
            decoding: DecodingKey::from_secret(&key).expect("an HMAC key"),
            validation,
        }
    }

    /// A token for `user`, valid for [`UPLOAD_TOKEN_LIFETIME`] or until `signed_in_for` ends,
    /// whichever comes first.
    pub fn mint(&self, user: &Uploader, signed_in_for: Option<Duration>) -> String {
        let lifetime = signed_in_for.map_or(UPLOAD_TOKEN_LIFETIME, |left| {
            left.min(UPLOAD_TOKEN_LIFETIME)
        });
        let exp = SystemTime::now()
            .checked_add(lifetime)
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            sub: user.id.clone(),
            name: user.name.clone(),
            exp,
            aud: AUDIENCE.to_owned(),
        };
        // HS256 over a key of 32 bytes and claims of strings and numbers cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The user a valid token names; `None` for anything else (bad signature, expired,
    /// another audience, not a token).
    pub fn check(&self, token: &str) -> Option<Uploader> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        Some(Uploader {
            id: claims.sub,
            name: claims.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Uploader {
        Uploader {
            id: "u1".into(),
            name: "Alice".into(),
        }
    }

    #[test]
    fn nodes_with_one_secret_take_each_others_tokens() {
        let (a, b) = (UploadTokens::new(Some("s")), UploadTokens::new(Some("s")));
        let token = a.mint(&alice(), None);
        assert_eq!(b.check(&token), Some(alice()));
        assert_eq!(UploadTokens::new(Some("t")).check(&token), None);
        assert_eq!(UploadTokens::new(None).check(&token), None);
        assert_eq!(a.check("not a token"), None);
    }

    #[test]
    fn a_token_ends_with_its_sign_in() {
        let tokens = UploadTokens::new(None);
        let exp = |token: &str| {
            let mut loose = tokens.validation.clone();
            loose.validate_exp = false;
            decode::<Claims>(token, &tokens.decoding, &loose)
                .expect("a token")
                .claims
                .exp
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let short = exp(&tokens.mint(&alice(), Some(Duration::from_secs(60))));
        assert!((now + 59..=now + 61).contains(&short), "{short} vs {now}");
        let long = exp(&tokens.mint(&alice(), None));
        assert!(long >= now + UPLOAD_TOKEN_LIFETIME.as_secs() - 1);
    }

    #[test]
    fn the_secret_signs_no_upload_token_itself() {
        // A JWT signed with the secret itself (a sign-in) is not an upload token.
        let claims = Claims {
            sub: "u1".into(),
            name: "x".into(),
            exp: u64::MAX / 2,
            aud: AUDIENCE.into(),
        };
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s").expect("a key"),
        )
        .expect("signed");
        assert_eq!(UploadTokens::new(Some("s")).check(&forged), None);
    }
}
