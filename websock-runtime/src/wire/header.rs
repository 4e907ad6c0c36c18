//! The frame header (RFC 6455 §5.2): parsing the client's, writing ours.

use super::WireError;
use bytes::BufMut;

/// The opcodes RFC 6455 defines; the others are reserved and refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    pub(super) fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A client frame's header, once all of it has arrived.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    pub(super) fin: bool,
    /// RSV1: the first frame of a compressed message (RFC 7692 §6).
    pub(super) compressed: bool,
    pub(super) opcode: OpCode,
    pub(super) mask: [u8; 4],
    pub(super) len: usize,
}

/// The longest header: 2 bytes, an 8-byte length and a 4-byte mask.
pub(super) const MAX_LEN: usize = 14;

/// Parses the header at the start of `buf`: `None` until all of it has arrived, then the header
/// and its length in bytes. Refuses what a server must refuse before reading the payload.
/// RSV1 is allowed on the first frame of a data message when permessage-deflate was
/// negotiated (`deflate`), RSV2 and RSV3 never.
pub(super) fn parse(
    buf: &[u8],
    max_frame: usize,
    deflate: bool,
) -> Result<Option<(Header, usize)>, WireError> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    let compressed = first & 0x40 != 0;
    if first & 0x30 != 0 || (compressed && !deflate) {
        return Err(WireError::protocol(
            "reserved bits set, but no extension was negotiated",
        ));
    }
    let opcode = OpCode::from_bits(first & 0x0F)
        .ok_or_else(|| WireError::protocol(format!("reserved opcode {:#x}", first & 0x0F)))?;
    // RFC 7692 §6.1: control frames are never compressed, and only a message's first frame
    // says it is.
    if compressed && !matches!(opcode, OpCode::Text | OpCode::Binary) {
        return Err(WireError::protocol(format!(
            "RSV1 set on a {opcode:?} frame: only a data message's first frame may have it"
        )));
    }
    let fin = first & 0x80 != 0;
    if second & 0x80 == 0 {
        return Err(WireError::protocol("client frames must be masked"));
    }
    let (len, len_bytes) = match second & 0x7F {
        126 => (2, 2),
        127 => (0, 8),
        short => (u64::from(short), 0),
    };
    let header_len = 2 + len_bytes + 4;
    if buf.len() < header_len {
        return Ok(None);
    }
    let len = match len_bytes {
        2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        8 => u64::from_be_bytes(buf[2..10].try_into().unwrap()),
        _ => len,
    };
    if len_bytes == 8 && len >> 63 != 0 {
        return Err(WireError::protocol("the payload length's top bit is set"));
    }
    if opcode.is_control() {
        if !fin {
            return Err(WireError::protocol("fragmented control frame"));
        }
        if len > 125 {
            return Err(WireError::protocol("control frame longer than 125 bytes"));
        }
    }
    if len > max_frame as u64 {
        return Err(WireError::TooBig(format!(
            "frame of {len} bytes is over the limit of {max_frame}"
        )));
    }
    let mask = buf[header_len - 4..header_len].try_into().unwrap();
    let header = Header {
        fin,
        compressed,
        opcode,
        mask,
        len: len as usize,
    };
    Ok(Some((header, header_len)))
}

/// Appends an unmasked, final frame's header (server frames are never masked or fragmented).
pub(super) fn write(out: &mut impl BufMut, opcode: OpCode, len: usize) {
    write_first(out, 0x80 | opcode as u8, len);
}

/// As [`write`], for a compressed message: RSV1 set (RFC 7692 §6).
pub(super) fn write_compressed(out: &mut impl BufMut, opcode: OpCode, len: usize) {
    write_first(out, 0xC0 | opcode as u8, len);
}

fn write_first(out: &mut impl BufMut, first: u8, len: usize) {
    out.put_u8(first);
    if len < 126 {
        out.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.put_u8(126);
        out.put_u16(len);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_header(first: u8, len: u64) -> Vec<u8> {
        let mut buf = vec![first];
        if len < 126 {
            buf.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            buf.push(0x80 | 126);
            buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            buf.push(0x80 | 127);
            buf.extend_from_slice(&len.to_be_bytes());
        }
        buf.extend_from_slice(&[1, 2, 3, 4]);
        buf
    }

    #[test]
    fn waits_for_the_whole_header() {
        let full = frame_header(0x81, 70_000);
        for cut in 0..full.len() {
            assert!(
                parse(&full[..cut], usize::MAX, false).unwrap().is_none(),
                "{cut}"
            );
        }
        let (header, len) = parse(&full, usize::MAX, false).unwrap().unwrap();
        assert_eq!((header.len, len, header.mask), (70_000, 14, [1, 2, 3, 4]));
        assert!(header.fin);
        assert_eq!(header.opcode, OpCode::Text);
    }

    #[test]
    fn refuses_what_a_server_must_refuse() {
        let refused = [
            frame_header(0xC1, 1),       // RSV1
            frame_header(0x83, 1),       // reserved opcode
            frame_header(0x09, 1),       // fragmented ping
            frame_header(0x89, 126),     // long ping
            frame_header(0x82, 1 << 63), // top bit
        ];
        for bytes in refused {
            assert!(
                matches!(
                    parse(&bytes, usize::MAX, false),
                    Err(WireError::Protocol(_))
                ),
                "{bytes:?}"
            );
        }
        assert!(matches!(
            parse(&[0x81, 0x05], usize::MAX, false),
            Err(WireError::Protocol(_))
        ));
        assert!(matches!(
            parse(&frame_header(0x82, 11), 10, false),
            Err(WireError::TooBig(_))
        ));
    }

    #[test]
    fn rsv1_only_on_a_data_message_first_frame_once_negotiated() {
        let (header, _) = parse(&frame_header(0xC1, 1), usize::MAX, true)
            .unwrap()
            .unwrap();
        assert!(header.compressed);
        assert!(parse(&frame_header(0x42, 1), usize::MAX, true).is_ok());
        for first in [0xC0, 0xC9, 0xCA, 0xC8, 0xA1, 0x91] {
            assert!(
                matches!(
                    parse(&frame_header(first, 1), usize::MAX, true),
                    Err(WireError::Protocol(_))
                ),
                "{first:#x}"
            );
        }
    }

    #[test]
    fn writes_each_length_encoding() {
        for (len, expected) in [(125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let mut out = Vec::new();
            write(&mut out, OpCode::Binary, len);
            assert_eq!(out.len(), expected, "{len}");
            assert_eq!(out[0], 0x82);
        }
    }
}
