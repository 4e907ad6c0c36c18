//! Which pages may open a WebSocket: the `Origin` check, as Phoenix's `check_origin`.
//!
//! Browsers send the page's origin with every WebSocket handshake and, unlike for `fetch`, do
//! not enforce CORS on WebSockets: without this check any site a user visits could open a
//! socket with the user's cookies (cross-site WebSocket hijacking).

use crate::{Refuse, RequestInfo};
use http::{Uri, header};
use std::{fmt, sync::Arc};

/// A user's origin check: the parsed `Origin` and the request.
type CustomCheck = Arc<dyn Fn(&Uri, &RequestInfo) -> bool + Send + Sync>;

/// Which `Origin`s may open a WebSocket; refused upgrades get 403 with the reason.
///
/// The default, [`same_host`](Self::same_host), is Phoenix's `check_origin: true` with the
/// endpoint's host taken from the request. A request without an `Origin` header always passes:
/// only browsers send it, and a non-browser client could send any value anyway.
///
/// ```
/// use websock_runtime::{CheckOrigin, Router};
///
/// // Phoenix's list format: scheme and port optional, `*.` for any subdomain.
/// let router = Router::new().check_origin(["https://example.com", "//*.example.net"]);
/// let router = Router::new().check_origin(CheckOrigin::strict());
/// let router = Router::new().check_origin(CheckOrigin::custom(|origin, _request| {
///     origin.host() == Some("localhost")
/// }));
/// # let _ = router;
/// ```
#[derive(Clone, Default)]
pub struct CheckOrigin(Policy);

#[derive(Clone, Default)]
enum Policy {
    Any,
    #[default]
    SameHost,
    Strict,
    List(Arc<[Allowed]>),
    Custom(CustomCheck),
}

/// One entry of an origin list: `None` parts match anything.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl fmt::Debug for CheckOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Policy::Any => f.write_str("CheckOrigin::any"),
            Policy::SameHost => f.write_str("CheckOrigin::same_host"),
            Policy::Strict => f.write_str("CheckOrigin::strict"),
            Policy::List(list) => f.debug_tuple("CheckOrigin::list").field(list).finish(),
            Policy::Custom(_) => f.write_str("CheckOrigin::custom"),
        }
    }
}

impl CheckOrigin {
    /// The `Origin`'s host must equal the request's host (`Host`, or the `:authority` of an
    /// HTTP/2 request), ignoring scheme and port, so a TLS-terminating proxy in front works.
    /// The default.
    pub fn same_host() -> Self {
        Self(Policy::SameHost)
    }

    /// Scheme, host and port must all equal the request's (Phoenix's `check_origin: :conn`).
    /// The request's scheme is its URI's (an HTTP/2 `:scheme`, an absolute-form target),
    /// otherwise `http`: behind TLS that this server does not terminate, use a list instead.
    pub fn strict() -> Self {
        Self(Policy::Strict)
    }

    /// Every origin passes (Phoenix's `check_origin: false`).
    pub fn any() -> Self {
        Self(Policy::Any)
    }

    /// The origin must match one of `origins`, in Phoenix's format: `https://example.com`,
    /// `//example.com` (any scheme and port), `//example.com:8080`, `//*.example.com` (the
    /// domain and its subdomains). A scheme without a port means that scheme's default port,
    /// as Phoenix's `URI.parse` does. Hosts are compared ignoring case.
    ///
    /// # Panics
    /// When an entry has no host (Phoenix raises too): a configuration mistake.
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = origins
            .into_iter()
            .map(|origin| {
                let origin = origin.as_ref();
                parse_allowed(origin).unwrap_or_else(|| {
                    panic!(
                        "invalid check_origin entry {origin:?}: expected an origin with a host, \
                         such as \"https://example.com\", \"//another.com:888\" or \"//*.other.com\""
                    )
                })
            })
            .collect();
        Self(Policy::List(list))
    }

    /// `check(origin, request)` decides; `origin` is the parsed `Origin` header.
    pub fn custom<F>(check: F) -> Self
    where
        F: Fn(&Uri, &RequestInfo) -> bool + Send + Sync + 'static,
    {
        Self(Policy::Custom(Arc::new(check)))
    }

    /// Ok, or the 403 (with the reason) for a request whose `Origin` is not allowed. The
    /// `Router` runs it before every upgrade; call it yourself before [`upgrade`](crate::upgrade)
    /// in an axum handler, which checks no origin.
    pub fn check(&self, request: &RequestInfo) -> Result<(), Refuse> {
        let Some(origin) = request.header(&header::ORIGIN) else {
            return Ok(());
        };
        if matches!(self.0, Policy::Any) {
            return Ok(());
        }
        let text = String::from_utf8_lossy(origin.as_bytes());
        // `null` (a sandboxed page, a file://) and other host-less origins never match, as in
        // Phoenix.
        let parsed = text.parse::<Uri>().ok().filter(|uri| uri.host().is_some());
        let allowed = parsed
            .as_ref()
            .is_some_and(|origin| self.allows(origin, request));
        if allowed {
            Ok(())
        } else {
            Err(Refuse::forbidden(format!(
                "origin {text:?} is not allowed (check_origin: {self:?})\n"
            )))
        }
    }

    fn allows(&self, origin: &Uri, request: &RequestInfo) -> bool {
        let host = origin.host().unwrap_or_default();
        match &self.0 {
            Policy::Any => true,
            Policy::SameHost => {
                request_authority(request).is_some_and(|(h, _)| h.eq_ignore_ascii_case(host))
            }
            Policy::Strict => {
                let scheme = request.uri().scheme_str().unwrap_or("http");
                let Some((request_host, request_port)) = request_authority(request) else {
                    return false;
                };
                let origin_scheme = origin.scheme_str().unwrap_or_default();
                origin_scheme.eq_ignore_ascii_case(scheme)
                    && request_host.eq_ignore_ascii_case(host)
                    && effective_port(origin_scheme, origin.port_u16())
                        == effective_port(scheme, request_port)
            }
            Policy::List(list) => list.iter().any(|allowed| allowed.matches(origin)),
            Policy::Custom(check) => check(origin, request),
        }
    }
}

impl Allowed {
    fn matches(&self, origin: &Uri) -> bool {
        let scheme = origin.scheme_str().unwrap_or_default();
        let host = origin.host().unwrap_or_default();
        let scheme_ok = self
            .scheme
            .as_ref()
            .is_none_or(|allowed| allowed.eq_ignore_ascii_case(scheme));
        let port_ok = self
            .port
            .is_none_or(|port| Some(port) == effective_port(scheme, origin.port_u16()));
        let host_ok = match self.host.strip_prefix("*.") {
            Some(domain) => {
                host.eq_ignore_ascii_case(domain)
                    || (host.len() > domain.len() + 1
                        && host.is_char_boundary(host.len() - domain.len() - 1)
                        && host[host.len() - domain.len() - 1..]
                            .eq_ignore_ascii_case(&format!(".{domain}")))
            }
            None => host.eq_ignore_ascii_case(&self.host),
        };
        scheme_ok && port_ok && host_ok
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for CheckOrigin {
    fn from(origins: [S; N]) -> Self {
        Self::list(origins)
    }
}

impl<S: AsRef<str>> From<Vec<S>> for CheckOrigin {
    fn from(origins: Vec<S>) -> Self {
        Self::list(origins)
    }
}

impl From<bool> for CheckOrigin {
    /// Phoenix's `check_origin: true` ([`same_host`](Self::same_host)) and `false`
    /// ([`any`](Self::any)).
    fn from(check: bool) -> Self {
        if check {
            Self::same_host()
        } else {
            Self::any()
        }
    }
}

/// `scheme://host:port`, `//host:port`, `host`: Phoenix's list entries.
fn parse_allowed(origin: &str) -> Option<Allowed> {
    let (scheme, rest) = match origin.split_once("//") {
        Some((scheme, rest)) => (scheme.strip_suffix(':'), rest),
        None => (None, origin),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, Some(port.parse::<u16>().ok()?))
        }
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    let scheme = scheme
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    let port = port.or_else(|| effective_port(scheme.as_deref()?, None));
    Some(Allowed {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// The request's host and port: the URI's authority (HTTP/2 `:authority`), else `Host`.
fn request_authority(request: &RequestInfo) -> Option<(String, Option<u16>)> {
    if let Some(authority) = request.uri().authority() {
        return Some((authority.host().to_owned(), authority.port_u16()));
    }
    let host = request.header(&header::HOST)?;
    let authority = host.to_str().ok()?.parse::<http::uri::Authority>().ok()?;
    Some((authority.host().to_owned(), authority.port_u16()))
}

/// A port, or the scheme's default one (`http`/`ws` 80, `https`/`wss` 443).
fn effective_port(scheme: &str, port: Option<u16>) -> Option<u16> {
    port.or(match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, origin: &str) -> RequestInfo {
        let request = http::Request::builder()
            .uri("/ws")
            .header(header::HOST, host)
            .header(header::ORIGIN, origin)
            .body(())
            .unwrap();
        RequestInfo::from_request(&request)
    }

    /// The check runs on every upgrade: building the request's `HeaderMap` for it would keep
    /// ≈ 600 B more with every idle connection (BENCHMARKS.md, memory per idle connection).
    #[test]
    fn the_check_reads_headers_without_building_the_map() {
        let info = request("example.com:4000", "https://example.com");
        assert!(CheckOrigin::same_host().check(&info).is_ok());
        assert!(CheckOrigin::strict().check(&info).is_err());
        assert!(!info.headers_built());
    }

    #[test]
    fn lists_follow_phoenix_format() {
        let check = CheckOrigin::list(["https://example.com", "//*.example.net", "//a.org:8080"]);
        let pass = |origin| check.check(&request("x", origin)).is_ok();
        assert!(pass("https://example.com"));
        assert!(pass("https://EXAMPLE.com:443"));
        assert!(!pass("http://example.com"));
        assert!(!pass("https://example.com:8443"));
        assert!(pass("http://example.net"));
        assert!(pass("https://deep.sub.example.net:9"));
        assert!(!pass("https://badexample.net"));
        assert!(pass("http://a.org:8080"));
        assert!(!pass("http://a.org"));
        assert!(!pass("null"));
    }

    #[test]
    fn same_host_ignores_scheme_and_port_strict_does_not() {
        let same = CheckOrigin::same_host();
        assert!(
            same.check(&request("example.com:4000", "https://example.com"))
                .is_ok()
        );
        assert!(
            same.check(&request("example.com", "http://evil.com"))
                .is_err()
        );
        let strict = CheckOrigin::strict();
        assert!(
            strict
                .check(&request("example.com:4000", "http://example.com:4000"))
                .is_ok()
        );
        assert!(
            strict
                .check(&request("example.com", "http://example.com:80"))
                .is_ok()
        );
        assert!(
            strict
                .check(&request("example.com:4000", "https://example.com:4000"))
                .is_err()
        );
        assert!(
            strict
                .check(&request("example.com:4000", "http://example.com"))
                .is_err()
        );
    }

    #[test]
    fn the_request_host_comes_from_the_uri_authority_first() {
        // HTTP/2 puts `:authority` in the URI and may send no `Host`.
        let request = http::Request::builder()
            .uri("https://chat.test:8443/ws")
            .header(header::ORIGIN, "https://chat.test")
            .body(())
            .unwrap();
        let request = RequestInfo::from_request(&request);
        assert!(CheckOrigin::same_host().check(&request).is_ok());
        assert!(CheckOrigin::strict().check(&request).is_err());
    }

    #[test]
    #[should_panic(expected = "invalid check_origin entry")]
    fn an_entry_without_a_host_panics() {
        let _ = CheckOrigin::list(["https://"]);
    }
}
