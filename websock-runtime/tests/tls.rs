//! wss:// over tokio-rustls with a certificate made at test time: serving works over any stream.

mod common;

use common::*;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::{
    TlsAcceptor, TlsConnector,
    rustls::{self, pki_types::ServerName},
};
use tokio_tungstenite::client_async;
use websock_runtime::{Config, Router, Server, WebSocketRoute};

#[tokio::test]
async fn websocket_over_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server_config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server_config));

    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let router = Router::new().route(
        "/probe",
        WebSocketRoute::<Probe>::with_init(move |_| {
            let tx = tx.clone();
            async move { Ok(tx) }
        })
        .config(Config::default()),
    );
    let server = Server::new(router);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    server.serve_connection(tls, Some(peer)).await;
                }
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut client, response) = within(client_async("wss://localhost/probe", tls))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    assert!(matches!(
        within(events.recv()).await,
        Some(Event::Started(_))
    ));
    let text = "echo:secret";
    futures_util::SinkExt::send(
        &mut client,
        tokio_tungstenite::tungstenite::Message::text(text),
    )
    .await
    .unwrap();
    let reply = within(futures_util::StreamExt::next(&mut client))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "secret");
}
