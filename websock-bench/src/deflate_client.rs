//! A minimal permessage-deflate client (RFC 7692) for the compression scenarios: tungstenite
//! has none. It offers what Chrome offers, compresses every message it sends and inflates
//! every compressed message it gets, without context takeover (what websock answers by
//! default), and counts the bytes on the wire.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::net::SocketAddr;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpSocket, TcpStream},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The tail a sync flush ends with; dropped by senders, put back by receivers (§7.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// One client connection.
pub(crate) struct DeflateClient {
    stream: BufReader<TcpStream>,
    /// Whether the server accepted permessage-deflate.
    pub(crate) negotiated: bool,
    /// Frame bytes written and read so far (headers included, handshake excluded).
    pub(crate) bytes_out: u64,
    pub(crate) bytes_in: u64,
}

impl DeflateClient {
    /// Connects from `source` (any loopback address) and upgrades at `path`, offering
    /// permessage-deflate when `offer` is set.
    pub(crate) async fn connect(
        addr: SocketAddr,
        source: std::net::IpAddr,
        path: &str,
        offer: bool,
    ) -> Result<Self, BoxError> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut stream = BufReader::new(stream);
        let extension = if offer {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {extension}\r\n"
        );
        stream.get_mut().write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await?);
            if head.len() > 8 << 10 {
                return Err("response head over 8 KiB".into());
            }
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if !head.starts_with("http/1.1 101") {
            return Err(format!("upgrade refused: {head:?}").into());
        }
        Ok(Self {
            stream,
            negotiated: head.contains("permessage-deflate"),
            bytes_out: 0,
            bytes_in: 0,
        })
    }

    /// Sends `text`, compressed when negotiated.
    pub(crate) async fn send_text(&mut self, text: &[u8]) -> Result<(), BoxError> {
        let (first, payload) = if self.negotiated {
            (0xC1, deflate(text))
        } else {
            (0x81, text.to_vec())
        };
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(first);
        match payload.len() {
            len @ 0..126 => frame.push(0x80 | len as u8),
            len @ 126..65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        // A zero mask leaves the payload as it is; the server unmasks all the same.
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&payload);
        self.stream.get_mut().write_all(&frame).await?;
        self.bytes_out += frame.len() as u64;
        Ok(())
    }

    /// The next data message, inflated; control frames are skipped.
    pub(crate) async fn recv(&mut self) -> Result<Vec<u8>, BoxError> {
        loop {
            let first = self.stream.read_u8().await?;
            let second = self.stream.read_u8().await?;
            let (len, extra) = match second & 0x7f {
                126 => (u64::from(self.stream.read_u16().await?), 2),
                127 => (self.stream.read_u64().await?, 8),
                len => (u64::from(len), 0),
            };
            let mut payload = vec![0; usize::try_from(len)?];
            self.stream.read_exact(&mut payload).await?;
            self.bytes_in += 2 + extra + len;
            match first & 0x0f {
                0x1 | 0x2 if first & 0x80 == 0 => return Err("fragmented message".into()),
                0x1 | 0x2 if first & 0x40 != 0 => return inflate(&payload),
                0x1 | 0x2 => return Ok(payload),
                0x8 => return Err("closed by the server".into()),
                _ => {}
            }
        }
    }
}

/// What a browser does per message without context takeover: a fresh compressor.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let consumed = compress.total_in() as usize;
        compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        if compress.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - TAIL.len());
    out
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut decompress = Decompress::new(false);
    let input = [data, &TAIL[..]].concat();
    let mut out = Vec::with_capacity(data.len() * 4 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let consumed = decompress.total_in() as usize;
        decompress.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)?;
        if decompress.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}
