//! Extractors: what a handler's `init` takes from the upgrade request and the router's state,
//! as axum's handlers do ([`Path`], [`Query`], [`State`], `HeaderMap`, [`PeerAddr`], ...).

mod params_de;
mod path;
mod query;
mod rejection;
mod state;

pub use path::Path;
pub use query::Query;
pub use state::State;

use crate::{PathParams, PeerAddr, Refuse, RequestInfo};
use http::{HeaderMap, StatusCode};

/// Builds a handler's [`Handler::Init`](crate::Handler::Init) from the upgrade request and the
/// state `S` of the route's [`Router<S>`](crate::Router), for routes made by
/// [`websocket`](crate::websocket).
///
/// Implemented for the extractors — [`Path<T>`](Path), [`Query<T>`](Query),
/// [`State<S>`](State), `HeaderMap`, [`PeerAddr`], [`PathParams`], [`RequestInfo`], `()` — and
/// for tuples of up to 8 of them, so `init` can take several. An error refuses the upgrade
/// with its status and body.
///
/// ```
/// use websock_runtime::{FromRequest, Refuse, RequestInfo};
///
/// /// The `x-user` header, required.
/// struct User(String);
///
/// impl<S> FromRequest<S> for User {
///     fn from_request(request: &RequestInfo, _state: &S) -> Result<Self, Refuse> {
///         let header = request.header(&"x-user".parse().unwrap());
///         let user = header.and_then(|value| value.to_str().ok().map(str::to_owned));
///         user.map(User).ok_or_else(|| Refuse::unauthorized("missing `x-user`\n"))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an extractor for a route whose state is `{S}`",
    label = "`init` cannot take this from a `Router<{S}>`",
    note = "`init` takes extractors: `Path<T>`, `Query<T>`, `State<{S}>` (the router's state), \
            `HeaderMap`, `PeerAddr`, `PathParams`, `RequestInfo`, or up to 8 of them",
    note = "a `State<T>` needs `Router::with_state(T)` (or `websocket::<H>().with_state(T)`); any \
            other value comes from `WebSocketRoute::with_init` or an `impl FromRequest<S>`"
)]
pub trait FromRequest<S = ()>: Sized {
    /// Extracts the value, or refuses the upgrade with an HTTP status.
    fn from_request(request: &RequestInfo, state: &S) -> Result<Self, Refuse>;
}

impl<S> FromRequest<S> for PathParams {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        Ok(request.params().clone())
    }
}

impl<S> FromRequest<S> for RequestInfo {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        Ok(request.clone())
    }
}

/// A copy of the request headers (the connection's `RequestInfo` keeps only their text).
impl<S> FromRequest<S> for HeaderMap {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        Ok(request.headers_owned())
    }
}

/// The client's address; 500 when the server does not know it (a router mounted in another
/// server that does not insert [`PeerAddr`] into the request's extensions).
impl<S> FromRequest<S> for PeerAddr {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        request.peer_addr().map(PeerAddr).ok_or_else(|| {
            tracing::error!("`PeerAddr` asked for, but the server did not insert it");
            Refuse::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the peer address is unknown: insert a `PeerAddr` into the request's extensions\n",
            )
        })
    }
}

/// Tuples extract each element in order; the first refusal wins.
macro_rules! tuples {
    ($($name:ident)*) => {
        impl<S, $($name: FromRequest<S>),*> FromRequest<S> for ($($name,)*) {
            #[allow(unused_variables)]
            fn from_request(request: &RequestInfo, state: &S) -> Result<Self, Refuse> {
                Ok(($($name::from_request(request, state)?,)*))
            }
        }
    };
}

tuples!();
tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);
tuples!(A B C D E F G H);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn request(uri: &str, params: &[(&str, &str)]) -> RequestInfo {
        let mut request = http::Request::get(uri).body(()).unwrap();
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        request
            .extensions_mut()
            .insert(PathParams::from_iter(params));
        RequestInfo::from_request(&request)
    }

    fn extract<T: FromRequest>(request: &RequestInfo) -> Result<T, (u16, String)> {
        T::from_request(request, &()).map_err(|refuse| {
            let body = String::from_utf8(refuse.body().to_vec()).unwrap();
            (refuse.status().as_u16(), body)
        })
    }

    #[test]
    fn path_into_maps_options_and_newtypes() {
        let two = request("/", &[("a", "1"), ("b", "x%2Fy")]);
        let Path(map) = extract::<Path<BTreeMap<String, String>>>(&two).unwrap();
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "x/y");
        let error = extract::<Path<HashMap<String, u8>>>(&two).unwrap_err();
        assert_eq!(
            error,
            (400, "invalid path parameter `b`: cannot parse \"x/y\" as u8: invalid digit found in string\n".to_owned())
        );
        let error = extract::<Path<u32>>(&two).unwrap_err();
        assert_eq!(error.0, 500, "{error:?}");

        let one = request("/", &[("id", "7")]);
        assert_eq!(extract::<Path<Option<u32>>>(&one).unwrap().0, Some(7));
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Id(u32);
        assert_eq!(extract::<Path<Id>>(&one).unwrap().0, Id(7));
        assert_eq!(extract::<Path<(u32,)>>(&one).unwrap().0, (7,));
    }

    #[test]
    fn query_into_maps_and_floats_and_no_query_at_all() {
        let info = request("/?x=1.5&flag=true&x=2.5", &[]);
        #[derive(serde::Deserialize)]
        struct Q {
            x: Vec<f64>,
            flag: bool,
            missing: Option<String>,
        }
        let Query(q) = extract::<Query<Q>>(&info).unwrap();
        assert_eq!((q.x, q.flag, q.missing), (vec![1.5, 2.5], true, None));
        let Query(map) = extract::<Query<HashMap<String, String>>>(&info).unwrap();
        assert_eq!(map["x"], "2.5", "the last value of a repeated key");
        let empty = request("/", &[]);
        let Query(map) = extract::<Query<HashMap<String, String>>>(&empty).unwrap();
        assert!(map.is_empty());
    }

    #[test]
    fn headers_do_not_build_the_connections_header_map() {
        let request = http::Request::get("/").header("x-a", "1").body(()).unwrap();
        let info = RequestInfo::from_request(&request);
        let headers = extract::<HeaderMap>(&info).unwrap();
        assert_eq!(headers["x-a"], "1");
        assert!(!info.headers_built());
        assert_eq!(extract::<PeerAddr>(&info).unwrap_err().0, 500);
    }
}
