//! Refusing a request before the upgrade, with an HTTP status.

use crate::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use std::fmt;

/// An HTTP answer instead of the upgrade: what an origin check, an auth check or a
/// [`FromRequest`](crate::FromRequest) returns to say no.
///
/// Unlike [`Close`](crate::Close), which `init` returns after the 101, this is sent before it,
/// so the client sees a real status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refuse {
    status: StatusCode,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refuse {
    /// A refusal with `status` and a plain-text `body`.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// 405 Method Not Allowed, with `Allow: <allow>` (`"GET, HEAD"`, `"POST"`).
    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("only {allow} is served here\n"),
        )
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
    }

    /// 400 Bad Request.
    pub fn bad_request(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, body)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, body)
    }

    /// 403 Forbidden.
    pub fn forbidden(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::FORBIDDEN, body)
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::new(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl fmt::Display for Refuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl std::error::Error for Refuse {}
