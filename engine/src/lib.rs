//! The sluice gateway.
