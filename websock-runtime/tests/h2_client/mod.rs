//! A real HTTP/2 client for the tests: hyper's, opening WebSockets with RFC 8441's extended
//! CONNECT over h2c or TLS, and tungstenite's client framing over each stream.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, client::conn::http2::SendRequest, ext::Protocol, upgrade::Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{self, pki_types::ServerName},
};
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};

/// A WebSocket over one HTTP/2 stream.
pub type H2Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Bounds every await so a bug fails instead of hanging.
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

/// One HTTP/2 connection.
pub struct H2Client {
    pub sender: SendRequest<Empty<Bytes>>,
    scheme: &'static str,
    /// The connection's driver: ends when the server closes the connection (after GOAWAY).
    pub driver: tokio::task::JoinHandle<Result<(), hyper::Error>>,
}

impl H2Client {
    /// HTTP/2 with prior knowledge over TCP.
    pub async fn h2c(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        Self::over(tcp, "http").await
    }

    /// HTTP/2 over TLS, chosen by ALPN; the server's certificate is checked against `tls`'s.
    pub async fn tls(addr: SocketAddr, tls: &TestCert) -> Self {
        let stream = tls.connect(addr, &[b"h2"]).await;
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "the server chose h2 by ALPN"
        );
        Self::over(stream, "https").await
    }

    pub async fn over<Io>(io: Io, scheme: &'static str) -> Self
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(io))
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let mut client = Self {
            sender,
            scheme,
            driver,
        };
        // h2 refuses an extended CONNECT until the server's SETTINGS allowed it; they come
        // before the answer to any request.
        let settled = client
            .send(Method::GET, "/no-such-page", &[], None)
            .await
            .unwrap();
        assert_eq!(settled.status(), StatusCode::NOT_FOUND);
        client
    }

    /// Sends a request with no body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        protocol: Option<&'static str>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}://localhost{path}", self.scheme));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Empty::new()).unwrap();
        if let Some(protocol) = protocol {
            request
                .extensions_mut()
                .insert(Protocol::from_static(protocol));
        }
        within(self.sender.ready()).await?;
        within(self.sender.send_request(request)).await
    }

    /// An extended CONNECT for a WebSocket at `path` with `headers` (the version is up to
    /// the caller).
    pub async fn extended_connect(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response<Incoming> {
        self.send(Method::CONNECT, path, headers, Some("websocket"))
            .await
            .unwrap()
    }

    /// Opens a WebSocket at `path`; panics unless the server answers 200.
    pub async fn websocket(&mut self, path: &str) -> H2Ws {
        let response = self
            .extended_connect(path, &[("sec-websocket-version", "13")])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().get("sec-websocket-accept").is_none());
        let upgraded = within(hyper::upgrade::on(response)).await.unwrap();
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
    }
}

/// A response's status and body as text.
pub async fn status_and_body(response: Response<Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = within(response.into_body().collect()).await.unwrap();
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

/// A self-signed certificate for `localhost`, written as PEM files for the server.
pub struct TestCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    pub fn new() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "websock-h2-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        Self {
            cert_path,
            key_path,
            der: cert.cert.der().clone(),
        }
    }

    /// The server's configuration, loaded from the PEM files as `WEBSOCK_TLS_CERT` would be.
    pub fn server_config(&self) -> rustls::ServerConfig {
        websock_runtime::tls_config_from_pem(&self.cert_path, &self.key_path).unwrap()
    }

    /// A TLS client connection offering `alpn`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await.unwrap();
        within(
            TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .unwrap()
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        if let Some(dir) = self.cert_path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}

/// One HTTP/2 frame (RFC 9113 §4.1), for clients that misbehave on purpose.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut frame = len.to_be_bytes()[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const CONTINUATION: u8 = 9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// An HPACK header block for `GET http://localhost/` from the static table
/// (RFC 7541 Appendix A): `:method GET`, `:scheme http`, `:path /`, `:authority localhost`.
pub fn get_headers_block() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x84, 0x41, 9];
    block.extend_from_slice(b"localhost");
    block
}

/// Reads frames until the server closes the connection; the GOAWAY error code, if one came.
pub async fn read_until_closed<R: AsyncRead + Unpin>(mut reader: R) -> Option<u32> {
    use tokio::io::AsyncReadExt;
    let mut goaway = None;
    let mut head = [0u8; 9];
    loop {
        if reader.read_exact(&mut head).await.is_err() {
            return goaway;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        if reader.read_exact(&mut payload).await.is_err() {
            return goaway;
        }
        if head[3] == GOAWAY && payload.len() >= 8 {
            goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
    }
}
