//! The WebSocket frames a LongPoll session exchanges with its connection over the in-memory
//! pipe: it writes client frames (masked, RFC 6455 §5.3) and reads server frames (unmasked).

use tokio::io::{AsyncRead, AsyncReadExt};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;

/// One client frame, FIN set. The masking key is zero: masking guards proxies against
/// cache poisoning (RFC 6455 §10.3), and nothing but this process sees the pipe, so the
/// payload goes as is (a zero key is a valid key; the server still unmasks).
pub(super) fn client_frame(binary: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | if binary { BINARY } else { TEXT });
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&len.to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// A message the connection sent.
#[derive(Debug)]
pub(super) enum ServerMessage {
    Text(String),
    Binary(usize),
    Close,
}

/// Reads the next data message (reassembling fragments) or close; control frames other than
/// close are skipped (the session's connection has pings off). `None` at the end of the pipe.
pub(super) async fn read_message<R: AsyncRead + Unpin>(
    io: &mut R,
    max: usize,
) -> std::io::Result<Option<ServerMessage>> {
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let mut head = [0u8; 2];
        match io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error),
        }
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let len = match head[1] & 0x7f {
            126 => u64::from(io.read_u16().await?),
            127 => io.read_u64().await?,
            len => u64::from(len),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= max)
            .ok_or_else(too_large)?;
        let mut payload = vec![0; len];
        io.read_exact(&mut payload).await?;
        match opcode {
            CLOSE => return Ok(Some(ServerMessage::Close)),
            0x9 | 0xA => continue,
            TEXT | BINARY => message = Some((opcode, payload)),
            _ => {
                let (_, data) = message
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("continuation frame without a message"))?;
                if data.len() + payload.len() > max {
                    return Err(std::io::Error::other(
                        "server message over the session's buffer",
                    ));
                }
                data.extend_from_slice(&payload);
            }
        }
        if fin {
            let (opcode, data) = message.take().expect("a data frame came first");
            return Ok(Some(if opcode == BINARY {
                ServerMessage::Binary(data.len())
            } else {
                ServerMessage::Text(String::from_utf8(data).map_err(std::io::Error::other)?)
            }));
        }
    }
}

/// A message larger than the session may buffer: counted as an overflow.
fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::OutOfMemory,
        "server message over the session's buffer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_fragments_and_skips_pings() {
        let mut bytes = vec![0x01, 2, b'a', b'b', 0x89, 0, 0x80, 1, b'c'];
        bytes.extend_from_slice(&[0x82, 3, 1, 2, 3, 0x88, 0]);
        let mut io = &bytes[..];
        let text = read_message(&mut io, 100).await.unwrap();
        assert!(matches!(text, Some(ServerMessage::Text(t)) if t == "abc"));
        assert!(matches!(
            read_message(&mut io, 100).await.unwrap(),
            Some(ServerMessage::Binary(3))
        ));
        assert!(matches!(
            read_message(&mut io, 100).await.unwrap(),
            Some(ServerMessage::Close)
        ));
        assert!(read_message(&mut io, 100).await.unwrap().is_none());
    }

    #[test]
    fn client_frame_lengths() {
        assert_eq!(&client_frame(false, b"hi")[..2], &[0x81, 0x82]);
        assert_eq!(&client_frame(true, &[0; 300])[..4], &[0x82, 0xfe, 1, 44]);
        assert_eq!(client_frame(true, &[0; 70_000])[1], 0xff);
    }
}
