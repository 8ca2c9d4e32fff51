//! Noticing that a client went away while its request is upstream.
//!
//! A client that disconnects while the gateway waits on the upstream must cancel the
//! upstream request (close that connection, never pool it). Waiting for the next write
//! to fail is not enough: a model can think for a minute before its first byte. So while
//! a request is upstream, the connection loop also awaits [`Watch::closed`], which
//! resolves only when the client socket reports EOF or an error.
//!
//! The watch polls a `dup` of the client socket, so it needs no borrow of the stream the
//! request path is writing to, and works under TLS (readiness is a property of the
//! socket). The dup is made once per connection, on its first forwarded request.

use std::os::fd::{FromRawFd, RawFd};

use monoio::net::TcpStream;

pub struct Watch {
    stream: TcpStream,
    fd: RawFd,
}

enum Peek {
    Closed,
    Data,
    WouldBlock,
}

impl Watch {
    pub fn new(fd: RawFd) -> std::io::Result<Watch> {
        // SAFETY: `fd` is the open client socket for the lifetime of this call; dup
        // returns a new descriptor we own (or -1).
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `dup` is a freshly duplicated, owned socket descriptor.
        let std = unsafe { std::net::TcpStream::from_raw_fd(dup) };
        Ok(Watch { stream: TcpStream::from_std(std)?, fd: dup })
    }

    fn peek(&self) -> Peek {
        let mut b = [0u8; 1];
        // SAFETY: `self.fd` is owned by `self.stream` and open; `b` is a valid 1-byte buffer.
        let n = unsafe { libc::recv(self.fd, b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        match n {
            0 => Peek::Closed,
            n if n > 0 => Peek::Data,
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Peek::WouldBlock,
                _ => Peek::Closed,
            },
        }
    }

    /// Resolves when the client has closed or reset the connection. Pipelined bytes from
    /// a live client are left in the socket, and the watch then stays pending: a client
    /// that keeps sending is not going away.
    pub async fn closed(&self) {
        loop {
            if self.stream.readable(false).await.is_err() {
                return;
            }
            match self.peek() {
                Peek::Closed => return,
                Peek::Data => std::future::pending::<()>().await,
                Peek::WouldBlock => {}
            }
        }
    }
}
