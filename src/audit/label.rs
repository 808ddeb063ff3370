//! The batch label (issue 17; docs/COMPLIANCE.md, "Monthly flow reports and labels"): what a
//! packaging label under China's total-quantity control names — the batch, its form, mass and
//! rare earths, who made it and who holds it, and **the producers of the ore**: each mining
//! company and mine the batch's mass came from, with its country and mass share (the ISO 22095
//! mass-balance shares of [`super::origin_report`]) and the `extract` entries that prove it.
//!
//! Pure over [`StateView`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::{provenance, AuditError, NodeCreation};
use crate::ledger::StateView;
use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId};
use crate::model::material::{Element, Form};

/// One mine the batch's mass came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OreMine {
    /// The mine.
    pub site: SiteId,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: CountryCode,
    /// Grams of the batch from it (of `basis_g`).
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
    /// The `extract` entries at this mine that the batch's mass goes back to, ascending.
    pub extract_entries: Vec<u64>,
}

/// One mining company the batch's mass came from, with its mines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OreProducer {
    /// The mining company.
    pub actor: ActorId,
    /// Its name.
    pub name: String,
    /// Its registered country (`null` only if the registry lacks it).
    pub country: Option<CountryCode>,
    /// Grams of the batch from its mines.
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
    /// Its mines, largest share first.
    pub mines: Vec<OreMine>,
}

/// A party named on the label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelParty {
    /// Its id.
    pub actor: ActorId,
    /// Its name.
    pub name: String,
    /// Its registered country (`null` only if the registry lacks the actor: a damaged state).
    pub country: Option<CountryCode>,
}

/// What the label of a batch says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchLabel {
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Its mass at creation: the basis of the shares.
    pub basis_g: u64,
    /// Its mass now.
    pub remaining_g: u64,
    /// Grams per element, as declared (or the latest assay's); `null` when not known.
    pub elements: Option<BTreeMap<Element, u64>>,
    /// The elements it is declared to contain (also when grams are not declared).
    pub element_names: Vec<Element>,
    /// Who made it: the miner of an extract, the operator of a transform.
    pub producer: LabelParty,
    /// The entry that created it.
    pub created_in: u64,
    /// Who holds it now (the sender, while in transit).
    pub holder: LabelParty,
    /// The ore producers, largest share first.
    pub ore_producers: Vec<OreProducer>,
    /// Grams that came from recycling (no ore producer).
    pub recycled_g: u64,
    /// Grams of untracked additives (no ore producer).
    pub untracked_g: u64,
}

fn party<S: StateView + ?Sized>(state: &S, actor: &ActorId) -> Result<LabelParty, AuditError> {
    let record = state.actor(actor)?;
    Ok(match record {
        Some(a) => LabelParty {
            actor: a.id,
            name: a.name,
            country: Some(a.country),
        },
        // A damaged registry must not hide the label; the id still names the party.
        None => LabelParty {
            actor: actor.clone(),
            name: actor.to_string(),
            country: None,
        },
    })
}

/// The label of `batch`, visiting at most `max_nodes` batches upstream.
pub fn batch_label<S: StateView + ?Sized>(
    state: &S,
    batch: &BatchId,
    max_nodes: usize,
) -> Result<BatchLabel, AuditError> {
    let p = provenance(state, batch, max_nodes)?;
    let root = p.dag.node(batch).ok_or_else(|| AuditError::UnknownBatch {
        batch: batch.clone(),
    })?;
    let producer = match &root.creation {
        NodeCreation::Extract { site } => {
            let owner = state
                .site(site)?
                .ok_or_else(|| AuditError::MissingSite {
                    batch: batch.clone(),
                    site: site.clone(),
                })?
                .owner;
            party(state, &owner)?
        }
        NodeCreation::Transform { operator, .. } => party(state, operator)?,
    };
    // The extract entries behind each mine: the DAG's extract nodes, by site.
    let mut extracts: BTreeMap<&SiteId, Vec<u64>> = BTreeMap::new();
    for node in p.dag.sources() {
        if let NodeCreation::Extract { site } = &node.creation {
            extracts.entry(site).or_default().push(node.created_in);
        }
    }
    let mut producers: Vec<OreProducer> = Vec::new();
    for company in &p.origins.origins_by_company {
        let mines = p
            .origins
            .origins_by_site
            .iter()
            .filter(|s| s.owner == company.actor)
            .map(|s| {
                let mut entries = extracts.get(&s.site).cloned().unwrap_or_default();
                entries.sort_unstable();
                OreMine {
                    site: s.site.clone(),
                    name: s.name.clone(),
                    country: s.country.clone(),
                    grams: s.grams,
                    share: s.share,
                    extract_entries: entries,
                }
            })
            .collect();
        let registered = party(state, &company.actor)?;
        producers.push(OreProducer {
            actor: company.actor.clone(),
            name: company.name.clone(),
            country: registered.country,
            grams: company.grams,
            share: company.share,
            mines,
        });
    }
    Ok(BatchLabel {
        batch: batch.clone(),
        form: root.form,
        basis_g: root.created_g,
        remaining_g: root.remaining_g,
        elements: root.content().map(|c| c.iter().collect()),
        element_names: root.elements.iter().copied().collect(),
        producer,
        created_in: root.created_in,
        holder: party(state, &root.custodian)?,
        ore_producers: producers,
        recycled_g: p.origins.recycled_g,
        untracked_g: p.origins.untracked_g,
    })
}
