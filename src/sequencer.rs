//! Group commit (being written).
