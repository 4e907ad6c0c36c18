//! Mounting a [`Router`] in another server as a tower `Service`: axum's `route_service` and
//! `nest_service`, or anything else that serves tower services on hyper.

use crate::{Body, Router};
use http::{Request, Response};
use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

/// A [`Router`] as a cloneable tower [`Service`](tower_service::Service); made by
/// [`Router::into_service`].
///
/// The upgrade is taken from the request's extensions, where hyper puts it (axum's requests
/// come from hyper), and so is the [`ServerHandle`](crate::ServerHandle): add it with
/// `axum::Extension(handle)` for graceful shutdown, draining and the connection limit.
///
/// ```
/// # use websock_runtime::{Router, ServerHandle};
/// # fn f(router: Router) {
/// let service = router.into_service();
/// // axum::Router::new()
/// //     .nest_service("/ws", service)
/// //     .layer(axum::Extension(ServerHandle::new()));
/// # let _ = service;
/// # }
/// ```
#[derive(Clone)]
pub struct RouterService {
    router: Arc<Router>,
}

impl fmt::Debug for RouterService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RouterService").field(&self.router).finish()
    }
}

impl<S: Send + Sync + 'static> Router<S> {
    /// This router as a tower service, to mount in axum (`route_service`, `nest_service`).
    pub fn into_service(self) -> RouterService {
        RouterService {
            router: Arc::new(self.into_stateless()),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for RouterService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Upgrades have no body; dropping it here keeps the future free of `B`.
        let response = self.router.handle(request.map(drop));
        Box::pin(async move { Ok(response.await) })
    }
}
