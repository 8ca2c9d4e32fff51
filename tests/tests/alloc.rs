//! The request path allocates nothing per request once warm (ARCHITECTURE.md's
//! invariant), checked with a counting global allocator.
//!
//! A separate test binary, not a module of `it`, because a global allocator is
//! process-wide: here the only traffic is this test's, and the client itself is
//! allocation-free (fixed buffers, pre-rendered requests), so every allocation counted
//! belongs to the gateway or the mock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sluice_tests::{chat_body, config, mock, post, Drv, Gateway, MODEL, PLAIN_MODEL};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates to the system allocator; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Send `n` requests on one keep-alive connection; read each response whole (its head
/// says Content-Length) into a fixed buffer.
fn drive(s: &mut TcpStream, req: &[u8], n: usize, buf: &mut [u8]) {
    for _ in 0..n {
        s.write_all(req).unwrap();
        let mut have = 0;
        loop {
            let got = s.read(&mut buf[have..]).unwrap();
            assert!(got > 0, "connection closed");
            have += got;
            let text = &buf[..have];
            let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            assert!(
                text.starts_with(b"HTTP/1.1 200 "),
                "{}",
                String::from_utf8_lossy(text)
            );
            let cl = text[..end]
                .split(|&b| b == b'\n')
                .find_map(|l| {
                    let l = l.strip_prefix(b"content-length: ")?;
                    std::str::from_utf8(l).ok()?.trim().parse::<usize>().ok()
                })
                .expect("content-length");
            if have >= end + 4 + cl {
                assert_eq!(have, end + 4 + cl, "one response per request");
                break;
            }
        }
    }
}

fn allocations_per_request(d: Drv, model: &str) -> f64 {
    let m = mock(d);
    let gw = Gateway::start_workers(&config(m.addr, "", ""), d, 1);
    let req = post("/v1/chat/completions", &chat_body(model, false), "");
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    // Warm up: buffers reach their working size, pools fill, the first connection is made.
    drive(&mut s, &req, 200, &mut buf);
    let before = ALLOCS.load(Ordering::Relaxed);
    drive(&mut s, &req, 1000, &mut buf);
    let after = ALLOCS.load(Ordering::Relaxed);
    drop(s);
    drop(gw);
    (after - before) as f64 / 1000.0
}

#[test]
fn the_request_path_does_not_allocate_per_request() {
    for d in [Drv::IoUring, Drv::Epoll] {
        // Both the plain pass-through and the renamed-model splice.
        for model in [PLAIN_MODEL, MODEL] {
            let per = allocations_per_request(d, model);
            assert!(
                per < 0.05,
                "{d:?} {model}: {per} allocations per request (gateway + mock)"
            );
        }
    }
}
