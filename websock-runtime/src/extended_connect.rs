//! Checking an HTTP/2 request against RFC 8441 §4–5 before opening a WebSocket on its stream:
//! the extended CONNECT, where the HTTP/1.1 upgrade's `Connection`, `Upgrade` and
//! `Sec-WebSocket-Key` have no place.

use crate::handshake::{HandshakeError, SINGLE_VALUED, has_body, is_repeated};
use http::{Method, Request, header};

/// The `:protocol` of a WebSocket (RFC 8441 §4), an upgrade token: case-insensitive
/// (RFC 9110 §7.8).
const WEBSOCKET: &str = "websocket";

/// Whether `request` is an extended CONNECT for a WebSocket, or why not.
pub(crate) fn validate<B>(request: &Request<B>) -> Result<(), HandshakeError> {
    let protocol = request.extensions().get::<hyper::ext::Protocol>();
    if request.method() != Method::CONNECT
        || !protocol.is_some_and(|p| p.as_str().eq_ignore_ascii_case(WEBSOCKET))
    {
        return Err(HandshakeError::NotExtendedConnect);
    }
    let headers = request.headers();
    if let Some(name) = SINGLE_VALUED.iter().find(|name| is_repeated(headers, name)) {
        return Err(HandshakeError::DuplicateHeader(name.clone()));
    }
    if has_body(headers) {
        return Err(HandshakeError::RequestBody);
    }
    // h2 requires `:authority` on a CONNECT; checked again since origin checks rely on it.
    if request.uri().authority().is_none() && !headers.contains_key(header::HOST) {
        return Err(HandshakeError::MissingHost);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version.as_bytes() != b"13")
    {
        return Err(HandshakeError::UnsupportedVersionHttp2);
    }
    Ok(())
}
