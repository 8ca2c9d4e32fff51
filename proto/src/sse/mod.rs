//! Server-Sent Events. IMPLEMENTATION PENDING (helper H2).
