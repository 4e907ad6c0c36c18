//! permessage-deflate (RFC 7692) over a real socket: negotiation, compressed echoes both ways,
//! a zip bomb, context takeover. The client is raw TCP with flate2 (tungstenite has no
//! permessage-deflate), so every bit on the wire is the test's to check.

mod common;

use common::{Echo, frame, read_frame, read_head, within};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::net::SocketAddr;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
use websock_runtime::{Config, Deflate, Router, Server, websocket};

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

async fn server() -> SocketAddr {
    let route = |config: Config| websocket::<Echo>().config(config);
    let on = Config::default().deflate(Deflate::default());
    let router = Router::new()
        .route("/plain", route(Config::default()))
        .route("/deflate", route(on.clone()))
        .route("/small", route(on.max_message_size(1 << 20)))
        .route(
            "/takeover",
            route(Config::default().deflate(Deflate::default().context_takeover(true))),
        )
        .route(
            "/ratio",
            route(Config::default().deflate(Deflate::default().max_inflate_ratio(50))),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    addr
}

/// Upgrades with `offer` in `Sec-WebSocket-Extensions` (none when empty); the stream and the
/// extension the server answered with, if any.
async fn upgrade(addr: SocketAddr, path: &str, offer: &str) -> (TcpStream, Option<String>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let offer = if offer.is_empty() {
        String::new()
    } else {
        format!("Sec-WebSocket-Extensions: {offer}\r\n")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let extension = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_owned())
    });
    (stream, extension)
}

/// Deflates `data` as a client does: a sync flush, its tail dropped.
fn deflate(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    compress
        .compress_vec(data, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn inflate(decompress: &mut Decompress, data: &[u8]) -> Vec<u8> {
    let input = [data, &TAIL[..]].concat();
    let mut out = Vec::with_capacity(1 << 20);
    decompress
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

fn json(bytes: usize) -> String {
    let item = r#"{"id":1234,"user":"someone","body":"hello there, general channel","ok":true},"#;
    let mut text = String::from("[");
    while text.len() < bytes {
        text.push_str(item);
    }
    text.push_str("{}]");
    text
}

const BOTH: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[tokio::test]
async fn compressed_fragments_in_compressed_echo_out_and_short_messages_plain() {
    let addr = server().await;
    // Chrome's offer.
    let offer = "permessage-deflate; client_max_window_bits";
    let (mut stream, extension) = upgrade(addr, "/deflate", offer).await;
    assert_eq!(extension.as_deref(), Some(BOTH));

    let text = json(10_000);
    let compressed = deflate(
        &mut Compress::new(Compression::default(), false),
        text.as_bytes(),
    );
    assert!(compressed.len() < text.len() / 5);
    // Three fragments, RSV1 on the first only, a ping between them.
    let (a, rest) = compressed.split_at(compressed.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut first = frame(false, 0x1, a, true);
    first[0] |= 0x40;
    let mut bytes = first;
    bytes.extend(frame(true, 0x9, b"mid", true));
    bytes.extend(frame(false, 0x0, b, true));
    bytes.extend(frame(true, 0x0, c, true));
    within(stream.write_all(&bytes)).await.unwrap();

    let (head, payload) = read_frame(&mut stream).await;
    assert_eq!(
        (head, payload.as_slice()),
        (0x8A, &b"mid"[..]),
        "a plain pong"
    );
    let (head, payload) = read_frame(&mut stream).await;
    assert_eq!(head, 0xC1, "FIN, RSV1, text");
    assert!(payload.len() < text.len() / 5);
    let echoed = inflate(&mut Decompress::new(false), &payload);
    assert_eq!(echoed, text.as_bytes());

    // Under the threshold: sent uncompressed, RSV1 clear (and sent compressed, still echoed).
    let short = b"hi there";
    let mut bytes = frame(
        true,
        0x2,
        &deflate(&mut Compress::new(Compression::fast(), false), short),
        true,
    );
    bytes[0] |= 0x40;
    within(stream.write_all(&bytes)).await.unwrap();
    let (head, payload) = read_frame(&mut stream).await;
    assert_eq!((head, payload.as_slice()), (0x82, &short[..]));
}

#[tokio::test]
async fn off_by_default_and_declined_offers_mean_rsv1_is_a_protocol_error() {
    let addr = server().await;
    for (path, offer) in [
        ("/plain", "permessage-deflate"),
        ("/deflate", "permessage-deflate; server_max_window_bits=7"),
        ("/deflate", "permessage-deflate; mystery_param"),
        ("/deflate", ""),
    ] {
        let (mut stream, extension) = upgrade(addr, path, offer).await;
        assert_eq!(extension, None, "{path} {offer}");
        let mut bytes = frame(true, 0x1, &[0x2a, 0x00], true);
        bytes[0] |= 0x40;
        within(stream.write_all(&bytes)).await.unwrap();
        assert_eq!(
            common::raw_close_code(&mut stream).await,
            1002,
            "{path} {offer}"
        );
    }
}

#[tokio::test]
async fn several_offers_take_the_first_acceptable_one() {
    let addr = server().await;
    let offers = "permessage-deflate; server_max_window_bits=20, \
                  permessage-deflate; server_max_window_bits=10; client_max_window_bits";
    let (mut stream, extension) = upgrade(addr, "/deflate", offers).await;
    assert_eq!(
        extension,
        Some(format!("{BOTH}; server_max_window_bits=10"))
    );
    // The echo is readable with a 10-bit window.
    let text = json(5_000);
    let mut bytes = frame(
        true,
        0x1,
        &deflate(
            &mut Compress::new(Compression::default(), false),
            text.as_bytes(),
        ),
        true,
    );
    bytes[0] |= 0x40;
    within(stream.write_all(&bytes)).await.unwrap();
    let (head, payload) = read_frame(&mut stream).await;
    assert_eq!(head, 0xC1);
    let mut client = Decompress::new_with_window_bits(false, 10);
    assert_eq!(inflate(&mut client, &payload), text.as_bytes());
}

#[tokio::test]
async fn a_zip_bomb_is_closed_with_1009_and_the_server_goes_on() {
    let addr = server().await;
    // 16 MiB of zeros in about 16 KiB: the route's limit is 1 MiB, the other's ratio 50.
    let bomb = deflate(
        &mut Compress::new(Compression::best(), false),
        &vec![0; 16 << 20],
    );
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    for path in ["/small", "/ratio"] {
        let (mut stream, extension) = upgrade(addr, path, "permessage-deflate").await;
        assert_eq!(extension.as_deref(), Some(BOTH));
        let mut bytes = frame(true, 0x2, &bomb, true);
        bytes[0] |= 0x40;
        within(stream.write_all(&bytes)).await.unwrap();
        assert_eq!(common::raw_close_code(&mut stream).await, 1009, "{path}");
    }
    // Garbage that is not deflate at all: 1002.
    let (mut stream, _) = upgrade(addr, "/deflate", "permessage-deflate").await;
    let mut bytes = frame(true, 0x2, &[0xff; 40], true);
    bytes[0] |= 0x40;
    within(stream.write_all(&bytes)).await.unwrap();
    assert_eq!(common::raw_close_code(&mut stream).await, 1002);
    // Still serving.
    let (_, extension) = upgrade(addr, "/deflate", "permessage-deflate").await;
    assert_eq!(extension.as_deref(), Some(BOTH));
}

#[tokio::test]
async fn context_takeover_carries_the_window_across_messages_both_ways() {
    let addr = server().await;
    let (mut stream, extension) = upgrade(addr, "/takeover", "permessage-deflate").await;
    assert_eq!(extension.as_deref(), Some("permessage-deflate"));
    // One compressor and one decompressor for the whole connection, as the server keeps.
    let mut compress = Compress::new(Compression::default(), false);
    let mut decompress = Decompress::new(false);
    let message = json(600);
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let deflated = deflate(&mut compress, message.as_bytes());
        sizes.push(deflated.len());
        let mut bytes = frame(true, 0x1, &deflated, true);
        bytes[0] |= 0x40;
        within(stream.write_all(&bytes)).await.unwrap();
        let (head, payload) = read_frame(&mut stream).await;
        assert_eq!(head, 0xC1);
        sizes.push(payload.len());
        assert_eq!(inflate(&mut decompress, &payload), message.as_bytes());
    }
    // The second message of each side refers back to the first: a few bytes.
    assert!(sizes[2] < sizes[0] / 4, "client side: {sizes:?}");
    assert!(sizes[3] < sizes[1] / 4, "server side: {sizes:?}");

    // A client that asks for no server context takeover gets it even here.
    let offer = "permessage-deflate; server_no_context_takeover";
    let (_, extension) = upgrade(addr, "/takeover", offer).await;
    assert_eq!(extension.as_deref(), Some(offer));
}
