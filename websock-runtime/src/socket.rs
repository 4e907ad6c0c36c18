//! The socket an upgraded connection owns.
//!
//! hyper hands an upgraded connection over as `Upgraded`: the socket boxed behind a trait
//! object, with the bytes hyper had read past the request in front of it. A plain TCP socket
//! is taken back out of it (`Upgraded::downcast`): the connection then holds the socket itself,
//! and the box is freed, which every idle connection would otherwise pay for. Those early
//! bytes go to the connection's reader. Anything else (TLS, an HTTP/2 stream, another
//! listener's stream) stays as hyper made it.
//!
//! A connection that opens its fast lane (see `lane`) splits its TCP socket once, so that
//! senders on other tasks can write to it; the others never pay for the split.

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

/// A plain TCP socket, or what hyper upgraded.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    /// A TCP socket whose writing half the connection shares with its fast lane.
    Split {
        read: OwnedReadHalf,
        write: Arc<OwnedWriteHalf>,
    },
    // Boxed: rare, and larger than a `TcpStream`.
    Upgraded(Box<TokioIo<Upgraded>>),
    /// Only while `share_writer` splits the socket.
    Splitting,
}

impl Socket {
    /// The socket of `upgraded`, and the bytes hyper had read from it past the request.
    pub(crate) fn new(upgraded: Upgraded) -> (Self, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Self::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (
                Self::Upgraded(Box::new(TokioIo::new(upgraded))),
                Bytes::new(),
            ),
        }
    }

    /// The writing half of a TCP socket, for the fast lane, split off on first use; `None`
    /// for any other socket (TLS, an HTTP/2 stream), which keeps its writes to itself.
    pub(crate) fn share_writer(&mut self) -> Option<Arc<OwnedWriteHalf>> {
        match self {
            Self::Split { write, .. } => return Some(write.clone()),
            Self::Tcp(_) => {}
            Self::Upgraded(_) | Self::Splitting => return None,
        }
        let Self::Tcp(tcp) = std::mem::replace(self, Self::Splitting) else {
            unreachable!("matched above");
        };
        let (read, write) = tcp.into_split();
        let write = Arc::new(write);
        *self = Self::Split {
            read,
            write: write.clone(),
        };
        Some(write)
    }
}

fn splitting() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket being split")
}

/// Writes to a writing half the lane shares: through readiness, as `TcpStream` does itself,
/// since a shared half cannot be borrowed mutably.
fn poll_write_shared(
    write: &OwnedWriteHalf,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let tcp: &TcpStream = write.as_ref();
    loop {
        std::task::ready!(tcp.poll_write_ready(cx))?;
        match tcp.try_write_vectored(bufs) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            written => return Poll::Ready(written),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Split { read, .. } => Pin::new(read).poll_read(cx, buf),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_read(cx, buf),
            Self::Splitting => Poll::Ready(Err(splitting())),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Split { write, .. } => poll_write_shared(write, cx, &[IoSlice::new(buf)]),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_write(cx, buf),
            Self::Splitting => Poll::Ready(Err(splitting())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Split { write, .. } => poll_write_shared(write, cx, bufs),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
            Self::Splitting => Poll::Ready(Err(splitting())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(tcp) => tcp.is_write_vectored(),
            Self::Split { .. } => true,
            Self::Upgraded(io) => io.is_write_vectored(),
            Self::Splitting => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Split { .. } | Self::Splitting => Poll::Ready(Ok(())),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            // The lane let go of its half when the connection's loop ended; were it still
            // held, the FIN would go when the last holder drops it.
            Self::Split { write, .. } => match Arc::get_mut(write) {
                Some(write) => Pin::new(write).poll_shutdown(cx),
                None => Poll::Ready(Ok(())),
            },
            Self::Splitting => Poll::Ready(Ok(())),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}
