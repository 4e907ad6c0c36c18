//! Telling HTTP/2 with prior knowledge from HTTP/1.1 by the first bytes of a connection: the
//! HTTP/2 client preface (RFC 9113 §3.4) is `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which no
//! HTTP/1.1 request line can begin as.

use std::{
    any::Any,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The HTTP/2 client connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The HTTP a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    Http2,
}

/// What the bytes received so far say: a version, or nothing yet (a prefix of the preface).
fn classify(received: &[u8]) -> Option<Version> {
    let len = received.len().min(PREFACE.len());
    if received[..len] != PREFACE[..len] {
        Some(Version::Http1)
    } else if len == PREFACE.len() {
        Some(Version::Http2)
    } else {
        None
    }
}

/// `io` as a TCP socket, if it is one: those are peeked at rather than read.
pub(crate) fn as_tcp<Io: Any>(io: &Io) -> Option<&TcpStream> {
    (io as &dyn Any).downcast_ref::<TcpStream>()
}

/// Peeks at a TCP socket until its first bytes say which HTTP it speaks, reading nothing: the
/// socket is handed to hyper as it is, so an idle HTTP/1.1 WebSocket holds no wrapper (its
/// heap is measured, BENCHMARKS.md).
///
/// A preface arriving in pieces (a client that writes it byte by byte, or one that stalls half
/// way) is peeked again every 20 ms: `peek` answers at once while any byte is waiting, so
/// waiting for *more* bytes needs a pause. The caller's deadline bounds it.
pub(crate) async fn peek(tcp: &TcpStream) -> io::Result<Version> {
    let mut buf = [0; PREFACE.len()];
    loop {
        match tcp.peek(&mut buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => match classify(&buf[..n]) {
                Some(version) => return Ok(version),
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Reads from `io` until its first bytes say which HTTP it speaks, and gives it back with
/// those bytes put back in front; for streams that cannot peek (TLS, a Unix socket).
pub(crate) async fn read<Io>(mut io: Io) -> io::Result<(Version, Prefixed<Io>)>
where
    Io: AsyncRead + Unpin,
{
    let mut buf = [0; PREFACE.len()];
    let mut len = 0;
    let version = loop {
        let n = io.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if let Some(version) = classify(&buf[..len]) {
            break version;
        }
    };
    let prefix = Box::new(Prefix { buf, len, pos: 0 });
    Ok((
        version,
        Prefixed {
            io,
            prefix: Some(prefix),
        },
    ))
}

/// A stream with the bytes the sniff read put back in front of it.
#[derive(Debug)]
pub(crate) struct Prefixed<Io> {
    io: Io,
    /// Boxed and dropped once replayed: an idle connection keeps one pointer's worth.
    prefix: Option<Box<Prefix>>,
}

#[derive(Debug)]
struct Prefix {
    buf: [u8; PREFACE.len()],
    len: usize,
    pos: usize,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Prefixed<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(prefix) = &mut self.prefix {
            let rest = &prefix.buf[prefix.pos..prefix.len];
            let n = rest.len().min(out.remaining());
            out.put_slice(&rest[..n]);
            prefix.pos += n;
            if prefix.pos == prefix.len {
                self.prefix = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Prefixed<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_preface_decides_only_when_whole_or_broken() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Version::Http1));
        assert_eq!(classify(b"P"), None);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(classify(b"PRI * HTTP/1.1"), Some(Version::Http1));
        assert_eq!(classify(PREFACE), Some(Version::Http2));
        assert_eq!(
            classify(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(Version::Http2)
        );
    }

    #[tokio::test]
    async fn what_the_sniff_read_is_read_again() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        drop(client);
        let (version, mut io) = read(server).await.unwrap();
        assert_eq!(version, Version::Http1);
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n\r\n");
    }
}
