//! Routing requests to WebSocket endpoints by path, with path parameters, origin checks and
//! pre-upgrade checks.

use crate::{
    Body, CheckOrigin, Config, FromRequest, Handler, PathParams, Refuse, RequestInfo,
    callback::{catch_panic, catch_panic_sync},
    upgrade::Upgrade,
};
use http::{Request, Response, StatusCode, header};
use std::{fmt, future::Future, marker::PhantomData, pin::Pin, sync::Arc};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Maps paths to WebSocket endpoints.
///
/// ```
/// use websock_runtime::{Router, websocket};
/// # use websock_runtime::{Close, Context, Handler, Message, PathParams, Reply};
/// # struct Room;
/// # impl Handler for Room {
/// #     type Init = PathParams;
/// #     type Info = std::convert::Infallible;
/// #     async fn init(_: PathParams, _: &mut Context<Self>) -> Result<Self, Close> { Ok(Room) }
/// #     async fn handle_in(&mut self, _: Message, _: &mut Context<Self>) -> Reply { Reply::ok() }
/// # }
///
/// let router = Router::new()
///     .route("/ws/rooms/{id}", websocket::<Room>())
///     .check_origin(["https://example.com"]);
/// ```
///
/// Unknown paths get 404; a plain HTTP request to a WebSocket route gets 400 with the reason.
#[derive(Default)]
pub struct Router {
    paths: matchit::Router<usize>,
    routes: Vec<Box<dyn Endpoint>>,
    origins: Option<CheckOrigin>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("origins", &self.origins)
            .finish()
    }
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `endpoint` at `path`; `{name}` segments are path parameters and `{*rest}` matches
    /// the rest of the path (matchit syntax).
    ///
    /// # Panics
    /// When `path` is not a valid pattern or conflicts with a route already added: a
    /// programming error, found the first time the router is built.
    pub fn route(mut self, path: &str, endpoint: impl Endpoint) -> Self {
        if let Err(error) = self.paths.insert(path, self.routes.len()) {
            panic!("invalid route {path:?}: {error}");
        }
        self.routes.push(Box::new(endpoint));
        self
    }

    /// Serves plain HTTP `GET` (and `HEAD`) requests at `path` with `page`: a status page, the
    /// HTML and scripts of a front end. Other methods get 405.
    ///
    /// ```
    /// use websock_runtime::{Body, Router, http::Response};
    ///
    /// let router = Router::new().get("/health", |_request| async { Response::new(Body::from("ok")) });
    /// ```
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn get<F, Fut>(self, path: &str, page: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        self.route(path, Page(page))
    }

    /// Which `Origin`s may open a WebSocket, as Phoenix's `check_origin`: by default
    /// ([`CheckOrigin::same_host`]) the Origin's host must equal the request's host. Pass a list
    /// (Phoenix's format, `"//*.example.com"`), `false` or a [`CheckOrigin`]; refused upgrades
    /// get 403 with the reason, requests without an `Origin` header (non-browser clients)
    /// pass. A route's own `check_origin` takes precedence.
    pub fn check_origin(mut self, check: impl Into<CheckOrigin>) -> Self {
        self.origins = Some(check.into());
        self
    }

    /// Answers one request: route it, check it, upgrade it.
    pub fn handle<B>(
        &self,
        request: Request<B>,
    ) -> impl Future<Output = Response<Body>> + Send + use<B> {
        let mut request = request.map(|_| ());
        let path = request.uri().path();
        let answer = match self.paths.at(path) {
            Ok(matched) => {
                let params = matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let index = *matched.value;
                request.extensions_mut().insert(PathParams::new(params));
                Ok(self.routes[index].call(request, self.origins.clone()))
            }
            Err(_) => Err(Refuse::new(
                StatusCode::NOT_FOUND,
                format!("no route for {path}\n"),
            )),
        };
        async move {
            match answer {
                Ok(future) => future.await,
                Err(refuse) => refuse.into_response(),
            }
        }
    }
}

/// Something a [`Router`] can serve at a path; made by [`websocket`].
pub trait Endpoint: Send + Sync + 'static {
    /// Answers a request routed here.
    #[doc(hidden)]
    fn call(&self, request: Request<()>, origins: Option<CheckOrigin>)
    -> BoxFuture<Response<Body>>;
}

/// A user's pre-upgrade check, boxed.
type AsyncInit<I> = Arc<dyn Fn(RequestInfo) -> BoxFuture<Result<I, Refuse>> + Send + Sync>;

/// How a route builds its handler's `Init` from the request.
enum InitFn<H: Handler> {
    Sync(fn(&RequestInfo) -> Result<H::Init, Refuse>),
    Async(AsyncInit<H::Init>),
}

impl<H: Handler> Clone for InitFn<H> {
    fn clone(&self) -> Self {
        match self {
            Self::Sync(f) => Self::Sync(*f),
            Self::Async(f) => Self::Async(f.clone()),
        }
    }
}

/// A WebSocket endpoint served by `H`; see [`websocket`].
pub struct WebSocketRoute<H: Handler> {
    init: InitFn<H>,
    config: Config,
    origins: Option<CheckOrigin>,
    _handler: PhantomData<fn() -> H>,
}

/// A route that upgrades to `H`, building its `Init` with [`FromRequest`] (path parameters,
/// the whole request, or nothing).
pub fn websocket<H>() -> WebSocketRoute<H>
where
    H: Handler,
    H::Init: FromRequest,
{
    WebSocketRoute {
        init: InitFn::Sync(<H::Init as FromRequest>::from_request),
        config: Config::default(),
        origins: None,
        _handler: PhantomData,
    }
}

impl<H: Handler> WebSocketRoute<H> {
    /// A route whose `Init` comes from an async check run before the upgrade (authentication,
    /// a database lookup); a [`Refuse`] answers with its status and body instead of the 101.
    pub fn with_init<F, Fut>(check: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<H::Init, Refuse>> + Send + 'static,
    {
        Self {
            init: InitFn::Async(Arc::new(move |request| Box::pin(check(request)))),
            config: Config::default(),
            origins: None,
            _handler: PhantomData,
        }
    }

    /// The connection options for this route.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this route speaks (see [`Config::protocols`]).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config = self.config.protocols(protocols);
        self
    }

    /// Which `Origin`s may open this route (see [`Router::check_origin`]).
    pub fn check_origin(mut self, check: impl Into<CheckOrigin>) -> Self {
        self.origins = Some(check.into());
        self
    }
}

impl<H: Handler> Endpoint for WebSocketRoute<H> {
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
    ) -> BoxFuture<Response<Body>> {
        let origins = self.origins.clone().or(origins).unwrap_or_default();
        let init = self.init.clone();
        let config = self.config.clone();
        Box::pin(async move {
            let upgrade = match Upgrade::new(request, &config) {
                Ok(upgrade) => upgrade,
                Err(refuse) => return refuse.into_response(),
            };
            if let Err(refuse) = origins.check(upgrade.request()) {
                return refuse.into_response();
            }
            // A panicking check answers 500 instead of killing the HTTP connection's task
            // without a word.
            let init = match init {
                InitFn::Sync(f) => {
                    let request = upgrade.request();
                    catch_panic_sync(|| f(request))
                }
                InitFn::Async(f) => catch_panic(f(upgrade.request().clone())).await,
            };
            let init = init.unwrap_or_else(|panic| {
                upgrade.count_panic(&panic);
                Err(Refuse::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error\n",
                ))
            });
            match init {
                Ok(init) => upgrade.accept::<H>(init),
                Err(refuse) => refuse.into_response(),
            }
        })
    }
}

/// A plain HTTP endpoint; see [`Router::get`].
struct Page<F>(F);

impl<F, Fut> Endpoint for Page<F>
where
    F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    fn call(
        &self,
        request: Request<()>,
        _origins: Option<CheckOrigin>,
    ) -> BoxFuture<Response<Body>> {
        if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
            let refuse = Refuse::new(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n")
                .with_header(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return Box::pin(std::future::ready(refuse.into_response()));
        }
        Box::pin((self.0)(RequestInfo::from_request(&request)))
    }
}
