//! Property test: random valid and invalid frame sequences played over a real socket. The
//! server echoes every valid message exactly, or closes with the code RFC 6455 requires at the
//! first violation — it never hangs and never panics.

mod common;

use common::{Echo, frame, read_frame};
use proptest::prelude::*;
use std::{net::SocketAddr, time::Duration};
use tokio::{io::AsyncWriteExt, net::TcpListener};
use websock_runtime::{Config, Router, Server, websocket};

#[derive(Clone, Debug)]
enum Act {
    Text { text: String, cuts: Vec<usize> },
    Binary { data: Vec<u8>, cuts: Vec<usize> },
    Ping(Vec<u8>),
    InvalidUtf8 { prefix: String, cuts: Vec<usize> },
    ControlTooBig,
    Unmasked,
    ReservedOpcode(u8),
    OrphanContinuation,
    ReservedBit,
}

impl Act {
    /// The close code RFC 6455 requires for this act, if it breaks the protocol.
    fn violation(&self) -> Option<u16> {
        match self {
            Self::InvalidUtf8 { .. } => Some(1007),
            Self::Text { .. } | Self::Binary { .. } | Self::Ping(_) => None,
            _ => Some(1002),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Text { text, cuts } => fragments(0x1, text.as_bytes(), cuts),
            Self::Binary { data, cuts } => fragments(0x2, data, cuts),
            Self::Ping(payload) => frame(true, 0x9, payload, true),
            Self::InvalidUtf8 { prefix, cuts } => {
                let mut payload = prefix.as_bytes().to_vec();
                payload.extend_from_slice(&[0xc3, 0x28]);
                fragments(0x1, &payload, cuts)
            }
            Self::ControlTooBig => frame(true, 0x9, &[0; 200], true),
            Self::Unmasked => frame(true, 0x2, b"unmasked", false),
            Self::ReservedOpcode(op) => frame(true, *op, b"", true),
            Self::OrphanContinuation => frame(true, 0x0, b"orphan", true),
            Self::ReservedBit => {
                let mut bytes = frame(true, 0x2, b"rsv", true);
                bytes[0] |= 0x20;
                bytes
            }
        }
    }
}

/// One message as fragments cut at the given offsets.
fn fragments(opcode: u8, payload: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut bounds = vec![0];
    bounds.extend(points.into_iter().filter(|p| *p > 0 && *p < payload.len()));
    bounds.push(payload.len());
    let mut out = Vec::new();
    for (i, window) in bounds.windows(2).enumerate() {
        let last = i == bounds.len() - 2;
        out.extend(frame(
            last,
            if i == 0 { opcode } else { 0x0 },
            &payload[window[0]..window[1]],
            true,
        ));
    }
    out
}

fn act() -> impl Strategy<Value = Act> {
    let cuts = || prop::collection::vec(any::<usize>(), 0..4);
    prop_oneof![
        4 => (".{0,300}", cuts()).prop_map(|(text, cuts)| Act::Text { text, cuts }),
        4 => (prop::collection::vec(any::<u8>(), 0..3000), cuts()).prop_map(|(data, cuts)| Act::Binary { data, cuts }),
        2 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Act::Ping),
        1 => (".{0,20}", cuts()).prop_map(|(prefix, cuts)| Act::InvalidUtf8 { prefix, cuts }),
        1 => Just(Act::ControlTooBig),
        1 => Just(Act::Unmasked),
        1 => prop_oneof![3u8..=7, 0xbu8..=0xf].prop_map(Act::ReservedOpcode),
        1 => Just(Act::OrphanContinuation),
        1 => Just(Act::ReservedBit),
    ]
}

async fn play(addr: SocketAddr, acts: Vec<Act>) -> Result<(), TestCaseError> {
    let mut stream = common::raw_upgrade(addr, "/echo").await;
    let mut expected = Vec::new();
    let mut violation = None;
    let mut bytes = Vec::new();
    for act in &acts {
        bytes.extend(act.bytes());
        match (act, act.violation()) {
            (_, Some(code)) => {
                violation = Some(code);
                break;
            }
            (Act::Text { text, .. }, None) => expected.push((0x81, text.as_bytes().to_vec())),
            (Act::Binary { data, .. }, None) => expected.push((0x82, data.clone())),
            _ => {}
        }
    }
    if violation.is_none() {
        bytes.extend(frame(true, 0x8, &1000u16.to_be_bytes(), true));
    }
    // After a violation the server may stop reading before everything is written.
    let _ = stream.write_all(&bytes).await;
    let mut echoed = Vec::new();
    let close = loop {
        let (head, payload) = read_frame(&mut stream).await;
        match head {
            0x81 | 0x82 => echoed.push((head, payload)),
            0x8a => {}
            0x88 => break u16::from_be_bytes([payload[0], payload[1]]),
            other => return Err(TestCaseError::fail(format!("unexpected frame {other:#x}"))),
        }
    };
    prop_assert_eq!(echoed, expected);
    prop_assert_eq!(close, violation.unwrap_or(1000));
    Ok(())
}

#[test]
fn random_frame_sequences_echo_exactly_or_close_with_the_required_code() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/echo", websocket::<Echo>().config(Config::default()));
        let server = Server::new(router);
        tokio::spawn(server.serve(listener));
        addr
    });
    let config = ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&prop::collection::vec(act(), 1..12), |acts| {
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), play(addr, acts))
                    .await
                    .map_err(|_| TestCaseError::fail("the server hung"))?
            })
        })
        .unwrap();
}
