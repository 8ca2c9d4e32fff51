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
use std::time::Duration;

use monoio::net::TcpStream;

/// How often a watch whose socket holds unread bytes checks for the peer's FIN.
const HANGUP_POLL: Duration = Duration::from_millis(100);

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
        Ok(Watch {
            stream: TcpStream::from_std(std)?,
            fd: dup,
        })
    }

    fn peek(&self) -> Peek {
        let mut b = [0u8; 1];
        // SAFETY: `self.fd` is owned by `self.stream` and open; `b` is a valid 1-byte buffer.
        let n = unsafe {
            libc::recv(
                self.fd,
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => Peek::Closed,
            n if n > 0 => Peek::Data,
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Peek::WouldBlock,
                _ => Peek::Closed,
            },
        }
    }

    /// Whether the peer has shut down its side (FIN or RST), even with unread bytes
    /// queued before it: POLLRDHUP sees past them where a peek cannot.
    fn hung_up(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
    }

    /// Resolves when the client has closed or reset the connection.
    ///
    /// Unread bytes are left in the socket for the request path: a pipelined request, or
    /// a TLS record such as the close_notify alert a TLS client sends just before its
    /// FIN. Readiness stays set while they wait, so the watch then polls for the FIN
    /// behind them every [`HANGUP_POLL`] instead of trusting the peek.
    pub async fn closed(&self) {
        loop {
            if self.stream.readable(false).await.is_err() {
                return;
            }
            match self.peek() {
                Peek::Closed => return,
                Peek::Data => loop {
                    if self.hung_up() {
                        return;
                    }
                    monoio::time::sleep(HANGUP_POLL).await;
                },
                Peek::WouldBlock => {}
            }
        }
    }
}
