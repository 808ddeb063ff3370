//! TODO(audit): being written.
