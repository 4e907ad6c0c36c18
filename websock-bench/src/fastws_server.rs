//! `websock-bench server fastwebsockets`: fastwebsockets 0.10 behind hyper's upgrade, with the
//! loop of its own `echo_server` example (a `FragmentCollector`, `read_frame`, `write_frame`
//! of every text and binary frame; its defaults answer pings and closes).

use bytes::Bytes;
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use std::{io, time::Duration};
use tokio::net::TcpListener;

/// The example's `handle_client`.
async fn handle_client(upgrade: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(upgrade.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

/// The example's `server_upgrade`: answers the handshake, runs the loop in its own task.
async fn server_upgrade(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgrade) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        // The example runs its loop unconstrained by tokio's cooperative budget; so do we.
        if let Err(error) = tokio::task::unconstrained(handle_client(upgrade)).await {
            // Clients of the load generator reset their connections at the end of a run.
            let _ = error;
        }
    });
    Ok(response)
}

/// Accepts forever; each connection is served by hyper's HTTP/1.1 with upgrades.
pub(crate) async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors: wait for some to close rather than spin.
                eprintln!("fastwebsockets: accept: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // As the raw server and websock: no Nagle.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(server_upgrade))
                .with_upgrades();
            let _ = connection.await;
        });
    }
}
