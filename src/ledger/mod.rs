//! The ledger state machine (DESIGN.md §3.1): validates one event against the state as of the
//! entry before it and, only if every rule holds, writes its effects. Pure: no I/O.

pub mod overlay;
pub mod state;

pub use overlay::{MemState, Overlay, StateChanges};
pub use state::{
    ActorRecord, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord, EventRecord,
    GenesisRecord, KeyRecord, SiteRecord, StateError, StateView,
};
