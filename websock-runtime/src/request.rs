//! What a handler can see of the HTTP request that opened its connection.

use crate::percent::decode_query;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use std::{net::SocketAddr, sync::OnceLock};

/// Path parameters matched by the [`Router`](crate::Router), in the order of the pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl FromIterator<(String, String)> for PathParams {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl PathParams {
    pub(crate) fn new(params: Vec<(String, String)>) -> Self {
        Self(params)
    }

    /// The value of the parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every parameter, in the order of the pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The peer address of a connection, as a request extension: [`serve`](crate::serve) inserts
/// it; insert it yourself when mounting in another server (axum: from `ConnectInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The HTTP request that opened a connection, kept for the handler's [`Context`](crate::Context)
/// and given to a route's pre-upgrade check.
///
/// Every connection keeps its own for its whole life, so it is kept small: the URI and the
/// headers are text in one block, and the `Uri` and `HeaderMap` are built from it on first use.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub(crate) method: Method,
    /// The URI's text, then the path's if the URI's text does not hold it, then the header
    /// block, `name:value\n` per header (see `copy_head`).
    head: Bytes,
    /// Where in `head` the URI's text ends, where the path is, where the headers start.
    uri_end: u32,
    path: (u32, u32),
    headers_start: u32,
    /// Built from `head` on first use (88 B, and most connections never ask).
    uri: OnceLock<Box<Uri>>,
    /// Built from `head` on first use: a `HeaderMap` is several times the size of the text,
    /// and most connections never look at their headers after the upgrade.
    headers: OnceLock<Box<HeaderMap>>,
    pub(crate) params: PathParams,
    pub(crate) peer: Option<SocketAddr>,
    // Boxed: most connections have none.
    pub(crate) selected_protocol: Option<Box<http::HeaderValue>>,
}

impl RequestInfo {
    /// What a handler would see of `request`: its method, URI, headers, and the [`PathParams`]
    /// and [`PeerAddr`] extensions when present. For tests and for layers built on the runtime.
    pub fn from_request<B>(request: &http::Request<B>) -> Self {
        Self::new(
            request.method(),
            request.uri(),
            request.headers(),
            request.extensions(),
        )
    }

    pub(crate) fn from_parts(parts: &http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers, &parts.extensions)
    }

    fn new(method: &Method, uri: &Uri, headers: &HeaderMap, extensions: &http::Extensions) -> Self {
        let head = copy_head(uri, headers);
        Self {
            method: method.clone(),
            head: head.block,
            uri_end: head.uri_end,
            path: head.path,
            headers_start: head.headers_start,
            uri: OnceLock::new(),
            headers: OnceLock::new(),
            params: extensions.get::<PathParams>().cloned().unwrap_or_default(),
            peer: extensions.get::<PeerAddr>().map(|peer| peer.0),
            selected_protocol: None,
        }
    }

    /// The request method (always GET for an upgrade).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        self.uri.get_or_init(|| {
            let text = self.head.slice(..self.uri_end as usize);
            // The text is a `Uri`'s own rendering, so it parses back.
            Box::new(Uri::from_maybe_shared(text).unwrap_or_default())
        })
    }

    /// The request path.
    pub fn path(&self) -> &str {
        let (start, end) = self.path;
        std::str::from_utf8(&self.head[start as usize..end as usize]).unwrap_or("/")
    }

    /// The query string, when the URI has one.
    fn query_str(&self) -> Option<&str> {
        let (_, path_end) = self.path;
        if path_end > self.uri_end {
            // The path was not in the URI's text: rare enough to build the `Uri`.
            return self.uri().query();
        }
        let rest = &self.head[path_end as usize..self.uri_end as usize];
        std::str::from_utf8(rest.strip_prefix(b"?")?).ok()
    }

    /// The header block: `name:value\n` per header.
    fn head_block(&self) -> Bytes {
        self.head.slice(self.headers_start as usize..)
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
            .get_or_init(|| Box::new(parse_head(&self.head_block())))
    }

    /// A copy of the request headers that leaves this `RequestInfo` as it was: the
    /// `HeaderMap` extractor's, since the connection keeps its `RequestInfo` (see `headers`).
    pub(crate) fn headers_owned(&self) -> HeaderMap {
        match self.headers.get() {
            Some(headers) => (**headers).clone(),
            None => parse_head(&self.head_block()),
        }
    }

    /// The first value of the header `name`. Until [`headers`](Self::headers) is called it
    /// is read from the request's header text, so a check that reads one or two headers
    /// (the origin check, a token) does not build a `HeaderMap` that the connection would then
    /// keep for its whole life (≈ 90 B per header).
    pub fn header(&self, name: &HeaderName) -> Option<HeaderValue> {
        if let Some(headers) = self.headers.get() {
            return headers.get(name).cloned();
        }
        // Copied rather than sliced: a slice would give the block a shared header (24 B) that
        // the connection would keep for its whole life.
        let name = name.as_str().as_bytes();
        let block = &self.head[self.headers_start as usize..];
        block
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(b":"))
            .and_then(|value| HeaderValue::from_bytes(value).ok())
    }

    /// Whether the `HeaderMap` has been built (it is then kept with the connection).
    #[cfg(test)]
    pub(crate) fn headers_built(&self) -> bool {
        self.headers.get().is_some()
    }

    /// The path parameters the router matched.
    pub fn params(&self) -> &PathParams {
        &self.params
    }

    /// The path parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// The first value of the query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// Every query parameter, percent-decoded, in order.
    pub fn query_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.query_str()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_query(key), decode_query(value))
            })
    }

    /// The client's address, when the server knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
}

/// A request's URI and headers copied into one block.
struct Head {
    block: Bytes,
    uri_end: u32,
    path: (u32, u32),
    headers_start: u32,
}

// hyper parses the URI and header values as slices of its 8 KiB request-head buffer: a clone
// would keep that whole buffer alive for the connection's life (see BENCHMARKS.md). The request
// a connection keeps is copied out instead, URI and headers into one block of text, parsed
// again only if someone asks. Names never contain ':' and values never contain '\n', so the
// block needs no escaping. (Offsets are `u32`: hyper refuses request heads far shorter.)
fn copy_head(uri: &Uri, headers: &HeaderMap) -> Head {
    let uri_text = uri.to_string();
    let path = uri.path();
    // `scheme://authority` + path + `?query`: the path is just before the query.
    let query_len = uri.query().map_or(0, |query| query.len() + 1);
    let path_start = uri_text
        .len()
        .checked_sub(path.len() + query_len)
        .filter(|&start| uri_text.get(start..start + path.len()) == Some(path));
    let headers_len: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 2)
        .sum();
    let copied_path = if path_start.is_some() { 0 } else { path.len() };
    let mut block = Vec::with_capacity(uri_text.len() + copied_path + headers_len);
    block.extend_from_slice(uri_text.as_bytes());
    let path_start = path_start.unwrap_or_else(|| {
        // A URI whose text has no path ("http://host" has the path "/").
        block.extend_from_slice(path.as_bytes());
        uri_text.len()
    });
    let headers_start = block.len();
    for (name, value) in headers {
        block.extend_from_slice(name.as_str().as_bytes());
        block.push(b':');
        block.extend_from_slice(value.as_bytes());
        block.push(b'\n');
    }
    let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
    Head {
        // Exactly the capacity asked for: the `Bytes` takes the allocation as it is, and
        // allocates its shared header only when a header is first read.
        block: Bytes::from(block),
        uri_end: offset(uri_text.len()),
        path: (offset(path_start), offset(path_start + path.len())),
        headers_start: offset(headers_start),
    }
}

fn parse_head(head: &Bytes) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(head_lines(head).count());
    for (name, value) in head_lines(head) {
        let name = HeaderName::from_bytes(name);
        let value = HeaderValue::from_maybe_shared(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    headers
}

/// The `name:value` lines of a header block (see `copy_head`): each name, and its value as a
/// slice of the block.
fn head_lines(head: &Bytes) -> impl Iterator<Item = (&[u8], Bytes)> {
    let mut start = 0;
    head.split(|&b| b == b'\n').filter_map(move |line| {
        let line_start = start;
        start += line.len() + 1;
        let colon = line.iter().position(|&b| b == b':')?;
        let value = head.slice(line_start + colon + 1..line_start + line.len());
        Some((&line[..colon], value))
    })
}

#[cfg(test)]
mod from_request_tests {
    use super::*;

    #[test]
    fn one_header_is_read_without_building_the_map() {
        let request = http::Request::get("/ws?x=1")
            .header("host", "example.com")
            .header("origin", "https://a.example")
            .header("origin", "https://b.example")
            .header("x-empty", "")
            .body(())
            .unwrap();
        let info = RequestInfo::from_request(&request);
        assert_eq!(info.header(&http::header::HOST).unwrap(), "example.com");
        assert_eq!(
            info.header(&http::header::ORIGIN).unwrap(),
            "https://a.example"
        );
        assert_eq!(
            info.header(&HeaderName::from_static("x-empty")).unwrap(),
            ""
        );
        assert!(info.header(&http::header::COOKIE).is_none());
        assert!(!info.headers_built(), "no HeaderMap was built");
        assert_eq!(info.headers().len(), 4);
        assert_eq!(
            info.header(&http::header::ORIGIN).unwrap(),
            "https://a.example"
        );
    }

    #[test]
    fn headers_survive_the_copy_in_order_with_repeats_and_empty_values() {
        let request = http::Request::get("http://example.com/a/b?x=1%202")
            .header("host", "example.com")
            .header("x-empty", "")
            .header("cookie", "a=1")
            .header("cookie", "b=2: with colon")
            .header("x-custom-name", "caf\u{e9}")
            .body(())
            .unwrap();
        let info = RequestInfo::from_request(&request);
        assert_eq!(info.uri(), request.uri());
        assert_eq!(info.path(), "/a/b");
        assert_eq!(info.query("x").as_deref(), Some("1 2"));
        assert_eq!(info.headers(), request.headers());
        let cookies: Vec<_> = info.headers().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2: with colon"]);
        assert_eq!(info.clone().headers()["x-empty"], "");
    }

    #[test]
    fn from_request_reads_extensions() {
        let mut request = http::Request::get("/rooms/1?token=a%2Bb").body(()).unwrap();
        request
            .extensions_mut()
            .insert(PathParams::from_iter([("id".to_owned(), "1".to_owned())]));
        request
            .extensions_mut()
            .insert(PeerAddr("127.0.0.1:9".parse().unwrap()));
        let info = RequestInfo::from_request(&request);
        assert_eq!(info.param("id"), Some("1"));
        assert_eq!(info.query("token").as_deref(), Some("a+b"));
        assert_eq!(info.peer_addr(), Some("127.0.0.1:9".parse().unwrap()));
    }
}
