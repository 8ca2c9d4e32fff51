//! sluice's load generator and mock upstream.
//!
//! - [`mock`]: an OpenAI-compatible HTTP/1.1 upstream on monoio, thread-per-core, with
//!   scripted latency, streaming cadence and faults, deterministic under a seed. The
//!   gateway's end-to-end tests and benchmarks put it behind sluice; `sluice-loadtest
//!   mock` runs it from the command line.
//!
//! Depends on `proto` (HTTP/1.1 codec, OpenAI wire shapes) and the runtime crates only;
//! never on `engine`, so the gateway is measured against something that shares none of
//! its code above the codec.

pub mod mock;
