//! RFC 6455 rules Autobahn checks only partly, each over a raw socket: the close code a broken
//! frame sequence gets.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use websock_runtime::Config;

/// Sends `bytes` after the handshake and returns the close code the server sends.
async fn close_code_for(bytes: Vec<u8>) -> u16 {
    let server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    stream.write_all(&bytes).await.unwrap();
    raw_close_code(&mut stream).await
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

#[tokio::test]
async fn reserved_bits_are_a_protocol_error() {
    let mut bytes = frame(true, 0x1, b"hi", true);
    bytes[0] |= 0x40; // RSV1 without a negotiated extension
    assert_eq!(close_code_for(bytes).await, 1002);
}

#[tokio::test]
async fn control_frame_over_125_bytes_is_a_protocol_error() {
    assert_eq!(
        close_code_for(frame(true, 0x9, &[0; 126], true)).await,
        1002
    );
}

#[tokio::test]
async fn fragmented_control_frame_is_a_protocol_error() {
    assert_eq!(close_code_for(frame(false, 0x9, b"ping", true)).await, 1002);
}

#[tokio::test]
async fn continuation_without_a_start_is_a_protocol_error() {
    assert_eq!(
        close_code_for(frame(true, 0x0, b"orphan", true)).await,
        1002
    );
}

#[tokio::test]
async fn new_data_frame_inside_a_fragmented_message_is_a_protocol_error() {
    let mut bytes = frame(false, 0x1, b"start", true);
    bytes.extend(frame(true, 0x1, b"intruder", true));
    assert_eq!(close_code_for(bytes).await, 1002);
}

#[tokio::test]
async fn close_codes_that_may_not_be_sent_are_a_protocol_error() {
    for code in [1004, 1005, 1006, 1015, 999, 2000, 5000] {
        let bytes = frame(true, 0x8, &close_payload(code, b""), true);
        assert_eq!(close_code_for(bytes).await, 1002, "close code {code}");
    }
}

#[tokio::test]
async fn close_frame_with_a_one_byte_payload_is_a_protocol_error() {
    assert_eq!(close_code_for(frame(true, 0x8, &[3], true)).await, 1002);
}

#[tokio::test]
async fn close_reason_that_is_not_utf8_fails_with_1002_or_1007() {
    let code = close_code_for(frame(true, 0x8, &close_payload(1000, &[0xff, 0xfe]), true)).await;
    assert!(code == 1002 || code == 1007, "{code}");
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_is_1007() {
    // "é" is C3 A9: split it, then corrupt the continuation byte.
    let mut bytes = frame(false, 0x1, b"caf\xc3", true);
    bytes.extend(frame(true, 0x0, b"\x28", true));
    assert_eq!(close_code_for(bytes).await, 1007);
}

#[tokio::test]
async fn valid_utf8_split_across_fragments_is_reassembled() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    let mut bytes = frame(false, 0x1, b"echo:caf\xc3", true);
    bytes.extend(frame(true, 0x0, b"\xa9", true));
    stream.write_all(&bytes).await.unwrap();
    let mut reply = [0u8; 7];
    within(tokio::io::AsyncReadExt::read_exact(&mut stream, &mut reply))
        .await
        .unwrap();
    assert_eq!(&reply, b"\x81\x05caf\xc3\xa9");
}
