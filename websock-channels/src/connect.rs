//! What a socket's `connect` works with: Phoenix's `UserSocket` behaviour, its params, info,
//! assigns and refusal, and the per-socket limits.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    fmt,
    future::Future,
    time::Duration,
};
use websock_runtime::RequestInfo;

/// What a socket's `connect` hands to its channels: any values, one per type (the user, the
/// tenant, ..), read with [`get`](Self::get).
#[derive(Default)]
pub struct Assigns {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Assigns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assigns")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Assigns {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `value` added (replacing one of the same type).
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.insert(value);
        self
    }

    /// Adds `value`, returning the one of the same type it replaces.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.values
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|old| *old))
    }

    /// The value of type `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

/// The socket's params: phoenix.js `params` as query parameters (`vsn` removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// Params from pairs.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every param, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What `connect` knows about the connection besides its params (Phoenix's `connect_info`).
#[derive(Clone, Debug, Default)]
pub struct ConnectInfo {
    pub(crate) request: Option<RequestInfo>,
    pub(crate) auth_token: Option<String>,
}

impl ConnectInfo {
    /// Info for a test connection: no HTTP request, perhaps a token.
    pub fn new(auth_token: Option<String>) -> Self {
        Self {
            request: None,
            auth_token,
        }
    }

    /// Info for a test connection that also carries a request, e.g.
    /// `RequestInfo::from_request(&http::Request::get("/socket/websocket?vsn=2.0.0").body(())?)`.
    pub fn with_request(mut self, request: RequestInfo) -> Self {
        self.request = Some(request);
        self
    }

    /// The upgrade request (headers, peer address); `None` for test connections made without
    /// [`with_request`](Self::with_request).
    pub fn request(&self) -> Option<&RequestInfo> {
        self.request.as_ref()
    }

    /// phoenix.js 1.8's `authToken`: decoded from the `Sec-WebSocket-Protocol` header, or
    /// over LongPoll the `X-Phoenix-AuthToken` header.
    pub fn auth_token(&self) -> Option<&str> {
        self.auth_token.as_deref()
    }
}

/// A refused `connect`: HTTP 403 with an empty body, before the upgrade (phoenix.js sees an
/// error and keeps reconnecting on its schedule).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    reason: String,
}

impl Refused {
    /// A refusal; `reason` is logged, never sent.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The logged reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connect refused: {}", self.reason)
    }
}

impl std::error::Error for Refused {}

/// A socket endpoint's behaviour: Phoenix's `UserSocket`.
///
/// ```
/// use websock_channels::{Assigns, ConnectInfo, Params, Refused, Socket};
///
/// struct UserSocket;
/// struct UserId(u64);
///
/// impl Socket for UserSocket {
///     async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
///         let id = params.get("token").and_then(|t| t.parse().ok()).ok_or(Refused::new("bad token"))?;
///         Ok(Assigns::new().with(UserId(id)))
///     }
///
///     fn id(&self, assigns: &Assigns) -> Option<String> {
///         assigns.get::<UserId>().map(|user| format!("user_socket:{}", user.0))
///     }
/// }
/// ```
pub trait Socket: Send + Sync + 'static {
    /// Authenticates a connection before the upgrade: `Ok` with what its channels may read,
    /// or `Err` for HTTP 403.
    fn connect(
        &self,
        params: &Params,
        info: &ConnectInfo,
    ) -> impl Future<Output = Result<Assigns, Refused>> + Send;

    /// The socket's id (`user_socket:42`): [`PubSub::disconnect`](crate::PubSub::disconnect) with it closes every socket
    /// of that user. `None` (the default) for anonymous sockets.
    fn id(&self, assigns: &Assigns) -> Option<String> {
        let _ = assigns;
        None
    }
}

/// A socket that accepts everyone, with no assigns.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnonymousSocket;

impl Socket for AnonymousSocket {
    async fn connect(&self, _: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        Ok(Assigns::new())
    }
}

/// The socket's token bucket: `per_second` messages on average, bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub(crate) per_second: f64,
    pub(crate) burst: f64,
    pub(crate) close_after: u32,
}

impl RateLimit {
    /// `per_second` messages a second on average, up to `burst` at once. A message over the
    /// limit gets the error reply `{"reason":"rate_limited"}`; 50 of those in a row close
    /// the socket with 1008 (phoenix.js reconnects after a pause). Every frame but a
    /// heartbeat takes a token before it is decoded, frames that do not decode included.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            close_after: 50,
        }
    }

    /// How many refused messages in a row close the socket (1008).
    pub fn close_after(mut self, refused_in_a_row: u32) -> Self {
        self.close_after = refused_in_a_row.max(1);
        self
    }
}

/// The per-socket limits.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_channels: usize,
    pub(crate) max_payload: usize,
    pub(crate) rate: Option<RateLimit>,
    /// How long one channel callback may run before its channel crashes.
    pub(crate) callback_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_channels: 100,
            max_payload: 1 << 20,
            rate: Some(RateLimit::new(500, 1000)),
            callback_timeout: Some(Duration::from_secs(30)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_by_type() {
        let mut assigns = Assigns::new().with(42u32).with("x".to_owned());
        assert_eq!(assigns.get::<u32>(), Some(&42));
        assert_eq!(assigns.insert(7u32), Some(42));
        assert_eq!(assigns.get::<String>().map(String::as_str), Some("x"));
        assert!(assigns.get::<u8>().is_none());
    }
}
