//! The sluice gateway engine.
//!
//! Thread-per-core: [`server::start`] binds one SO_REUSEPORT listener per worker and runs
//! each worker on its own thread with its own monoio runtime (io_uring, or epoll where
//! io_uring cannot be set up), its own upstream pool and its own metrics shard. A request
//! is served start to finish on the core that accepted it (see `conn` for the phases).
//!
//! Key types: [`config::Snapshot`] (the immutable runtime configuration, built only by
//! [`config`]), [`server::ServerHandle`], [`error::GatewayError`].
//!
//! Invariants:
//! - No lock and no cross-core hand-off on the request path: per-core state lives in the
//!   worker; cross-thread state is the read-only snapshot, per-core metric shards with a
//!   single writer each, and the access-log channel (`try_send`, never waits).
//! - Every client-visible error is OpenAI-shaped JSON, produced by
//!   [`error::GatewayError::write_body`].
//! - `engine` depends on `proto` and `cache`, never the reverse.

pub mod accesslog;
pub mod caching;
pub mod cli;
pub mod config;
mod conn;
pub mod error;
pub mod govern;
mod io;
pub mod log;
pub mod metrics;
pub mod route;
pub mod server;
pub mod store;
mod upstream;

pub use server::{start, ServerHandle};
