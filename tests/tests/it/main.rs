//! End-to-end tests: the real gateway in-process on port 0, the `loadtest` mock as its
//! upstream, and raw HTTP/1.1 (or rustls) clients. Every I/O test runs once per monoio
//! driver (`name::io_uring`, `name::epoll`); see `sluice_tests::both_drivers!`.

mod admin;
mod bedrock;
mod cache;
mod cancel;
mod concurrency;
mod demo;
mod edge;
mod errors;
mod governance;
mod keepalive;
mod limits;
mod providers;
mod roundtrip;
mod routing;
mod shutdown;
mod tls;
mod translated;
mod upstream;

use sluice_tests::*;
