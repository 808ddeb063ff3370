//! Audits: the full replay of the log.

pub mod bundle;
pub mod replay;
