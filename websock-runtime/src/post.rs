//! Plain HTTP `POST` endpoints beside the WebSocket routes: a login form, a JSON API call.
//! The body is read up to a limit and within a timeout, and handed over whole.

use crate::{
    Body, CheckOrigin, Endpoint, Refuse, RequestInfo, router::BoxFuture, stream::RequestBody,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::{fmt, future::Future, sync::Arc, time::Duration};

/// The body limit of a [`post`] endpoint unless [`Post::body_limit`] says otherwise: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How long a [`post`] endpoint waits for the whole body unless [`Post::body_timeout`] says
/// otherwise: 10 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `POST` endpoint made by [`post`] (or [`Router::post`](crate::Router::post)): `f` gets
/// the request and its whole body.
pub struct Post<F> {
    f: Arc<F>,
    limit: usize,
    timeout: Duration,
}

impl<F> fmt::Debug for Post<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Post")
            .field("limit", &self.limit)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A plain HTTP `POST` endpoint, as axum's `routing::post`: `f` gets the request and its body,
/// read whole, and answers. Add it with [`Router::route`](crate::Router::route), or use
/// [`Router::post`](crate::Router::post) for the defaults.
///
/// ```
/// use std::time::Duration;
/// use websock_runtime::{Body, Router, http::Response, post};
///
/// let upload = post(|_request, body| async move {
///     Response::new(Body::from(format!("{} bytes", body.len())))
/// })
/// .body_limit(1024 * 1024)
/// .body_timeout(Duration::from_secs(30));
/// let router = Router::new().route("/upload", upload);
/// # let _ = router;
/// ```
///
/// What a client meets, before `f` runs:
/// - a `Content-Length` over the limit ([`DEFAULT_BODY_LIMIT`], 64 KiB): 413, the body unread;
/// - a body without a length (chunked) that grows over the limit: 413 once it does, with no
///   more than the limit kept (one read of the connection past it at most);
/// - a body not in whole within the timeout ([`DEFAULT_BODY_TIMEOUT`], 10 s): 408;
/// - another method: 405 with `Allow: POST`.
///
/// The body is read from the request websock's [`Server`](crate::Server) hands the router.
/// Through [`Router::into_service`](crate::Router::into_service) (mounted in axum) requests
/// reach the router without their bodies, so a `post` route answers 500 there: serve `POST`
/// routes with axum's own `post` in that case.
pub fn post<F, Fut>(f: F) -> Post<F>
where
    F: Fn(RequestInfo, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Post {
        f: Arc::new(f),
        limit: DEFAULT_BODY_LIMIT,
        timeout: DEFAULT_BODY_TIMEOUT,
    }
}

impl<F> Post<F> {
    /// The most bytes of body this endpoint takes; longer bodies get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// How long the whole body may take to arrive; slower ones get 408.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<F, Fut, S> Endpoint<S> for Post<F>
where
    F: Fn(RequestInfo, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    fn call(
        &self,
        request: Request<()>,
        _origins: Option<CheckOrigin>,
        _: &S,
    ) -> BoxFuture<Response<Body>> {
        if request.method() != http::Method::POST {
            let refuse = Refuse::method_not_allowed("POST");
            return Box::pin(std::future::ready(refuse.into_response()));
        }
        let (limit, timeout, f) = (self.limit, self.timeout, self.f.clone());
        Box::pin(async move {
            let info = RequestInfo::from_request(&request);
            match read_body(&request, limit, timeout).await {
                Ok(body) => f(info, body).await,
                Err(refuse) => {
                    tracing::debug!(path = info.path(), status = %refuse.status(), "POST body refused");
                    refuse.into_response()
                }
            }
        })
    }
}

/// The whole body, or why not: 413 over `limit` (before reading when the length is declared),
/// 408 when not in within `timeout`, 400 when the client broke it off.
async fn read_body(
    request: &Request<()>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refuse> {
    let too_large = || {
        Refuse::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {limit} bytes\n"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let Some(body) = request
        .extensions()
        .get::<RequestBody>()
        .and_then(RequestBody::take)
    else {
        tracing::error!("POST route without a request body: serve it with websock's Server");
        return Err(Refuse::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "request body unavailable\n",
        ));
    };
    // `Limited` fails as soon as a frame takes the total over the limit: nothing past it is
    // kept, and the rest is never read.
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(Refuse::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {timeout:?}\n"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(error)) => Err(Refuse::bad_request(format!("reading the body: {error}\n"))),
    }
}
