//! The upstream side: connecting (TCP, rustls) and the per-core keep-alive pool.

mod connect;
mod pool;

pub use connect::connect;
pub use pool::Pool;
