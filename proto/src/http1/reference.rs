//! Naive reference implementations. IMPLEMENTATION PENDING (helper H1).
