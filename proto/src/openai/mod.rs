//! OpenAI wire shapes. IMPLEMENTATION PENDING (helper H3).
