//! Governance: rate limits, budgets, prices, prompt-token estimates.

pub mod budget;
pub mod limit;
pub mod price;
pub mod tokens;
