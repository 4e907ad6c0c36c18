//! Checking an HTTP request against RFC 6455 §4.2.1 (over HTTP/2, RFC 8441 §4–5) before
//! upgrading it.

use crate::Refuse;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header};
use std::fmt;

/// Why a request is not a valid WebSocket upgrade; each says what the client must fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The method is not GET.
    MethodNotGet,
    /// The request is HTTP/1.0 or older.
    HttpVersion,
    /// No `Host` header.
    MissingHost,
    /// `Connection` does not contain `upgrade`.
    ConnectionNotUpgrade,
    /// `Upgrade` does not contain `websocket`.
    UpgradeNotWebSocket,
    /// No `Sec-WebSocket-Key` header.
    MissingKey,
    /// `Sec-WebSocket-Key` is not 16 bytes in base64.
    InvalidKey,
    /// `Sec-WebSocket-Version` is not 13 (answered with 426 and the version we speak).
    UnsupportedVersion,
    /// A header that may appear once appears more than once: `Host` (RFC 9112 §3.2),
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version` (RFC 6455 §11.3.1, §11.3.5) or `Origin`
    /// (RFC 6454 §7.3). Which copy to believe is the kind of guess request smuggling feeds on.
    DuplicateHeader(HeaderName),
    /// The request announces a body (`Transfer-Encoding`, or a `Content-Length` other than 0).
    /// An upgrade has none (RFC 6455 §4.1), and the bytes after the head cannot be told apart
    /// from frames, so the refusal also closes the connection (RFC 9112 §6.1).
    RequestBody,
    /// An HTTP/2 request that is not an extended CONNECT with `:protocol websocket`
    /// (RFC 8441 §4): HTTP/2 has no `Upgrade`.
    NotExtendedConnect,
    /// `Sec-WebSocket-Version` is not 13 on an HTTP/2 extended CONNECT: answered with 400 and
    /// the version we speak, as a 426 needs an `Upgrade` header, which HTTP/2 forbids
    /// (RFC 9113 §8.2.2).
    UnsupportedVersionHttp2,
}

impl HandshakeError {
    /// 426 for a version we do not speak, 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The response: the status, the reason as the body, for 426 the version header, and for
    /// a request with a body `Connection: close`, so its bytes are never read as a next
    /// request.
    pub fn into_refusal(self) -> Refuse {
        let refuse = Refuse::new(self.status(), format!("{self}\n"));
        match self {
            Self::UnsupportedVersion | Self::UnsupportedVersionHttp2 => refuse.with_header(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            ),
            Self::RequestBody => {
                refuse.with_header(header::CONNECTION, HeaderValue::from_static("close"))
            }
            _ => refuse,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            Self::DuplicateHeader(name) => {
                return write!(
                    f,
                    "websocket upgrade: the {name} header may appear only once"
                );
            }
            Self::RequestBody => {
                "websocket upgrade: the request must not have a body \
                 (no Transfer-Encoding, no Content-Length but 0)"
            }
            Self::MethodNotGet => "websocket upgrade: the method must be GET",
            Self::HttpVersion => "websocket upgrade: HTTP/1.1 or later is required",
            Self::MissingHost => "websocket upgrade: the Host header is missing",
            Self::ConnectionNotUpgrade => {
                "websocket upgrade: the Connection header must contain \"upgrade\""
            }
            Self::UpgradeNotWebSocket => {
                "websocket upgrade: the Upgrade header must contain \"websocket\""
            }
            Self::MissingKey => "websocket upgrade: the Sec-WebSocket-Key header is missing",
            Self::InvalidKey => {
                "websocket upgrade: Sec-WebSocket-Key must be 16 bytes encoded in base64"
            }
            Self::UnsupportedVersion | Self::UnsupportedVersionHttp2 => {
                "websocket upgrade: Sec-WebSocket-Version must be 13"
            }
            Self::NotExtendedConnect => {
                "websocket over HTTP/2: the request must be an extended CONNECT \
                 (RFC 8441: :method CONNECT, :protocol websocket)"
            }
        };
        f.write_str(reason)
    }
}

impl std::error::Error for HandshakeError {}

/// Checks that `request` is a WebSocket upgrade we can accept (RFC 6455 §4.2.1), or over
/// HTTP/2 an extended CONNECT (RFC 8441 §4–5), saying why not in words.
pub fn validate_upgrade<B>(request: &Request<B>) -> Result<(), HandshakeError> {
    if request.version() == Version::HTTP_2 {
        return crate::extended_connect::validate(request);
    }
    if request.method() != Method::GET {
        return Err(HandshakeError::MethodNotGet);
    }
    if request.version() < Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = request.headers();
    if let Some(name) = SINGLE_VALUED.iter().find(|name| is_repeated(headers, name)) {
        return Err(HandshakeError::DuplicateHeader(name.clone()));
    }
    if has_body(headers) {
        return Err(HandshakeError::RequestBody);
    }
    if !headers.contains_key(header::HOST) && request.uri().authority().is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !header_contains_token(headers, header::CONNECTION, "upgrade") {
        return Err(HandshakeError::ConnectionNotUpgrade);
    }
    if !header_contains_token(headers, header::UPGRADE, "websocket") {
        return Err(HandshakeError::UpgradeNotWebSocket);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(HandshakeError::MissingKey)?;
    if !is_valid_key(key.as_bytes()) {
        return Err(HandshakeError::InvalidKey);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version.as_bytes() != b"13")
    {
        return Err(HandshakeError::UnsupportedVersion);
    }
    Ok(())
}

/// The request headers that may appear once. `Connection`, `Upgrade`,
/// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` are lists and may repeat
/// (RFC 9110 §5.3).
pub(crate) const SINGLE_VALUED: [HeaderName; 4] = [
    header::HOST,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::ORIGIN,
];

pub(crate) fn is_repeated(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(name).iter().nth(1).is_some()
}

/// hyper has already dropped a `Content-Length` sent beside `Transfer-Encoding` (RFC 9112
/// §6.3), so any `Transfer-Encoding` counts, as does any `Content-Length` but a single 0.
pub(crate) fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|length| length.as_bytes() != b"0")
}

/// Whether a comma-separated header (any of its lines) contains `token`, case-insensitively.
fn header_contains_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// A key is 16 random bytes in base64: 24 characters, the last two `==` (RFC 6455 §4.1).
fn is_valid_key(key: &[u8]) -> bool {
    let is_b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24
        && key[..21].iter().all(is_b64)
        && is_last_sextet(key[21])
        && &key[22..] == b"=="
}

/// The 22nd character encodes the last 2 bits of the 16th byte, so only 4 of its low bits are
/// zero: one of `AQgw`.
fn is_last_sextet(c: u8) -> bool {
    matches!(c, b'A' | b'Q' | b'g' | b'w')
}

/// The subprotocol to answer with: the first of ours that the client offered.
pub(crate) fn select_protocol(headers: &HeaderMap, ours: &[String]) -> Option<HeaderValue> {
    if ours.is_empty() {
        return None;
    }
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    ours.iter()
        .find(|protocol| offered.contains(&protocol.as_str()))
        .and_then(|protocol| HeaderValue::from_str(protocol).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_16_bytes_of_base64() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_valid_key(b"short"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25j!Q=="));
    }
}
