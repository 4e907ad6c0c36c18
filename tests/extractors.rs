//! Extractors and state for `init` over real sockets: `Path` (one value, a tuple, a struct,
//! percent-decoded, parsed by type), `Query` (optional and repeated keys), `State` of the
//! router and of a route, `HeaderMap`, `PeerAddr`, several at once with `ctx` anywhere, and the
//! 400 (or 500) refusals that name the parameter.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::{collections::BTreeMap, future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Error as WsError, Message, client::IntoClientRequest},
};
use websock::{
    Context, HeaderMap, Path, PeerAddr, Query, RequestInfo, Router, Server, State, websock_handler,
    websocket,
};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

// Every handler here answers `seen` with what its `init` extracted.

struct One(String);

#[websock_handler]
impl One {
    fn init(Path(id): Path<u32>) -> Self {
        One(format!("id={id}"))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

struct Name(String);

#[websock_handler]
impl Name {
    fn init(Path(name): Path<String>) -> Self {
        Name(format!("name={name}"))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

struct Pair(String);

#[websock_handler]
impl Pair {
    fn init(Path((user, room)): Path<(String, u32)>) -> Self {
        Pair(format!("user={user} room={room}"))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

#[derive(Deserialize)]
struct Ids {
    user: String,
    room: u32,
}

struct ByName(String);

#[websock_handler]
impl ByName {
    fn init(Path(ids): Path<Ids>) -> Self {
        ByName(format!("user={} room={}", ids.user, ids.room))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fast,
    Slow,
}

struct Kinds(String);

#[websock_handler]
impl Kinds {
    fn init(Path((flag, letter, mode)): Path<(bool, char, Mode)>) -> Self {
        Kinds(format!("{flag} {letter} {mode:?}"))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

#[derive(Deserialize)]
struct Search {
    token: String,
    limit: Option<u32>,
    #[serde(default)]
    tag: Vec<String>,
}

struct Searching(String);

#[websock_handler]
impl Searching {
    fn init(Query(search): Query<Search>) -> Self {
        let Search { token, limit, tag } = search;
        Searching(format!("token={token} limit={limit:?} tag={tag:?}"))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

#[derive(Clone)]
struct App {
    name: &'static str,
    hits: Arc<()>,
}

/// Keeps its clone of the state for the connection's life.
struct Stateful(String, #[allow(dead_code)] Arc<()>);

#[websock_handler]
impl Stateful {
    fn init(ctx: &mut Context<Self>, State(app): State<App>) -> Self {
        assert_eq!(ctx.path().split('/').count(), 2);
        Stateful(format!("app={}", app.name), app.hits)
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

struct Stateless(String);

#[websock_handler]
impl Stateless {
    fn init() -> Self {
        Stateless("stateless".to_owned())
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

/// Several extractors, `ctx` among them, in any order.
struct Everything(String);

#[websock_handler]
impl Everything {
    fn init(
        headers: HeaderMap,
        ctx: &mut Context<Self>,
        PeerAddr(peer): PeerAddr,
        Query(query): Query<BTreeMap<String, String>>,
        request: RequestInfo,
        Path(room): Path<u32>,
    ) -> Self {
        let header = headers["x-test"].to_str().unwrap().to_owned();
        let same_peer = ctx.peer_addr() == Some(peer);
        Everything(format!(
            "x-test={header} peer={peer} same={same_peer} query={query:?} path={} room={room}",
            request.path()
        ))
    }

    #[on_text("seen")]
    fn seen(&mut self) -> String {
        self.0.clone()
    }
}

fn router(app: App) -> Router<App> {
    let route_app = App {
        name: "route",
        hits: Arc::new(()),
    };
    Router::with_state(app)
        .route("/one/{id}", websocket::<One>())
        .route("/name/{name}", websocket::<Name>())
        .route("/users/{user}/rooms/{room}", websocket::<Pair>())
        .route("/by-name/{room}/{user}", websocket::<ByName>())
        .route("/kinds/{flag}/{letter}/{mode}", websocket::<Kinds>())
        .route("/mismatch/{id}", websocket::<Pair>())
        .route("/search", websocket::<Searching>())
        .route("/state", websocket::<Stateful>())
        .route(
            "/route-state",
            websocket::<Stateful>().with_state(route_app),
        )
        .route("/stateless", websocket::<Stateless>())
        .route("/everything/{room}", websocket::<Everything>())
        .get("/page", |_| async {
            websock::http::Response::new("page".into())
        })
}

fn app() -> App {
    App {
        name: "router",
        hits: Arc::new(()),
    }
}

async fn serve(router: Router<App>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    addr
}

async fn connect(addr: SocketAddr, path: &str) -> Client {
    let url = format!("ws://{addr}{path}");
    within(tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .0
}

/// What the handler at `path` extracted.
async fn seen(addr: SocketAddr, path: &str) -> String {
    let mut client = connect(addr, path).await;
    seen_on(&mut client).await
}

async fn seen_on(client: &mut Client) -> String {
    within(client.send(Message::text("seen"))).await.unwrap();
    match within(client.next()).await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The status and body the upgrade at `path` was refused with.
async fn refused(addr: SocketAddr, path: &str) -> (u16, String) {
    let url = format!("ws://{addr}{path}");
    match within(tokio_tungstenite::connect_async(url)).await {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (response.status().as_u16(), String::from_utf8(body).unwrap())
        }
        Ok(_) => panic!("{path} was upgraded"),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn path_one_value_parsed_by_type_and_percent_decoded() {
    let addr = serve(router(app())).await;
    assert_eq!(seen(addr, "/one/42").await, "id=42");
    assert_eq!(
        seen(addr, "/name/caf%C3%A9%20au+lait").await,
        "name=café au+lait"
    );
    assert_eq!(seen(addr, "/kinds/true/x/slow").await, "true x Slow");
}

#[tokio::test]
async fn path_tuple_in_route_order_and_struct_by_name() {
    let addr = serve(router(app())).await;
    assert_eq!(seen(addr, "/users/ann/rooms/7").await, "user=ann room=7");
    assert_eq!(seen(addr, "/by-name/7/ann").await, "user=ann room=7");
}

#[tokio::test]
async fn path_values_that_do_not_parse_are_refused_with_400_naming_the_parameter() {
    let addr = serve(router(app())).await;
    let (status, body) = refused(addr, "/one/abc").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "invalid path parameter `id`: cannot parse \"abc\" as u32: invalid digit found in string\n"
    );
    let (status, body) = refused(addr, "/users/ann/rooms/-1").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("invalid path parameter `room`: "),
        "{body}"
    );
    let (status, body) = refused(addr, "/kinds/yes/x/slow").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("invalid path parameter `flag`: cannot parse \"yes\" as bool"),
        "{body}"
    );
    let (status, body) = refused(addr, "/kinds/true/xy/slow").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("invalid path parameter `letter`: "),
        "{body}"
    );
    let (status, body) = refused(addr, "/kinds/true/x/medium").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("invalid path parameter `mode`: unknown variant `medium`"),
        "{body}"
    );
    let (status, body) = refused(addr, "/name/%FF").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "invalid path parameter `name`: not UTF-8 once percent-decoded\n"
    );
}

#[tokio::test]
async fn a_path_type_that_does_not_fit_the_route_is_a_500() {
    let addr = serve(router(app())).await;
    let (status, body) = refused(addr, "/mismatch/1").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "invalid path parameters: `Path` asks for a tuple of 2, but the route has 1 parameters\n"
    );
}

#[tokio::test]
async fn query_struct_with_optional_and_repeated_keys() {
    let addr = serve(router(app())).await;
    assert_eq!(
        seen(addr, "/search?token=a%2Bb+c").await,
        "token=a+b c limit=None tag=[]"
    );
    assert_eq!(
        seen(addr, "/search?tag=x&token=t&limit=5&tag=y&unknown=1").await,
        "token=t limit=Some(5) tag=[\"x\", \"y\"]"
    );
    // An empty value is an absent one; a repeated key that is not a sequence takes the last.
    assert_eq!(
        seen(addr, "/search?token=first&limit=&token=last").await,
        "token=last limit=None tag=[]"
    );
}

#[tokio::test]
async fn query_errors_are_refused_with_400_and_the_serde_error() {
    let addr = serve(router(app())).await;
    let (status, body) = refused(addr, "/search?limit=5").await;
    assert_eq!(status, 400);
    assert_eq!(body, "invalid query parameters: missing field `token`\n");
    let (status, body) = refused(addr, "/search?token=t&limit=ten").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "invalid query parameter `limit`: cannot parse \"ten\" as u32: invalid digit found in string\n"
    );
}

#[tokio::test]
async fn state_of_the_router_and_of_the_route() {
    let app = app();
    let hits = app.hits.clone();
    let addr = serve(router(app)).await;
    let mut stateful = connect(addr, "/state").await;
    assert_eq!(seen_on(&mut stateful).await, "app=router");
    // The route's own state takes precedence over the router's.
    assert_eq!(seen(addr, "/route-state").await, "app=route");
    // Ours, the router's, and the one connection that asked for it.
    assert_eq!(Arc::strong_count(&hits), 3);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = connect(addr, "/stateless").await;
        assert_eq!(seen_on(&mut client).await, "stateless");
        clients.push(client);
    }
    assert_eq!(
        Arc::strong_count(&hits),
        3,
        "a handler that does not ask for the state gets no clone"
    );
    // Pages still work on a stateful router.
    assert_eq!(within(http_get(addr, "/page")).await, "page");
    drop(stateful);
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split("\r\n\r\n").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn headers_peer_address_and_several_extractors_with_ctx_anywhere() {
    let addr = serve(router(app())).await;
    let mut request = format!("ws://{addr}/everything/9?b=2&a=1")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-test", "hello".parse().unwrap());
    let (mut client, _) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    let MaybeTlsStream::Plain(stream) = client.get_ref() else {
        panic!("plain TCP expected")
    };
    let local = stream.local_addr().unwrap();
    assert_eq!(
        seen_on(&mut client).await,
        format!(
            "x-test=hello peer={local} same=true query={{\"a\": \"1\", \"b\": \"2\"}} \
             path=/everything/9 room=9"
        )
    );
}

#[tokio::test]
async fn stateful_routers_work_as_tower_services_and_with_channel_sockets() {
    use websock::channels::{AnonymousSocket, socket};
    // A channel socket is an endpoint of a router with any state.
    let router = router(app()).route("/socket/websocket", socket(AnonymousSocket));
    let service = router.into_service();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback_service(service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(seen(addr, "/one/5").await, "id=5");
    let mut client = connect(addr, "/socket/websocket?vsn=2.0.0").await;
    within(client.send(Message::text(r#"["1","1","phoenix","heartbeat",{}]"#)))
        .await
        .unwrap();
    match within(client.next()).await {
        Some(Ok(Message::Text(text))) => assert!(text.contains("\"ok\""), "{text}"),
        other => panic!("expected a reply, got {other:?}"),
    }
}
