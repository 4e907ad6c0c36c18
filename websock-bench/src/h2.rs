//! WebSockets over HTTP/2 streams for the load generator: hyper's HTTP/2 client opens each with
//! an extended CONNECT (RFC 8441), several streams per TCP connection.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Method, Request, StatusCode, ext::Protocol, upgrade::Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

/// A WebSocket over one HTTP/2 stream.
pub(crate) type H2Ws = WebSocketStream<TokioIo<Upgraded>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens `count` WebSockets at `path`, `per_connection` streams on each HTTP/2 connection.
pub(crate) async fn connect_many(
    addr: SocketAddr,
    path: &str,
    count: u64,
    per_connection: u64,
    config: WebSocketConfig,
) -> Result<Vec<H2Ws>, BoxError> {
    let mut sockets = Vec::with_capacity(count as usize);
    while (sockets.len() as u64) < count {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(tcp))
                .await?;
        tokio::spawn(connection);
        // h2 refuses an extended CONNECT until the server's SETTINGS allowed it; they come
        // before the answer to any request.
        let _ = send(&mut sender, Method::GET, &format!("http://{addr}/"), None).await?;
        let streams = per_connection.min(count - sockets.len() as u64);
        for _ in 0..streams {
            let response = send(
                &mut sender,
                Method::CONNECT,
                &format!("http://{addr}{path}"),
                Some(Protocol::from_static("websocket")),
            )
            .await?;
            if response.status() != StatusCode::OK {
                return Err(format!("extended CONNECT answered {}", response.status()).into());
            }
            let upgraded = hyper::upgrade::on(response).await?;
            sockets.push(
                WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Client,
                    Some(config),
                )
                .await,
            );
        }
    }
    Ok(sockets)
}

async fn send(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    method: Method,
    uri: &str,
    protocol: Option<Protocol>,
) -> Result<hyper::Response<hyper::body::Incoming>, BoxError> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("sec-websocket-version", "13")
        .body(Empty::new())?;
    if let Some(protocol) = protocol {
        request.extensions_mut().insert(protocol);
    }
    sender.ready().await?;
    Ok(sender.send_request(request).await?)
}
