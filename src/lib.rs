//! Lodestone: a verifiable provenance ledger for the rare-earth supply chain.
//!
//! Every batch event (extracted, processed, shipped, received, certified, retired) is a
//! DSSE-signed envelope, checked by a deterministic state machine, appended to a hash-chained
//! RFC 6962 Merkle log stored in sled, and covered by C2SP signed checkpoints.
//!
//! Layers, inner to outer:
//! - [`log`]: the transparency-log core (hashes, tree math, proofs, signed notes, checkpoints,
//!   tiles). Pure computation, no I/O.
//! - [`model`]: domain types (validated identifiers, materials, events), DSSE envelopes and the
//!   bincode entry codec. No I/O.
//! - [`ledger`]: the state machine that validates and applies one event against the state as of
//!   the entry before it. No I/O.
//! - [`audit`]: provenance DAGs, origin shares, bundles and full replay audits.
//! - [`store`]: the sled layout and the atomic block commit.
//! - [`sequencer`]: group commit (verify, validate, persist, overlapping block by block).
//! - [`service`]: a ledger directory: `init`, and opening it with its sequencer running.
//! - [`http`] and [`cli`]: the edges.
//! - [`witness`]: a C2SP witness service, and the log's cosigner that gathers a quorum of
//!   witness cosignatures for its checkpoints.
//! - [`telemetry`]: metrics, request ids and log output, for operators.
//! - [`epcis`]: GS1 EPCIS 2.0 / CBV 2.0 mapping, event hash and query parameters (pure).
//! - [`scenario`] (the seed supply chain) and [`synth`] (a synthetic network for benchmarks).

pub mod audit;
pub mod cli;
pub mod epcis;
pub mod fuzzing;
pub mod http;
pub mod ledger;
pub mod log;
pub mod model;
pub mod scenario;
pub mod sequencer;
pub mod service;
pub mod store;
pub mod synth;
pub mod telemetry;
pub mod webdriver;
pub mod witness;
