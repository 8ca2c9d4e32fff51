//! sluice's load generator and mock upstream.
//!
//! - [`mock`]: an OpenAI-compatible HTTP/1.1 upstream on monoio, thread-per-core, with
//!   scripted latency, streaming cadence and faults, deterministic under a seed. The
//!   gateway's end-to-end tests and benchmarks put it behind sluice; `sluice-loadtest
//!   mock` runs it from the command line.
//! - [`run`]: the load generator. [`run::run`] takes a [`run::RunConfig`] (targets, a
//!   closed or open loop [`run::Mode`], a [`workload::Workload`]) and returns a
//!   [`report::Report`]: per-target HDR histograms (latency, queueing, time to first
//!   byte and token, inter-token gaps), status classes, errors, offered and achieved
//!   rates and a per-second timeline. Thread-per-core like the mock, no locks and no
//!   allocation per request on its hot path. `sluice-loadtest run` is its CLI; the
//!   capacity planner calls it as a library.
//! - [`workload`]: the TOML request mix (models, endpoints, prompt size distributions,
//!   `max_tokens`, stream share, extra headers, API keys) and its seeded request
//!   sequence.
//! - [`report`]: the report types and their writers (text table, JSON, SVG plot).
//! - [`plan`]: the capacity planner. [`plan::plan`] sweeps the offered rate (one
//!   [`run::run`] per step) to the highest rate meeting an SLO, measures the gateway's
//!   CPU per request and memory per stream from `/proc`, and sizes cores, hosts and
//!   memory for a target rate; `sluice-loadtest plan` is its CLI.
//!
//! Depends on `proto` (HTTP/1.1 codec, SSE decoder, OpenAI wire shapes) and the runtime
//! crates only; never on `engine`, so the gateway is measured against something that
//! shares none of its code above the codec, and any OpenAI-compatible endpoint can be
//! driven.

pub mod mock;
pub mod plan;
pub mod report;
pub mod run;
pub mod workload;
