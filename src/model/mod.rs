//! Domain types: validated identifiers, materials and processes, event payloads (v1), DSSE
//! envelopes and the bincode entry codec. Pure: no I/O.

pub mod composition;
pub mod entry;
pub mod envelope;
pub mod event;
pub mod ids;
pub mod keys;
pub mod material;

pub use composition::Composition;
pub use event::{Event, EventBody, EventError};
pub use ids::{
    ActorId, AdditiveName, BatchId, BatchPrefix, CountryCode, DocumentDigest, EventId, Grams,
    IdError, SiteId, Timestamp,
};
pub use keys::{KeyId, PublicKey};
pub use material::{Claim, Element, Form, Process, QuotaStage, RetireReason, Role, SiteKind};
