//! Provenance bundles (DESIGN.md §6): everything needed to check one batch offline with only the
//! log's verifier key.
//!
//! A bundle holds a signed checkpoint and, each with an RFC 9162 inclusion proof against it:
//! the genesis entry, every entry of the batch's upstream provenance DAG (creations,
//! consumptions, shipments, receipts, certifications, retirements), and the registry entries of
//! every actor who signed one of them (and of the authorities who registered those actors).
//!
//! Checking a bundle ([`verify_bundle`]): the checkpoint signature; every entry's inclusion
//! proof (which also pins its bytes); then a replay of the bundled entries, in log order,
//! through the same state machine the ledger runs — signatures against registered keys,
//! custody, statuses, forms, mass balance — and finally the origin shares recomputed from the
//! replayed state. An entry that refers to a batch *outside* the bundle (a consumption that fed
//! a branch not leading to this batch) cannot be replayed; it is still proven to be in the log,
//! and is reported as such. What a bundle cannot prove is said in every report.
//!
//! Pure: the builder reads through the [`EntrySource`], [`HashReader`] and [`StateView`] seams.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{provenance, provenance_dag, AuditError, OriginReport, MAX_DAG_NODES};
use crate::ledger::signatures::EnvelopeSignatures;
use crate::ledger::{self, EntryContext, LedgerError, MemState, StateView};
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteVerifier;
use crate::log::policy::Policy;
use crate::log::tree::{inclusion_proof, verify_inclusion, HashReader, TreeError};
use crate::log::Hash;
use crate::model::entry::Entry;
use crate::model::event::{Event, EventBody};
use crate::model::ids::{ActorId, BatchId};

/// The bundle format tag.
pub const BUNDLE_FORMAT: &str = "lodestone-bundle/v1";

/// What a bundle cannot prove, stated in every report.
pub const LIMITS: &[&str] = &[
    "that no entry outside this bundle spent the same batches: a double spend elsewhere in the log needs the full audit (`lodestone verify`)",
    "that the masses still held are as shown: later entries outside the bundle may have used them",
    "that the log did not show other auditors a different tree: compare checkpoints (witnesses, `lodestone verify`'s saved checkpoint)",
    "that no entry about these batches was left out: a certificate, a later use or a retirement may be missing from a bundle; the server's `/v1/batches/{id}` history and the full audit show every entry",
    "that the physical material matches the records: the ledger proves who signed what, not what is in the drum",
    "that no other actor held an overlapping batch id prefix: the registry's prefix rule is checked against the whole registry, which a bundle holds only in part",
];

/// Reads entry bytes by index (the store implements it).
pub trait EntrySource {
    /// The canonical bytes of entry `index`, if it exists.
    fn entry_bytes(&self, index: u64) -> Result<Option<Vec<u8>>, BundleError>;
}

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The provenance query failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A proof could not be computed.
    #[error("inclusion proof: {0}")]
    Tree(#[from] TreeError),
    /// An entry named by the state is missing or unreadable.
    #[error("entry {index}: {detail}")]
    Entry {
        /// Entry index.
        index: u64,
        /// What is wrong.
        detail: String,
    },
}

/// One bundled entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    /// Position in the log.
    pub index: u64,
    /// The entry bytes, standard base64.
    pub leaf: String,
    /// Inclusion proof against the bundle's checkpoint (base64 hashes).
    pub proof: Vec<Hash>,
}

/// A provenance bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// The batch the bundle is about.
    pub batch: BatchId,
    /// The signed checkpoint every proof leads to.
    pub checkpoint: String,
    /// The entries, ascending by index.
    pub entries: Vec<BundleEntry>,
}

/// Builds the bundle of `batch` against the checkpoint `checkpoint` (a signed note of tree size
/// `size`, which must cover every entry of the state read).
pub fn build_bundle<S>(
    source: &S,
    batch: &BatchId,
    checkpoint: &str,
    size: u64,
) -> Result<Bundle, BundleError>
where
    S: StateView + HashReader + EntrySource,
{
    let dag = provenance_dag(source, batch, MAX_DAG_NODES)?;
    let mut indexes: BTreeSet<u64> = dag.entries.iter().copied().collect();
    indexes.insert(0);
    let mut entries: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut actors_done: BTreeSet<ActorId> = BTreeSet::new();
    // Close over signers: the actors of the bundled entries, then the authorities who signed
    // their registrations, until nothing new appears.
    let mut pending: Vec<u64> = indexes.iter().copied().collect();
    while let Some(index) = pending.pop() {
        if entries.contains_key(&index) {
            continue;
        }
        let bytes = source.entry_bytes(index)?.ok_or(BundleError::Entry {
            index,
            detail: "missing from the store".into(),
        })?;
        let entry = Entry::decode(&bytes).map_err(|e| BundleError::Entry {
            index,
            detail: e.to_string(),
        })?;
        let event = Event::from_json(&entry.envelope.payload).map_err(|e| BundleError::Entry {
            index,
            detail: e.to_string(),
        })?;
        entries.insert(index, bytes);
        // A shipment made under an export licence replays only with the licence's issue (and
        // that needs the exporter and consignee registered): both come along (issue 17).
        let mut involved = vec![event.actor.clone()];
        match &event.body {
            EventBody::Ship(ship) => {
                if let Some(licence) = &ship.licence {
                    if let Some(record) = source.licence(licence).map_err(AuditError::from)? {
                        pending.push(record.issued_in);
                    }
                    involved.push(ship.to.clone());
                }
            }
            EventBody::IssueLicence(issue) => {
                involved.push(issue.exporter.clone());
                involved.push(issue.consignee.clone());
            }
            _ => {}
        }
        for actor in involved.into_iter().skip(1) {
            if actors_done.insert(actor.clone()) {
                if let Some(actor) = source.actor(&actor).map_err(AuditError::from)? {
                    pending.extend(actor.entries.iter().copied());
                }
            }
        }
        if actors_done.insert(event.actor.clone()) {
            if let Some(actor) = source.actor(&event.actor).map_err(AuditError::from)? {
                pending.extend(actor.entries.iter().copied());
            }
        }
    }
    let entries = entries
        .into_iter()
        .map(|(index, bytes)| {
            Ok(BundleEntry {
                index,
                leaf: B64.encode(&bytes),
                proof: inclusion_proof(index, size, source)?,
            })
        })
        .collect::<Result<Vec<_>, BundleError>>()?;
    Ok(Bundle {
        format: BUNDLE_FORMAT.to_owned(),
        batch: batch.clone(),
        checkpoint: checkpoint.to_owned(),
        entries,
    })
}

/// One problem found in a bundle, located.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BundleFailure {
    /// Where: `checkpoint`, `bundle`, or `entry <index>`.
    pub location: String,
    /// What is wrong.
    pub problem: String,
}

/// A certificate a bundle proves: who attached which claim to which batch, in which entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProvenCertificate {
    /// The certified batch.
    pub batch: BatchId,
    /// The entry that recorded it.
    pub index: u64,
    /// The certifier.
    pub certifier: ActorId,
    /// The kind of claim.
    pub claim: crate::model::material::Claim,
    /// What it says.
    pub statement: String,
    /// SHA-256 of the certificate document.
    pub document_sha256: crate::model::ids::DocumentDigest,
}

/// The result of checking a bundle.
#[derive(Clone, Debug, Serialize)]
pub struct BundleReport {
    /// True only if every check passed.
    pub verified: bool,
    /// The batch.
    pub batch: Option<BatchId>,
    /// The log's origin.
    pub origin: Option<String>,
    /// Tree size of the checkpoint.
    pub checkpoint_size: Option<u64>,
    /// Entries whose inclusion proofs verified.
    pub entries_proven: usize,
    /// Entries replayed through the state machine.
    pub entries_replayed: usize,
    /// Entries proven in the log but not replayable from the bundle alone (they refer to
    /// batches outside it), with the reason.
    pub entries_outside_scope: Vec<BundleFailure>,
    /// Failures; empty when verified.
    pub failures: Vec<BundleFailure>,
    /// Origin shares recomputed from the replayed entries.
    pub origins: Option<OriginReport>,
    /// Certificates along the provenance DAG that the bundle proves.
    pub certificates: Vec<ProvenCertificate>,
    /// What a bundle cannot prove.
    pub cannot_prove: Vec<&'static str>,
    /// With a witness policy: the policy names of the witnesses whose cosignatures on the
    /// checkpoint verified (absent when checked without a policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<Vec<String>>,
    /// Per-element origin shares recomputed from the replayed entries (issue 12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<super::elements::ElementReport>,
    /// With a compliance policy (`verify-bundle --compliance`): its verdict, recomputed from
    /// the proven entries only; absent when the bundle does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compliance: Option<super::compliance::Verdict>,
}

impl BundleReport {
    /// A report of one failure at `location` (e.g. a bundle that does not parse).
    pub fn failed(location: &str, problem: impl Into<String>) -> BundleReport {
        let mut report = BundleReport::empty();
        report.fail(location, problem);
        report
    }

    fn empty() -> BundleReport {
        BundleReport {
            verified: false,
            batch: None,
            origin: None,
            checkpoint_size: None,
            entries_proven: 0,
            entries_replayed: 0,
            entries_outside_scope: Vec::new(),
            failures: Vec::new(),
            origins: None,
            certificates: Vec::new(),
            cannot_prove: LIMITS.to_vec(),
            witnesses: None,
            elements: None,
            compliance: None,
        }
    }

    fn fail(&mut self, location: &str, problem: impl Into<String>) {
        self.verified = false;
        self.failures.push(BundleFailure {
            location: location.to_owned(),
            problem: problem.into(),
        });
    }

    /// A plain-text report for people.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let verdict = if self.verified { "OK" } else { "FAILED" };
        let _ = writeln!(out, "bundle: {verdict}");
        if let Some(batch) = &self.batch {
            let _ = writeln!(out, "  batch        {batch}");
        }
        if let (Some(origin), Some(size)) = (&self.origin, self.checkpoint_size) {
            let _ = writeln!(
                out,
                "  log          {origin} (checkpoint of {size} entries, signature valid)"
            );
        }
        if let Some(witnesses) = &self.witnesses {
            let _ = writeln!(
                out,
                "  witnesses    quorum met, cosigned by {}",
                witnesses.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "  entries      {} proven in the log, {} replayed through the ledger rules",
            self.entries_proven, self.entries_replayed
        );
        for f in &self.failures {
            let _ = writeln!(out, "  FAILED at {}: {}", f.location, f.problem);
        }
        if let Some(origins) = &self.origins {
            let _ = writeln!(
                out,
                "\norigin of {} g (mass balance, ISO 22095):",
                origins.basis_g
            );
            for site in &origins.origins_by_site {
                let _ = writeln!(
                    out,
                    "  {:>6.2}%  {:>16} g  {} ({}, {})",
                    site.share * 100.0,
                    site.grams,
                    site.name,
                    site.owner,
                    site.country
                );
            }
            if origins.recycled_g > 0 {
                let _ = writeln!(out, "  {:>16} g recycled", origins.recycled_g);
            }
            if origins.untracked_g > 0 {
                let _ = writeln!(out, "  {:>16} g untracked additives", origins.untracked_g);
            }
            for country in &origins.origins_by_country {
                let _ = writeln!(
                    out,
                    "  country {}: {:.2}%",
                    country.country,
                    country.share * 100.0
                );
            }
        }
        if let Some(elements) = &self.elements {
            for e in &elements.elements {
                let places: Vec<String> = e
                    .by_country
                    .iter()
                    .map(|c| format!("{} {:.1}%", c.id, c.share * 100.0))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {:<3} {} g: mined {} g ({}), recycled {} g pre- / {} g post-consumer, undeclared {} g",
                    e.element.as_str(),
                    e.grams,
                    e.mined_g,
                    places.join(", "),
                    e.recycled_pre_consumer_g,
                    e.recycled_post_consumer_g,
                    e.undeclared_g
                );
            }
        }
        if let Some(v) = &self.compliance {
            let _ = writeln!(
                out,
                "\ncompliance {}: {}",
                v.policy,
                v.verdict.as_str().to_uppercase()
            );
            for r in &v.reasons {
                let _ = writeln!(out, "  [{}] {}", r.outcome.as_str(), r.message);
            }
            for x in &v.exceptions {
                let _ = writeln!(out, "  not seen by the ledger: {x}");
            }
        }
        if !self.certificates.is_empty() {
            let _ = writeln!(out, "\ncertificates along the way:");
            for c in &self.certificates {
                let _ = writeln!(
                    out,
                    "  {} ({}, entry {}): {} — by {}",
                    c.batch,
                    serde_json::to_value(c.claim)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    c.index,
                    c.statement,
                    c.certifier
                );
            }
        }
        if !self.entries_outside_scope.is_empty() {
            let _ = writeln!(out, "\nproven in the log but outside this bundle's scope:");
            for f in &self.entries_outside_scope {
                let _ = writeln!(out, "  {}: {}", f.location, f.problem);
            }
        }
        let _ = writeln!(out, "\nwhat this bundle cannot prove:");
        for limit in &self.cannot_prove {
            let _ = writeln!(out, "  - {limit}");
        }
        out
    }
}

/// Parses and checks a bundle given as JSON bytes.
pub fn verify_bundle_json(bytes: &[u8], verifier: &NoteVerifier) -> BundleReport {
    match serde_json::from_slice::<Bundle>(bytes) {
        Ok(bundle) => verify_bundle(&bundle, verifier),
        Err(e) => BundleReport::failed("bundle", format!("not a bundle: {e}")),
    }
}

/// Checks a bundle with only the log's verifier key.
pub fn verify_bundle(bundle: &Bundle, verifier: &NoteVerifier) -> BundleReport {
    verify_bundle_with_policy(bundle, verifier, None)
}

/// Parses and checks a bundle given as JSON bytes, requiring `policy`'s witness quorum on its
/// checkpoint when a policy is given.
pub fn verify_bundle_json_with_policy(
    bytes: &[u8],
    verifier: &NoteVerifier,
    policy: Option<&Policy>,
) -> BundleReport {
    match serde_json::from_slice::<Bundle>(bytes) {
        Ok(bundle) => verify_bundle_with_policy(&bundle, verifier, policy),
        Err(e) => BundleReport::failed("bundle", format!("not a bundle: {e}")),
    }
}

/// [`verify_bundle`], and with a policy (c2sp.org/tlog-policy) the checkpoint must also carry
/// the policy's quorum of witness cosignatures; the failure names the missing witnesses.
pub fn verify_bundle_with_policy(
    bundle: &Bundle,
    verifier: &NoteVerifier,
    policy: Option<&Policy>,
) -> BundleReport {
    verify_bundle_full(bundle, verifier, policy, None)
}

/// Parses and checks a bundle given as JSON bytes, with an optional witness policy and an
/// optional compliance policy whose verdict is recomputed from the proven entries.
pub fn verify_bundle_json_full(
    bytes: &[u8],
    verifier: &NoteVerifier,
    policy: Option<&Policy>,
    compliance: Option<&super::compliance::Policy>,
) -> BundleReport {
    match serde_json::from_slice::<Bundle>(bytes) {
        Ok(bundle) => verify_bundle_full(&bundle, verifier, policy, compliance),
        Err(e) => BundleReport::failed("bundle", format!("not a bundle: {e}")),
    }
}

/// [`verify_bundle_with_policy`], and with a compliance policy its verdict on the bundle's
/// batch, computed from the state the proven entries replay to — nothing the bundle merely
/// asserts. A bundle that fails verification gets no verdict.
pub fn verify_bundle_full(
    bundle: &Bundle,
    verifier: &NoteVerifier,
    policy: Option<&Policy>,
    compliance: Option<&super::compliance::Policy>,
) -> BundleReport {
    let mut report = BundleReport::empty();
    report.batch = Some(bundle.batch.clone());
    if bundle.format != BUNDLE_FORMAT {
        report.fail(
            "bundle",
            format!("format is `{}`, expected `{BUNDLE_FORMAT}`", bundle.format),
        );
        return report;
    }
    let checkpoint = match Checkpoint::open(&bundle.checkpoint, verifier) {
        Ok(c) => c,
        Err(e) => {
            report.fail("checkpoint", format!("not signed by the log key: {e}"));
            return report;
        }
    };
    report.origin = Some(checkpoint.origin.clone());
    report.checkpoint_size = Some(checkpoint.size);
    if let Some(policy) = policy {
        match policy.verify_checkpoint_of(&bundle.checkpoint, verifier) {
            Ok(witnessed) => {
                report.witnesses = Some(witnessed.cosigned.into_iter().map(|(n, _)| n).collect());
            }
            Err(e) => {
                report.fail("checkpoint", e.to_string());
                return report;
            }
        }
    }

    // Inclusion: every entry is in the signed tree, and its bytes are the proven leaf.
    let mut decoded: Vec<(u64, Entry, Event)> = Vec::with_capacity(bundle.entries.len());
    let mut last: Option<u64> = None;
    for item in &bundle.entries {
        let location = format!("entry {}", item.index);
        if last.is_some_and(|l| item.index <= l) {
            report.fail(&location, "entries are not in ascending order");
            return report;
        }
        last = Some(item.index);
        let Ok(bytes) = B64.decode(&item.leaf) else {
            report.fail(&location, "leaf is not base64");
            continue;
        };
        if let Err(e) = verify_inclusion(
            &leaf_hash(&bytes),
            item.index,
            checkpoint.size,
            &item.proof,
            &checkpoint.root,
        ) {
            report.fail(
                &location,
                format!("not in the signed tree (bytes or proof altered): {e}"),
            );
            continue;
        }
        report.entries_proven += 1;
        match Entry::decode(&bytes) {
            Ok(entry) if entry.index == item.index => {
                match Event::from_json(&entry.envelope.payload) {
                    Ok(event) => decoded.push((item.index, entry, event)),
                    Err(e) => report.fail(&location, format!("payload is not an event: {e}")),
                }
            }
            Ok(entry) => report.fail(&location, format!("claims index {}", entry.index)),
            Err(e) => report.fail(&location, format!("does not decode: {e}")),
        }
    }
    if !report.failures.is_empty() {
        return report;
    }
    if decoded.first().map(|(i, ..)| *i) != Some(0) {
        report.fail(
            "bundle",
            "the genesis entry (0) is missing: the authority key is unknown",
        );
        return report;
    }

    // Replay through the state machine. A transform that needs a batch no bundled entry
    // created is outside the bundle's scope only if nothing else in the bundle uses what it
    // made; otherwise an entry the provenance rests on is missing, and it fails right there.
    let used_elsewhere = batches_named(&decoded);
    let mut state = MemState::new();
    for (index, entry, event) in &decoded {
        let ctx = EntryContext {
            index: *index,
            logged_at_ms: entry.logged_at_ms,
            envelope_digest: entry.envelope.digest(),
        };
        let signatures = EnvelopeSignatures::new(&entry.envelope, &[]);
        match ledger::apply_to_mem(&mut state, &ctx, event, &signatures) {
            Ok(()) => report.entries_replayed += 1,
            Err(LedgerError::UnknownBatch { batch })
                if outside(*index, event, bundle, &used_elsewhere) =>
            {
                report.entries_outside_scope.push(BundleFailure {
                    location: format!("entry {index}"),
                    problem: format!(
                        "{} also involves batch {batch}, which is not part of this batch's provenance",
                        event.kind_name()
                    ),
                });
            }
            Err(e) => {
                report.fail(
                    &format!("entry {index}"),
                    format!("breaks a ledger rule [{}]: {e}", e.code()),
                );
                return report;
            }
        }
    }
    match provenance(&state, &bundle.batch, MAX_DAG_NODES) {
        Ok(p) => {
            report.certificates = p
                .dag
                .certificates()
                .map(|(batch, c)| ProvenCertificate {
                    batch: batch.clone(),
                    index: c.index,
                    certifier: c.certifier.clone(),
                    claim: c.claim,
                    statement: c.statement.clone(),
                    document_sha256: c.document_sha256,
                })
                .collect();
            if let Some(compliance) = compliance {
                match super::compliance::analyze_dag(&state, &p.dag) {
                    Ok(analysis) => {
                        report.compliance =
                            Some(super::compliance::evaluate(compliance, &analysis));
                    }
                    Err(e) => {
                        report.fail("bundle", format!("the compliance analysis failed: {e}"));
                        return report;
                    }
                }
            }
            report.origins = Some(p.origins);
            report.elements = Some(p.elements);
        }
        Err(e) => {
            report.fail(
                "bundle",
                format!("the batch's provenance is incomplete: {e}"),
            );
            return report;
        }
    }
    report.verified = true;
    report
}

/// For every batch, the bundled entries that name it (as input, output or subject).
fn batches_named(decoded: &[(u64, Entry, Event)]) -> BTreeMap<BatchId, BTreeSet<u64>> {
    let mut named: BTreeMap<BatchId, BTreeSet<u64>> = BTreeMap::new();
    for (index, _, event) in decoded {
        for batch in event.body.batches() {
            named.entry(batch.clone()).or_default().insert(*index);
        }
    }
    named
}

/// Whether a transform that needs a batch no bundled entry created lies outside the bundle's
/// scope: none of its outputs is the bundle's batch or named by any other bundled entry, so it
/// fed a branch that does not lead here.
fn outside(
    index: u64,
    event: &Event,
    bundle: &Bundle,
    named: &BTreeMap<BatchId, BTreeSet<u64>>,
) -> bool {
    let EventBody::Transform(transform) = &event.body else {
        return false;
    };
    transform.outputs.iter().all(|output| {
        output.batch != bundle.batch
            && named
                .get(&output.batch)
                .is_none_or(|users| users.iter().all(|&user| user == index))
    })
}
