//! The socket an upgraded connection owns.
//!
//! hyper hands an upgraded connection over as `Upgraded`: the socket boxed behind a trait
//! object, with the bytes hyper had read past the request in front of it. A plain TCP socket
//! is taken back out of it (`Upgraded::downcast`): the connection then holds the socket itself,
//! and the box is freed, which every idle connection would otherwise pay for. Those early
//! bytes go to the connection's reader. Anything else (TLS, an HTTP/2 stream, another
//! listener's stream) stays as hyper made it.

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// A plain TCP socket, or what hyper upgraded.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    // Boxed: rare, and larger than a `TcpStream`.
    Upgraded(Box<TokioIo<Upgraded>>),
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
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_read(cx, buf),
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
            Self::Upgraded(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(tcp) => tcp.is_write_vectored(),
            Self::Upgraded(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}
