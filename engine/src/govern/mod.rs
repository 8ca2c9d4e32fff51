//! Governance: prompt-token estimation and prices (the lead replaces this file).
pub mod price;
pub mod tokens;
