//! Stream plumbing: one type over plain TCP and TLS, and rent-model helpers that keep a
//! connection's buffer in a `Vec` the caller owns between operations.

use std::io;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;

/// Plain or TLS, decided once per connection. The TLS side is boxed: a rustls
/// connection is over 1 KiB, and inline it would size every plain connection's (and
/// every pooled upstream's) state too.
pub enum Either<A, B> {
    Plain(A),
    Tls(Box<B>),
}

/// A client connection.
pub type ClientIo = Either<TcpStream, monoio_rustls::ServerTlsStream<TcpStream>>;
/// An upstream connection.
pub type UpstreamIo = Either<TcpStream, monoio_rustls::ClientTlsStream<TcpStream>>;

impl<A: AsyncReadRent, B: AsyncReadRent> AsyncReadRent for Either<A, B> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Either::Plain(s) => s.read(buf).await,
            Either::Tls(s) => (**s).read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Either::Plain(s) => s.readv(buf).await,
            Either::Tls(s) => (**s).readv(buf).await,
        }
    }
}

impl<A: AsyncWriteRent, B: AsyncWriteRent> AsyncWriteRent for Either<A, B> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Either::Plain(s) => s.write(buf).await,
            Either::Tls(s) => (**s).write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Either::Plain(s) => s.writev(buf).await,
            Either::Tls(s) => (**s).writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Either::Plain(s) => s.flush().await,
            Either::Tls(s) => (**s).flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Either::Plain(s) => s.shutdown().await,
            Either::Tls(s) => (**s).shutdown().await,
        }
    }
}

/// Read once, appending to `buf` (at least `reserve` bytes of room). `Ok(0)` is EOF.
///
/// If this future is dropped before completion `buf` is left empty: callers drop the
/// connection in that case.
pub async fn read_more<S: AsyncReadRent>(
    s: &mut S,
    buf: &mut Vec<u8>,
    reserve: usize,
) -> io::Result<usize> {
    buf.reserve(reserve);
    let len = buf.len();
    // A `Vec` as an `IoBufMut` is read into from its start; the slice reads into the
    // spare capacity after the bytes already buffered.
    let (r, b) = s.read(std::mem::take(buf).slice_mut(len..)).await;
    *buf = b.into_inner();
    r
}

/// Write all of `buf`.
pub async fn write_all<S: AsyncWriteRent>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<()> {
    let (r, b) = s.write_all(std::mem::take(buf)).await;
    *buf = b;
    r.map(drop)
}

/// Write `buf[start..end]` without copying it.
pub async fn write_range<S: AsyncWriteRent>(
    s: &mut S,
    buf: &mut Vec<u8>,
    start: usize,
    end: usize,
) -> io::Result<()> {
    let (r, b) = s.write_all(std::mem::take(buf).slice(start..end)).await;
    *buf = b.into_inner();
    r.map(drop)
}
