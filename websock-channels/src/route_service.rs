//! A [`SocketRoute`] as a tower `Service`, to mount in axum with `route_service` beside the
//! app's own routes.

use crate::{Socket, SocketRoute};
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use websock_runtime::{
    Body, Endpoint,
    http::{Request, Response},
};

/// Serves every request it gets as a Phoenix socket upgrade, whatever the path:
/// `axum::Router::new().route_service("/socket/websocket", route)`. The upgrade and the
/// [`ServerHandle`](websock_runtime::ServerHandle) come from the request's extensions (add the
/// handle with `axum::Extension(handle)` for graceful shutdown, draining and the connection
/// limit); the route's origin check applies (the same-host default unless set).
impl<S: Socket, B> tower_service::Service<Request<B>> for SocketRoute<S> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = Endpoint::<()>::call(self, request.map(drop), None, &());
        Box::pin(async move { Ok(response.await) })
    }
}
