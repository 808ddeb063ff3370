//! The vocabulary of the mapping (docs/EPCIS.md, "Vocabulary"): CBV 2.0 business steps and
//! dispositions for each Lodestone event, the Lodestone URIs for the processes CBV has no step
//! for, and the identifiers Lodestone gives batches, sites and actors in EPCIS.
//!
//! CBV values are written in their bare JSON-LD form (`commissioning`, `in_transit`), as the
//! EPCIS 2.0 JSON binding does; imports also accept their `urn:epcglobal:cbv:…` and
//! `https://ref.gs1.org/cbv/…` spellings.

use crate::model::material::{Claim, Process, RetireReason};

/// The Lodestone extension namespace (JSON-LD prefix [`PREFIX`]).
pub const NAMESPACE: &str = "https://lodestone.dev/epcis/";
/// The JSON-LD prefix of [`NAMESPACE`] in every document Lodestone writes.
pub const PREFIX: &str = "lodestone";
/// CBV master data attributes (`cbvmda:countryOfOrigin`).
pub const CBVMDA_NAMESPACE: &str = "urn:epcglobal:cbv:mda#";
/// The GS1 EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// Business steps of processes CBV 2.0 has no step for: `<this>/<process>`.
pub const PROCESS_STEP_BASE: &str = "https://lodestone.dev/epcis/bizstep/";
/// The class-level identifier scheme batches keep as they are: a batch whose id is a GS1 LGTIN
/// EPC class URI (its owner registered the prefix `urn:epc:class:lgtin:<company prefix>.`).
pub const LGTIN_PREFIX: &str = "urn:epc:class:lgtin:";

/// `lodestone:event`: the Lodestone event id.
pub const EXT_EVENT: &str = "lodestone:event";
/// `lodestone:actor`: the actor who made and signed the event (a party URI).
pub const EXT_ACTOR: &str = "lodestone:actor";
/// `lodestone:proof`: where the ledger recorded the event (`entry`, `leafHash`); ledger metadata,
/// left out of the event hash like `recordTime`.
pub const EXT_PROOF: &str = "lodestone:proof";
/// `lodestone:additives` of a transform.
pub const EXT_ADDITIVES: &str = "lodestone:additives";
/// `lodestone:claim` of a certificate.
pub const EXT_CLAIM: &str = "lodestone:claim";
/// `lodestone:statement` of a certificate.
pub const EXT_STATEMENT: &str = "lodestone:statement";
/// `lodestone:composition` of an `assay` certificate: the measured grams per element.
pub const EXT_COMPOSITION: &str = "lodestone:composition";

/// The business step of a transform's process: CBV's own where it has one, a Lodestone URI
/// otherwise.
pub fn process_step(process: Process) -> String {
    match process {
        Process::Assembly => "assembling".to_owned(),
        Process::Split => "repackaging".to_owned(),
        other => format!("{PROCESS_STEP_BASE}{}", other.as_str()),
    }
}

/// The process of a transformation's business step (the inverse of [`process_step`]).
pub fn step_process(step: &str) -> Option<Process> {
    match cbv_word(step, "bizstep").as_deref() {
        Some("assembling") => return Some(Process::Assembly),
        Some("repackaging") => return Some(Process::Split),
        _ => {}
    }
    step.strip_prefix(PROCESS_STEP_BASE)
        .and_then(Process::from_name)
        .filter(|p| !matches!(p, Process::Assembly | Process::Split))
}

/// The business step and disposition of a retirement, by reason.
pub fn retire_step(reason: RetireReason) -> (&'static str, &'static str) {
    match reason {
        RetireReason::Consumed => ("decommissioning", "inactive"),
        RetireReason::Lost => ("decommissioning", "unknown"),
        RetireReason::Destroyed => ("destroying", "destroyed"),
        RetireReason::Sold => ("retail_selling", "retail_sold"),
    }
}

/// The reason of a retirement from its business step and disposition (the inverse of
/// [`retire_step`]).
pub fn step_retire(step: &str, disposition: Option<&str>) -> Option<RetireReason> {
    let step = cbv_word(step, "bizstep")?;
    let disposition = disposition.and_then(|d| cbv_word(d, "disp"));
    RetireReason::ALL
        .iter()
        .copied()
        .find(|r| {
            let (s, d) = retire_step(*r);
            s == step && disposition.as_deref().is_none_or(|x| x == d)
        })
        // Without a disposition, decommissioning means consumed (the first reason it maps).
        .filter(|r| disposition.is_some() || *r != RetireReason::Lost)
}

/// A claim as the CBV-free value of `lodestone:claim`.
pub fn claim_name(claim: Claim) -> &'static str {
    claim.as_str()
}

/// A CBV vocabulary value in its bare form: `shipping` from `shipping`,
/// `urn:epcglobal:cbv:bizstep:shipping` or `https://ref.gs1.org/cbv/BizStep-shipping`. `kind` is
/// the URN's vocabulary (`bizstep`, `disp`, `sdt`, `btt`). `None` for a value of another
/// vocabulary (a URI that is not CBV's).
pub fn cbv_word(value: &str, kind: &str) -> Option<String> {
    let web = match kind {
        "bizstep" => "BizStep-",
        "disp" => "Disp-",
        "sdt" => "SDT-",
        "btt" => "BTT-",
        _ => return None,
    };
    if let Some(word) = value.strip_prefix(&format!("urn:epcglobal:cbv:{kind}:")) {
        return Some(word.to_owned());
    }
    if let Some(word) = value
        .strip_prefix("https://ref.gs1.org/cbv/")
        .and_then(|rest| rest.strip_prefix(web))
    {
        return Some(word.to_owned());
    }
    if let Some(word) = value.strip_prefix("cbv:").and_then(|r| r.strip_prefix(web)) {
        return Some(word.to_owned());
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Some(value.to_owned());
    }
    None
}

/// How Lodestone names batches, sites and actors in EPCIS, under the log's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    base: String,
}

impl Names {
    /// Names under the log whose checkpoint origin is `origin` (`https://<origin>/…`).
    pub fn new(origin: &str) -> Names {
        Names {
            base: format!("https://{}", origin.trim_end_matches('/')),
        }
    }

    /// The log's base URI.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A batch's class-level identifier: the batch id itself when it is an LGTIN
    /// (`urn:epc:class:lgtin:…`), `https://<origin>/batches/<id>` otherwise.
    pub fn batch(&self, batch: &str) -> String {
        if batch.starts_with(LGTIN_PREFIX) {
            batch.to_owned()
        } else {
            format!("{}/batches/{batch}", self.base)
        }
    }

    /// A site: `https://<origin>/sites/<id>`.
    pub fn site(&self, site: &str) -> String {
        format!("{}/sites/{site}", self.base)
    }

    /// An actor as a party: `https://<origin>/actors/<id>`.
    pub fn actor(&self, actor: &str) -> String {
        format!("{}/actors/{actor}", self.base)
    }

    /// The batch id a class-level identifier names, if it is one of this log's.
    pub fn batch_id<'a>(&self, uri: &'a str) -> Option<&'a str> {
        if uri.starts_with(LGTIN_PREFIX) {
            return Some(uri);
        }
        self.under(uri, "/batches/")
    }

    /// The site id a URI names, if it is one of this log's.
    pub fn site_id<'a>(&self, uri: &'a str) -> Option<&'a str> {
        self.under(uri, "/sites/")
    }

    /// The actor id a party URI names, if it is one of this log's.
    pub fn actor_id<'a>(&self, uri: &'a str) -> Option<&'a str> {
        self.under(uri, "/actors/")
    }

    fn under<'a>(&self, uri: &'a str, path: &str) -> Option<&'a str> {
        uri.strip_prefix(self.base.as_str())?
            .strip_prefix(path)
            .filter(|rest| !rest.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_process_step_maps_back() {
        for p in Process::ALL {
            assert_eq!(step_process(&process_step(*p)), Some(*p), "{p}");
        }
        assert_eq!(step_process("commissioning"), None);
        assert_eq!(
            step_process("urn:epcglobal:cbv:bizstep:assembling"),
            Some(Process::Assembly)
        );
    }

    #[test]
    fn every_retire_reason_maps_back() {
        for r in RetireReason::ALL {
            let (step, disp) = retire_step(*r);
            assert_eq!(step_retire(step, Some(disp)), Some(*r), "{r}");
        }
        assert_eq!(
            step_retire("decommissioning", None),
            Some(RetireReason::Consumed)
        );
        assert_eq!(step_retire("shipping", None), None);
    }

    #[test]
    fn names_round_trip() {
        let n = Names::new("lodestone.example/rare-earths");
        assert_eq!(
            n.batch("MP-ORE-1"),
            "https://lodestone.example/rare-earths/batches/MP-ORE-1"
        );
        assert_eq!(n.batch_id(&n.batch("MP-ORE-1")), Some("MP-ORE-1"));
        let lgtin = "urn:epc:class:lgtin:4012345.012345.998877";
        assert_eq!(n.batch(lgtin), lgtin);
        assert_eq!(n.batch_id(lgtin), Some(lgtin));
        assert_eq!(n.site_id(&n.site("mountain-pass")), Some("mountain-pass"));
        assert_eq!(n.actor_id(&n.actor("lynas")), Some("lynas"));
        assert_eq!(n.actor_id("https://elsewhere.example/actors/lynas"), None);
    }

    #[test]
    fn cbv_spellings() {
        assert_eq!(
            cbv_word("urn:epcglobal:cbv:disp:in_transit", "disp").as_deref(),
            Some("in_transit")
        );
        assert_eq!(
            cbv_word("https://ref.gs1.org/cbv/BizStep-shipping", "bizstep").as_deref(),
            Some("shipping")
        );
        assert_eq!(cbv_word("https://example.com/step", "bizstep"), None);
    }
}
