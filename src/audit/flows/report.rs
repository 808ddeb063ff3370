//! The flow report's lines and totals, and its CSV form (one row per line: docs/API.md,
//! "Monthly flow report").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{FlowError, Month};
use crate::ledger::{ActorRecord, BatchRecord, StateView};
use crate::model::composition::Composition;
use crate::model::ids::{ActorId, BatchId, CountryCode, EventId, SiteId, Timestamp};
use crate::model::material::{Element, Form};

/// A batch the actor created in the month (`extract`, or an output of its `transform`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducedLine {
    /// The `extract` or `transform` entry.
    pub entry: u64,
    /// Its `occurred_at`.
    pub occurred_at: Timestamp,
    /// The new batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Its mass.
    pub grams: u64,
    /// `extract`, or the transform's process.
    pub activity: String,
    /// The mine of an extract, or the site the transform named.
    pub site: Option<SiteId>,
    /// Grams per rare-earth element as declared (or inherited by a split or merge); `null`
    /// when not declared.
    pub elements: Option<BTreeMap<Element, u64>>,
}

impl ProducedLine {
    pub(super) fn with_site(mut self, site: Option<SiteId>) -> ProducedLine {
        self.site = site;
        self
    }
}

/// A batch the actor took custody of in the month (`receive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedLine {
    /// The `receive` entry.
    pub entry: u64,
    /// The `ship` entry it received.
    pub ship_entry: u64,
    /// Its `occurred_at`.
    pub occurred_at: Timestamp,
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Grams received.
    pub grams: u64,
    /// The sender (the `ship` entry's signer).
    pub from: ActorId,
    /// Its name.
    pub from_name: String,
    /// Its registered country.
    pub from_country: CountryCode,
}

/// A batch the actor shipped in the month (`ship`: its whole remaining mass).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedLine {
    /// The `ship` entry.
    pub entry: u64,
    /// Its `occurred_at`.
    pub occurred_at: Timestamp,
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Grams shipped.
    pub grams: u64,
    /// The addressee.
    pub to: ActorId,
    /// Its name.
    pub to_name: String,
    /// Its registered country.
    pub to_country: CountryCode,
    /// The licence the ship event cites; null when none.
    pub licence: Option<String>,
}

/// Mass the actor used up in the month: an input of its `transform`, or a batch it retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumedLine {
    /// The `transform` or `retire` entry.
    pub entry: u64,
    /// Its `occurred_at`.
    pub occurred_at: Timestamp,
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Grams taken (a retire takes all that was left).
    pub grams: u64,
    /// The transform's process, or `retire:<reason>`.
    pub activity: String,
}

/// A batch in the actor's custody at the month's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLine {
    /// The latest entry, dated before the month's end, that set the mass it held.
    pub entry: u64,
    /// The entry that gave it custody (its creation or receipt).
    pub since_entry: u64,
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Grams held.
    pub grams: u64,
    /// Grams per element, pro rata of the batch's composition (rounded down); `null` when not
    /// declared.
    pub elements: Option<BTreeMap<Element, u64>>,
}

/// Sums of the lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FlowTotals {
    /// Grams produced, by form.
    pub produced_by_form: BTreeMap<Form, u64>,
    /// Grams produced, by element (declared compositions only).
    pub produced_by_element: BTreeMap<Element, u64>,
    /// Grams produced in batches without a declared composition.
    pub produced_undeclared_g: u64,
    /// Grams received.
    pub received_g: u64,
    /// Grams shipped.
    pub shipped_g: u64,
    /// Grams consumed.
    pub consumed_g: u64,
    /// Grams held at the month's end, by form.
    pub held_by_form: BTreeMap<Form, u64>,
    /// Grams held at the month's end, by element (declared compositions only).
    pub held_by_element: BTreeMap<Element, u64>,
}

/// One actor's flows in one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowReport {
    /// The actor.
    pub actor: ActorId,
    /// Its name.
    pub name: String,
    /// Its registered country.
    pub country: CountryCode,
    /// The month, `YYYY-MM` (UTC).
    pub month: Month,
    /// Its first instant (inclusive).
    pub from: Timestamp,
    /// The next month's first instant (exclusive).
    pub to: Timestamp,
    /// When the MIIT monthly report is due: the 10th of the following month.
    pub report_due: String,
    /// The log size the report reflects: entries logged later (even if dated in the month)
    /// are not in it.
    pub log_size: u64,
    /// Batches created.
    pub produced: Vec<ProducedLine>,
    /// Batches received.
    pub received: Vec<ReceivedLine>,
    /// Batches shipped.
    pub shipped: Vec<ShippedLine>,
    /// Mass used up.
    pub consumed: Vec<ConsumedLine>,
    /// Held at the month's end, by batch id.
    pub held: Vec<HeldLine>,
    /// Sums.
    pub totals: FlowTotals,
}

impl FlowReport {
    pub(super) fn new(actor: &ActorRecord, month: Month, log_size: u64) -> FlowReport {
        FlowReport {
            actor: actor.id.clone(),
            name: actor.name.clone(),
            country: actor.country.clone(),
            month,
            from: month.start(),
            to: month.end(),
            report_due: month.report_due(),
            log_size,
            produced: Vec::new(),
            received: Vec::new(),
            shipped: Vec::new(),
            consumed: Vec::new(),
            held: Vec::new(),
            totals: FlowTotals::default(),
        }
    }

    pub(super) fn total(&mut self) {
        let t = &mut self.totals;
        for p in &self.produced {
            *t.produced_by_form.entry(p.form).or_default() += p.grams;
            match &p.elements {
                Some(parts) => add_parts(&mut t.produced_by_element, parts),
                None => t.produced_undeclared_g += p.grams,
            }
        }
        t.received_g = self.received.iter().map(|l| l.grams).sum();
        t.shipped_g = self.shipped.iter().map(|l| l.grams).sum();
        t.consumed_g = self.consumed.iter().map(|l| l.grams).sum();
        for h in &self.held {
            *t.held_by_form.entry(h.form).or_default() += h.grams;
            if let Some(parts) = &h.elements {
                add_parts(&mut t.held_by_element, parts);
            }
        }
    }

    /// The CSV header.
    pub const CSV_HEADER: &'static str = "section,entry,related_entry,occurred_at,batch,form,grams,activity,site,counterparty,counterparty_name,counterparty_country,licence,elements";

    /// One row per line, sections in the order produced, received, shipped, consumed, held
    /// (RFC 4180: comma-separated, fields quoted when they hold a comma, quote or newline).
    /// `related_entry` is the `ship` entry of a receipt and the custody entry of a holding;
    /// `elements` is `Nd=120;Pr=40`.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        out.push_str(Self::CSV_HEADER);
        out.push('\n');
        for p in &self.produced {
            row(
                &mut out,
                [
                    "produced",
                    &p.entry.to_string(),
                    "",
                    p.occurred_at.as_str(),
                    p.batch.as_str(),
                    p.form.as_str(),
                    &p.grams.to_string(),
                    &p.activity,
                    &p.site.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                    "",
                    "",
                    "",
                    "",
                    &elements(&p.elements),
                ],
            );
        }
        for r in &self.received {
            row(
                &mut out,
                [
                    "received",
                    &r.entry.to_string(),
                    &r.ship_entry.to_string(),
                    r.occurred_at.as_str(),
                    r.batch.as_str(),
                    r.form.as_str(),
                    &r.grams.to_string(),
                    "receive",
                    "",
                    r.from.as_str(),
                    &r.from_name,
                    r.from_country.as_str(),
                    "",
                    "",
                ],
            );
        }
        for s in &self.shipped {
            row(
                &mut out,
                [
                    "shipped",
                    &s.entry.to_string(),
                    "",
                    s.occurred_at.as_str(),
                    s.batch.as_str(),
                    s.form.as_str(),
                    &s.grams.to_string(),
                    "ship",
                    "",
                    s.to.as_str(),
                    &s.to_name,
                    s.to_country.as_str(),
                    s.licence.as_deref().unwrap_or(""),
                    "",
                ],
            );
        }
        for c in &self.consumed {
            row(
                &mut out,
                [
                    "consumed",
                    &c.entry.to_string(),
                    "",
                    c.occurred_at.as_str(),
                    c.batch.as_str(),
                    c.form.as_str(),
                    &c.grams.to_string(),
                    &c.activity,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
            );
        }
        for h in &self.held {
            row(
                &mut out,
                [
                    "held",
                    &h.entry.to_string(),
                    &h.since_entry.to_string(),
                    "",
                    h.batch.as_str(),
                    h.form.as_str(),
                    &h.grams.to_string(),
                    "hold",
                    "",
                    "",
                    "",
                    "",
                    "",
                    &elements(&h.elements),
                ],
            );
        }
        out
    }
}

fn add_parts(into: &mut BTreeMap<Element, u64>, parts: &BTreeMap<Element, u64>) {
    for (e, g) in parts {
        *into.entry(*e).or_default() += g;
    }
}

fn elements(parts: &Option<BTreeMap<Element, u64>>) -> String {
    parts
        .iter()
        .flatten()
        .map(|(e, g)| format!("{e}={g}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn row<const N: usize>(out: &mut String, fields: [&str; N]) {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                (*f).to_owned()
            }
        })
        .collect();
    let _ = writeln!(out, "{}", quoted.join(","));
}

/// Grams of each element in `grams` of a batch of `basis` grams with composition `c`, rounded
/// down (exact u128 arithmetic).
fn pro_rata(c: &Composition, grams: u64, basis: u64) -> BTreeMap<Element, u64> {
    c.iter()
        .map(|(e, g)| {
            let part = if basis == 0 {
                0
            } else {
                u128::from(g) * u128::from(grams) / u128::from(basis)
            };
            (e, u64::try_from(part).unwrap_or(u64::MAX))
        })
        .collect()
}

/// Builds lines, reading batch forms and compositions and actor names from the state.
pub(super) struct Lines<'a, S: ?Sized> {
    state: &'a S,
}

impl<'a, S: StateView + ?Sized> Lines<'a, S> {
    pub(super) fn new(state: &'a S) -> Self {
        Lines { state }
    }

    fn batch(&self, index: u64, batch: &BatchId) -> Result<BatchRecord, FlowError> {
        self.state
            .batch(batch)?
            .ok_or_else(|| FlowError::Inconsistent {
                index,
                detail: format!("names batch {batch}, which the state does not hold"),
            })
    }

    fn party(&self, index: u64, actor: &ActorId) -> Result<ActorRecord, FlowError> {
        self.state
            .actor(actor)?
            .ok_or_else(|| FlowError::Inconsistent {
                index,
                detail: format!("names actor {actor}, which the registry does not hold"),
            })
    }

    pub(super) fn produced(
        &self,
        entry: u64,
        at: &Timestamp,
        batch: &BatchId,
        grams: u64,
        activity: &str,
    ) -> Result<ProducedLine, FlowError> {
        let record = self.batch(entry, batch)?;
        Ok(ProducedLine {
            entry,
            occurred_at: at.clone(),
            batch: batch.clone(),
            form: record.form,
            grams,
            activity: activity.to_owned(),
            site: None,
            elements: record.composition.map(|c| c.iter().collect()),
        })
    }

    pub(super) fn received(
        &self,
        entry: u64,
        at: &Timestamp,
        batch: &BatchId,
        grams: u64,
        (ship_entry, from): (u64, ActorId),
    ) -> Result<ReceivedLine, FlowError> {
        let record = self.batch(entry, batch)?;
        let sender = self.party(entry, &from)?;
        Ok(ReceivedLine {
            entry,
            ship_entry,
            occurred_at: at.clone(),
            batch: batch.clone(),
            form: record.form,
            grams,
            from,
            from_name: sender.name,
            from_country: sender.country,
        })
    }

    pub(super) fn shipped(
        &self,
        entry: u64,
        at: &Timestamp,
        batch: &BatchId,
        grams: u64,
        to: &ActorId,
        licence: Option<&EventId>,
    ) -> Result<ShippedLine, FlowError> {
        let record = self.batch(entry, batch)?;
        let addressee = self.party(entry, to)?;
        Ok(ShippedLine {
            entry,
            occurred_at: at.clone(),
            batch: batch.clone(),
            form: record.form,
            grams,
            to: to.clone(),
            to_name: addressee.name,
            to_country: addressee.country,
            licence: licence.map(ToString::to_string),
        })
    }

    pub(super) fn consumed(
        &self,
        entry: u64,
        at: &Timestamp,
        batch: &BatchId,
        grams: u64,
        activity: &str,
    ) -> Result<ConsumedLine, FlowError> {
        let record = self.batch(entry, batch)?;
        Ok(ConsumedLine {
            entry,
            occurred_at: at.clone(),
            batch: batch.clone(),
            form: record.form,
            grams,
            activity: activity.to_owned(),
        })
    }

    pub(super) fn held(
        &self,
        batch: &BatchId,
        grams: u64,
        since_entry: u64,
        entry: u64,
    ) -> Result<HeldLine, FlowError> {
        let record = self.batch(entry, batch)?;
        Ok(HeldLine {
            entry,
            since_entry,
            batch: batch.clone(),
            form: record.form,
            grams,
            elements: record
                .composition
                .as_ref()
                .map(|c| pro_rata(c, grams, record.created_g.get())),
        })
    }
}
