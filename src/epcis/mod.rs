//! GS1 EPCIS 2.0 (ISO/IEC 19987) and CBV 2.0 for Lodestone: the mapping between ledger events and
//! EPCIS events in both directions, the CBV event hash, and the EPCIS query parameters
//! (docs/EPCIS.md is the contract). Pure: no I/O — the HTTP routes (`http::epcis_api`) and the
//! CLI (`cli::epcis`) read the ledger and the network.
//!
//! - [`vocab`]: business steps, dispositions, the Lodestone namespace and process URIs, and the
//!   URIs of batches, sites and actors under the log's origin;
//! - [`mass`]: whole grams ↔ `KGM`/`TNE`/`GRM` quantities, exactly;
//! - [`hash`] and [`digital_link`]: the CBV 2.0 event hash (`ni:///sha-256;…?ver=CBV2.0`);
//! - [`export`]: a recorded ledger event → an EPCIS event, documents and query documents;
//! - [`import`]: an EPCIS capture document → ledger events, or refusals naming each event's
//!   position, the JSON path of the field and why;
//! - [`query`]: the EPCIS 2.0 REST query parameters Lodestone answers, and matching.

pub mod digital_link;
pub mod export;
pub mod hash;
pub mod import;
pub mod mass;
pub mod query;
pub mod vocab;

pub use export::{Directory, Recorded};
pub use import::{ImportProfile, Refusal};
pub use vocab::Names;
