//! Routing requests to WebSocket endpoints by path, with path parameters, origin checks and
//! pre-upgrade checks.

use crate::{
    Body, CheckOrigin, Config, FromRequest, Handler, PathParams, Refuse, RequestInfo,
    callback::{catch_panic, catch_panic_sync},
    upgrade::Upgrade,
};
use http::{Request, Response, StatusCode};
use std::{fmt, future::Future, marker::PhantomData, pin::Pin, sync::Arc};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Maps paths to WebSocket endpoints. A `Router<S>` has state `S` ([`Router::with_state`]),
/// which its routes' handlers take with [`State<S>`](crate::State) in `init`; `Router::new()`
/// is a `Router<()>`.
///
/// ```
/// use websock_runtime::{Path, Router, websocket};
/// # use websock_runtime::{Close, Context, Handler, Message, Reply};
/// # struct Room;
/// # impl Handler for Room {
/// #     type Init = Path<u32>;
/// #     type Info = std::convert::Infallible;
/// #     async fn init(_: Path<u32>, _: &mut Context<Self>) -> Result<Self, Close> { Ok(Room) }
/// #     async fn handle_in(&mut self, _: Message, _: &mut Context<Self>) -> Reply { Reply::ok() }
/// # }
///
/// let router = Router::new()
///     .route("/ws/rooms/{id}", websocket::<Room>())
///     .check_origin(["https://example.com"]);
/// ```
///
/// Unknown paths get 404; a plain HTTP request to a WebSocket route gets 400 with the reason.
pub struct Router<S = ()> {
    paths: matchit::Router<usize>,
    /// Each bound to the state already, so serving needs no `S`.
    routes: Vec<Box<dyn Endpoint>>,
    origins: Option<CheckOrigin>,
    state: Arc<S>,
}

impl<S> fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("origins", &self.origins)
            .field("state", &std::any::type_name::<S>())
            .finish()
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    /// A router with no routes and no state.
    pub fn new() -> Self {
        Self::with_state(())
    }
}

impl<S: Send + Sync + 'static> Router<S> {
    /// A router with no routes whose handlers can take a clone of `state` in `init` with
    /// [`State<S>`](crate::State), as axum's `with_state`. Add the routes after it: a route
    /// whose handler asks for a state the router does not have does not compile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use websock_runtime::Router;
    ///
    /// let router: Router<Duration> = Router::with_state(Duration::from_secs(15));
    /// ```
    pub fn with_state(state: S) -> Self {
        Self {
            paths: matchit::Router::new(),
            routes: Vec::new(),
            origins: None,
            state: Arc::new(state),
        }
    }

    /// Serves `endpoint` at `path`; `{name}` segments are path parameters and `{*rest}` matches
    /// the rest of the path (matchit syntax).
    ///
    /// # Panics
    /// When `path` is not a valid pattern or conflicts with a route already added: a
    /// programming error, found the first time the router is built.
    pub fn route(mut self, path: &str, endpoint: impl Endpoint<S>) -> Self {
        if let Err(error) = self.paths.insert(path, self.routes.len()) {
            panic!("invalid route {path:?}: {error}");
        }
        self.routes.push(Box::new(WithRouterState {
            endpoint,
            state: self.state.clone(),
        }));
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

    /// Serves plain HTTP `POST` requests at `path` with `f`, which gets the request and its
    /// whole body: at most 64 KiB ([`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT), else 413)
    /// within 10 s (else 408). Other methods get 405 with `Allow: POST`. For another limit or
    /// timeout, add [`post(f).body_limit(n)`](crate::post) with [`route`](Self::route).
    ///
    /// ```
    /// use websock_runtime::{Body, Router, http::Response};
    ///
    /// let router = Router::new().post("/api/echo", |_request, body| async move {
    ///     Response::new(Body::from(body))
    /// });
    /// ```
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn post<F, Fut>(self, path: &str, f: F) -> Self
    where
        F: Fn(RequestInfo, bytes::Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        self.route(path, crate::post(f))
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

    /// The routes without the state's type: each route holds the state already, so the server
    /// and the tower service serve any `Router<S>` as a `Router`.
    pub(crate) fn into_stateless(self) -> Router {
        Router {
            paths: self.paths,
            routes: self.routes,
            origins: self.origins,
            state: Arc::new(()),
        }
    }

    /// Answers one request: route it, check it, upgrade it.
    pub fn handle<B>(
        &self,
        request: Request<B>,
    ) -> impl Future<Output = Response<Body>> + Send + use<B, S> {
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
                Ok(self.routes[index].call(request, self.origins.clone(), &()))
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

/// Something a [`Router<S>`](Router) can serve at a path: a [`WebSocketRoute`] (made by
/// [`websocket`] or [`WebSocketRoute::with_init`]), a channel socket, a page.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be served by a `Router<{S}>`",
    label = "not an endpoint for a router whose state is `{S}`",
    note = "routes are made by `websocket::<Handler>()`, `WebSocketRoute::<Handler>::with_init(..)` \
            or a channel `socket(..)`"
)]
pub trait Endpoint<S = ()>: Send + Sync + 'static {
    /// Answers a request routed here, with the router's state.
    #[doc(hidden)]
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        state: &S,
    ) -> BoxFuture<Response<Body>>;
}

/// A route of a `Router<S>` with the router's state, as the router keeps it.
struct WithRouterState<E, S> {
    endpoint: E,
    state: Arc<S>,
}

impl<E: Endpoint<S>, S: Send + Sync + 'static> Endpoint for WithRouterState<E, S> {
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        _: &(),
    ) -> BoxFuture<Response<Body>> {
        self.endpoint.call(request, origins, &self.state)
    }
}

/// A user's pre-upgrade check, boxed.
type AsyncInit<I> = Arc<dyn Fn(RequestInfo) -> BoxFuture<Result<I, Refuse>> + Send + Sync>;

/// How a [`WebSocketRoute`] made by [`WebSocketRoute::with_init`] builds its handler's `Init`:
/// the user's async check.
pub struct CheckInit<H: Handler>(AsyncInit<H::Init>);

/// How a [`WebSocketRoute`] made by [`websocket`] builds its handler's `Init`: with
/// [`FromRequest`], from the request and the router's state.
#[derive(Clone, Copy, Debug)]
pub struct ExtractInit;

/// How a [`WebSocketRoute`] given its own state by [`WebSocketRoute::with_state`] builds its
/// handler's `Init`: with [`FromRequest`], from the request and that state.
pub struct StateInit<T>(T);

/// A WebSocket endpoint served by `H`; see [`websocket`] and [`WebSocketRoute::with_init`].
/// `M` says where the handler's `Init` comes from ([`ExtractInit`], [`CheckInit`],
/// [`StateInit`]); it is inferred.
pub struct WebSocketRoute<H: Handler, M = CheckInit<H>> {
    init: M,
    // Shared by the route's connections: each keeps a pointer, not a copy.
    config: Arc<Config>,
    origins: Option<CheckOrigin>,
    _handler: PhantomData<fn() -> H>,
}

/// A route that upgrades to `H`, building its `Init` with [`FromRequest`]: the extractors
/// `init` takes ([`Path`](crate::Path), [`Query`](crate::Query), [`State`](crate::State),
/// headers, the peer address...), from the request and the state of the router it is added to.
pub fn websocket<H: Handler>() -> WebSocketRoute<H, ExtractInit> {
    WebSocketRoute::new(ExtractInit)
}

impl<H: Handler> WebSocketRoute<H, ExtractInit> {
    /// This route with its own state, which its handler's [`State<T>`](crate::State) takes
    /// instead of the router's: the route can then be added to a router with any state.
    pub fn with_state<T>(self, state: T) -> WebSocketRoute<H, StateInit<T>>
    where
        T: Send + Sync + 'static,
        H::Init: FromRequest<T>,
    {
        WebSocketRoute {
            init: StateInit(state),
            config: self.config,
            origins: self.origins,
            _handler: PhantomData,
        }
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
        Self::new(CheckInit(Arc::new(move |request| Box::pin(check(request)))))
    }
}

impl<H: Handler, M> WebSocketRoute<H, M> {
    fn new(init: M) -> Self {
        Self {
            init,
            config: Arc::default(),
            origins: None,
            _handler: PhantomData,
        }
    }

    /// The connection options for this route.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The subprotocols this route speaks (see [`Config::protocols`]).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config = Arc::new((*self.config).clone().protocols(protocols));
        self
    }

    /// Which `Origin`s may open this route (see [`Router::check_origin`]).
    pub fn check_origin(mut self, check: impl Into<CheckOrigin>) -> Self {
        self.origins = Some(check.into());
        self
    }

    /// The handshake and origin checks, then `init` builds the handler's `Init` from the
    /// request, then the 101. Only an async check makes the answer wait.
    fn answer(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        init: impl FnOnce(&RequestInfo) -> PendingInit<H::Init>,
    ) -> BoxFuture<Response<Body>> {
        let ready =
            |response| -> BoxFuture<Response<Body>> { Box::pin(std::future::ready(response)) };
        let origins = self.origins.clone().or(origins).unwrap_or_default();
        let upgrade = match Upgrade::new(request, &self.config) {
            Ok(upgrade) => upgrade,
            Err(refuse) => return ready(refuse.into_response()),
        };
        if let Err(refuse) = origins.check(upgrade.request()) {
            return ready(refuse.into_response());
        }
        // A panicking check answers 500 instead of killing the HTTP connection's task
        // without a word.
        match catch_panic_sync(|| init(upgrade.request())) {
            Ok(PendingInit::Ready(init)) => ready(finish::<H>(upgrade, Ok(init))),
            Ok(PendingInit::Check(check)) => Box::pin(async move {
                let init = catch_panic(check).await;
                finish::<H>(upgrade, init)
            }),
            Err(panic) => ready(finish::<H>(upgrade, Err(panic))),
        }
    }
}

/// A handler's `Init`, built or on its way.
enum PendingInit<I> {
    Ready(Result<I, Refuse>),
    Check(BoxFuture<Result<I, Refuse>>),
}

/// The 101 with the built `Init`, or the refusal (500 for a panic, counted).
fn finish<H: Handler>(
    upgrade: Upgrade,
    init: Result<Result<H::Init, Refuse>, String>,
) -> Response<Body> {
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
}

impl<H: Handler, S> Endpoint<S> for WebSocketRoute<H, ExtractInit>
where
    H::Init: FromRequest<S>,
{
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        state: &S,
    ) -> BoxFuture<Response<Body>> {
        self.answer(request, origins, |request| {
            PendingInit::Ready(<H::Init as FromRequest<S>>::from_request(request, state))
        })
    }
}

impl<H: Handler, T: Send + Sync + 'static, S> Endpoint<S> for WebSocketRoute<H, StateInit<T>>
where
    H::Init: FromRequest<T>,
{
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        _: &S,
    ) -> BoxFuture<Response<Body>> {
        self.answer(request, origins, |request| {
            PendingInit::Ready(<H::Init as FromRequest<T>>::from_request(
                request,
                &self.init.0,
            ))
        })
    }
}

impl<H: Handler, S> Endpoint<S> for WebSocketRoute<H> {
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        _: &S,
    ) -> BoxFuture<Response<Body>> {
        let check = self.init.0.clone();
        self.answer(request, origins, move |request| {
            PendingInit::Check(check(request.clone()))
        })
    }
}

/// A plain HTTP endpoint; see [`Router::get`].
struct Page<F>(F);

impl<F, Fut, S> Endpoint<S> for Page<F>
where
    F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    fn call(
        &self,
        request: Request<()>,
        _origins: Option<CheckOrigin>,
        _: &S,
    ) -> BoxFuture<Response<Body>> {
        if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
            let refuse = Refuse::method_not_allowed("GET, HEAD");
            return Box::pin(std::future::ready(refuse.into_response()));
        }
        Box::pin((self.0)(RequestInfo::from_request(&request)))
    }
}
