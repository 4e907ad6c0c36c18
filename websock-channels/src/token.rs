//! Signed tokens, as Phoenix's `Phoenix.Token`: data a client carries and hands back, which it
//! can read but cannot forge or alter.
//!
//! ```
//! use std::time::Duration;
//! use websock_channels::token;
//!
//! let secret = b"a long random secret, from the environment";
//! let signed = token::sign(secret, "user socket", &42u64);
//! let user: u64 = token::verify(secret, "user socket", &signed, Duration::from_secs(86_400)).unwrap();
//! assert_eq!(user, 42);
//! ```
//!
//! A token is `SFMyNTY.<payload>.<signature>`, both parts URL-safe base64 without padding
//! (`SFMyNTY` is `HS256` in base64, Phoenix's prefix). The payload is the JSON array
//! `[data, signed_at_ms]`: it is signed, not encrypted, so put nothing secret in it. The
//! signature is HMAC-SHA256 over `SFMyNTY.<payload>` and is checked in constant time.
//!
//! The key is `HMAC-SHA256(secret, salt)`: one secret serves many purposes, and a token signed
//! for one salt never verifies for another. Phoenix derives its key with PBKDF2 (1,000
//! iterations) instead; with a secret of 32 random bytes or more, as both require, the single
//! HMAC is as strong and costs nothing per call. Tokens are therefore not interchangeable with
//! Phoenix's.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;
use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "SFMyNTY";

/// Why a token did not verify (`Phoenix.Token.verify/4`'s `:invalid`, `:expired`, `:missing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token, signed with another secret or salt, altered, or its data is not a `T`.
    Invalid,
    /// Signed longer than `max_age` ago.
    Expired,
    /// Empty.
    Missing,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "invalid token",
            Self::Expired => "expired token",
            Self::Missing => "missing token",
        })
    }
}

impl std::error::Error for TokenError {}

/// Signs `data` for `salt` with `secret`, dated now.
pub fn sign(secret: &[u8], salt: &str, data: &impl Serialize) -> String {
    Signer::new(secret, salt).sign(data)
}

/// Signs `data` as if at `signed_at` (tests of expiry, tokens made ahead of time).
pub fn sign_at(secret: &[u8], salt: &str, data: &impl Serialize, signed_at: SystemTime) -> String {
    Signer::new(secret, salt).sign_at(data, signed_at)
}

/// The data of `token` if it was signed for `salt` with `secret` at most `max_age` ago.
pub fn verify<T: DeserializeOwned>(
    secret: &[u8],
    salt: &str,
    token: &str,
    max_age: Duration,
) -> Result<T, TokenError> {
    Signer::new(secret, salt).verify(token, max_age)
}

/// A secret and salt with the key derived once: for signing and verifying many tokens.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer of tokens for `salt` with `secret`.
    pub fn new(secret: &[u8], salt: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(salt.as_bytes());
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// Signs `data`, dated now.
    pub fn sign(&self, data: &impl Serialize) -> String {
        self.sign_at(data, SystemTime::now())
    }

    /// Signs `data` as if at `signed_at`.
    ///
    /// # Panics
    /// When `data` fails to serialize (a map with non-string keys, a failing `Serialize`).
    pub fn sign_at(&self, data: &impl Serialize, signed_at: SystemTime) -> String {
        let millis = signed_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let payload = serde_json::to_vec(&(data, millis)).expect("token data serializes to JSON");
        let mut token = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self.mac(&token).finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }

    /// The data of `token` if this signer signed it at most `max_age` ago.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        max_age: Duration,
    ) -> Result<T, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        // `verify_slice` compares in constant time: no timing hints towards a valid signature.
        self.mac(signed)
            .verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let payload = signed
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or(TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let (data, millis): (T, u64) =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        let signed_at = UNIX_EPOCH + Duration::from_millis(millis);
        let age = SystemTime::now()
            .duration_since(signed_at)
            .unwrap_or_default();
        if age > max_age {
            return Err(TokenError::Expired);
        }
        Ok(data)
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(signed.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn round_trip() {
        let token = sign(SECRET, "user", &("alice", 7));
        assert!(token.starts_with("SFMyNTY."));
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        let data: (String, u32) = verify(SECRET, "user", &token, DAY).unwrap();
        assert_eq!(data, ("alice".to_owned(), 7));
    }

    #[test]
    fn tampered_payload_or_signature() {
        let token = sign(SECRET, "user", &1u64);
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(b"[2,0]");
        let forged = format!("{PREFIX}.{forged_payload}.{signature}");
        assert_eq!(
            verify::<u64>(SECRET, "user", &forged, DAY),
            Err(TokenError::Invalid)
        );
        let mut bad_signature = signature.to_owned();
        let last = bad_signature.pop().unwrap();
        bad_signature.push(if last == 'A' { 'B' } else { 'A' });
        let altered = format!("{signed}.{bad_signature}");
        assert_eq!(
            verify::<u64>(SECRET, "user", &altered, DAY),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify::<u64>(SECRET, "user", "garbage", DAY),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify::<u64>(SECRET, "user", "", DAY),
            Err(TokenError::Missing)
        );
    }

    #[test]
    fn wrong_key_or_salt() {
        let token = sign(SECRET, "user", &1u64);
        let other = b"another secret, just as long....";
        assert_eq!(
            verify::<u64>(other, "user", &token, DAY),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify::<u64>(SECRET, "admin", &token, DAY),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn wrong_type_is_invalid() {
        let token = sign(SECRET, "user", &"text");
        assert_eq!(
            verify::<u64>(SECRET, "user", &token, DAY),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn expired_by_signed_at() {
        let two_days_ago = SystemTime::now() - 2 * DAY;
        let token = sign_at(SECRET, "user", &1u64, two_days_ago);
        assert_eq!(
            verify::<u64>(SECRET, "user", &token, DAY),
            Err(TokenError::Expired)
        );
        assert_eq!(verify::<u64>(SECRET, "user", &token, 3 * DAY), Ok(1));
    }
}
