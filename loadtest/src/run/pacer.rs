//! A precise wait for open-loop arrivals.
//!
//! monoio's timer wheel has a 1 ms resolution and rounds up, so `sleep` would send
//! requests up to a millisecond after their intended time, and that lateness would be
//! charged to the target (latency is timed from the intended time). A spin-wait would
//! starve the runtime's timers instead (they only advance when the runtime parks). So
//! the pacer arms a `timerfd` (CLOCK_MONOTONIC, the clock behind `Instant`) and waits for
//! it to become readable through the runtime, which works on both drivers: a poll
//! operation on io_uring, epoll readiness on the fallback. Wake-ups land within tens of
//! microseconds of the deadline, and the thread parks in between.

use std::os::fd::{FromRawFd, RawFd};
use std::time::Instant;

pub(crate) struct Pacer {
    /// The timerfd, registered with the runtime. It is not a socket; only its
    /// readiness is used, and dropping it closes the fd.
    fd: monoio::net::UnixStream,
    raw: RawFd,
}

impl Pacer {
    /// Must be called on a monoio runtime's thread.
    pub(crate) fn new() -> std::io::Result<Pacer> {
        // SAFETY: timerfd_create takes no pointers.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly created fd that nothing else owns; the stream takes
        // ownership and closes it once. The wrapper is only polled for readability.
        let std_stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(raw) };
        let fd = monoio::net::UnixStream::from_std(std_stream)?;
        Ok(Pacer { fd, raw })
    }

    /// Return at or just after `deadline` (at once if it has passed).
    pub(crate) async fn wait_until(&self, deadline: Instant) -> std::io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let left = deadline - now;
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: left.as_secs() as libc::time_t,
                    // `left` > 0, so the value is not all zero (which would disarm).
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: `raw` is our open timerfd; `spec` is a valid itimerspec and a null
            // old-value pointer is allowed.
            let rc = unsafe { libc::timerfd_settime(self.raw, 0, &spec, std::ptr::null_mut()) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            self.fd.readable(false).await?;
            let mut expirations: u64 = 0;
            // SAFETY: reads at most 8 bytes into a u64 we own. Non-blocking: EAGAIN
            // (a spurious readiness) is fine, the loop re-checks the clock.
            unsafe {
                libc::read(
                    self.raw,
                    (&mut expirations as *mut u64).cast::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                );
            }
        }
    }
}
