//! Origin shares of a batch: its mass-balance mix (see [`super::mix`]) aggregated by mine site,
//! by mining company and by country of the mine, plus the recycled and untracked parts.
//!
//! Grams are exact integers against the batch's mass at creation (`basis_g`); `share` is that
//! fraction as a decimal for display only. Every gram is in exactly one of `origins_by_site`,
//! `recycled_by` and `untracked_g`, so `mined_g + recycled_g + untracked_g == basis_g`; the
//! company and country lists regroup `origins_by_site`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::StateView;
use crate::model::ids::{ActorId, CountryCode, SiteId};

use super::mix::{root_mix, OriginSource};
use super::provenance::ProvenanceDag;
use super::AuditError;

/// Grams from one mine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteOrigin {
    /// The mine.
    pub site: SiteId,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub country: CountryCode,
    /// The company that owns it.
    pub owner: ActorId,
    /// That company's name.
    pub owner_name: String,
    /// Grams of the batch from this mine.
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
}

/// Grams from the mines of one company.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanyOrigin {
    /// The mining company.
    pub actor: ActorId,
    /// Its name.
    pub name: String,
    /// Grams of the batch from its mines.
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
}

/// Grams mined in one country.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountryOrigin {
    /// The country of the mines.
    pub country: CountryCode,
    /// Grams of the batch mined there.
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
}

/// Grams recovered by one recycler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecycledOrigin {
    /// The recycler.
    pub recycler: ActorId,
    /// Its name.
    pub name: String,
    /// Grams of the batch from its recycling.
    pub grams: u64,
    /// `grams / basis_g`, for display.
    pub share: f64,
}

/// Where a batch's mass came from. Lists are sorted by grams, largest first (ties by id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginReport {
    /// The batch's mass at creation: what the grams below add up to. Shares apply unchanged to
    /// whatever mass is left of it.
    pub basis_g: u64,
    /// Its mass now.
    pub remaining_g: u64,
    /// Grams traced to mines.
    pub mined_g: u64,
    /// Grams that came out of recycling.
    pub recycled_g: u64,
    /// Grams of declared additives (iron, boron, ...), not traced.
    pub untracked_g: u64,
    /// `recycled_g / basis_g`, for display.
    pub recycled_share: f64,
    /// `untracked_g / basis_g`, for display.
    pub untracked_share: f64,
    /// By mine.
    pub origins_by_site: Vec<SiteOrigin>,
    /// By mining company.
    pub origins_by_company: Vec<CompanyOrigin>,
    /// By country of the mine.
    pub origins_by_country: Vec<CountryOrigin>,
    /// By recycler.
    pub recycled_by: Vec<RecycledOrigin>,
}

/// The origin report of `dag`'s root. Reads the state only for site and actor names.
pub fn origin_report<S: StateView + ?Sized>(
    state: &S,
    dag: &ProvenanceDag,
) -> Result<OriginReport, AuditError> {
    let root = dag
        .node(&dag.root)
        .ok_or_else(|| AuditError::UnknownBatch {
            batch: dag.root.clone(),
        })?;
    let mix = root_mix(dag)?;
    let basis = root.created_g;
    let share = |g: u64| {
        if basis == 0 {
            0.0
        } else {
            g as f64 / basis as f64
        }
    };

    let mut report = OriginReport {
        basis_g: basis,
        remaining_g: root.remaining_g,
        mined_g: 0,
        recycled_g: 0,
        untracked_g: 0,
        recycled_share: 0.0,
        untracked_share: 0.0,
        origins_by_site: Vec::new(),
        origins_by_company: Vec::new(),
        origins_by_country: Vec::new(),
        recycled_by: Vec::new(),
    };
    let mut companies: BTreeMap<ActorId, (String, u64)> = BTreeMap::new();
    let mut countries: BTreeMap<CountryCode, u64> = BTreeMap::new();
    for (source, grams) in mix {
        match source {
            OriginSource::Mine { site } => {
                let record = state.site(&site)?.ok_or_else(|| AuditError::MissingSite {
                    batch: dag.root.clone(),
                    site: site.clone(),
                })?;
                let owner_name = actor_name(state, &record.owner)?;
                report.mined_g += grams;
                companies
                    .entry(record.owner.clone())
                    .or_insert_with(|| (owner_name.clone(), 0))
                    .1 += grams;
                *countries.entry(record.country.clone()).or_insert(0) += grams;
                report.origins_by_site.push(SiteOrigin {
                    site,
                    name: record.name,
                    country: record.country,
                    owner: record.owner,
                    owner_name,
                    grams,
                    share: share(grams),
                });
            }
            OriginSource::Recycled { recycler } => {
                report.recycled_g += grams;
                report.recycled_by.push(RecycledOrigin {
                    name: actor_name(state, &recycler)?,
                    recycler,
                    grams,
                    share: share(grams),
                });
            }
            OriginSource::Untracked => report.untracked_g += grams,
        }
    }
    report.recycled_share = share(report.recycled_g);
    report.untracked_share = share(report.untracked_g);
    report.origins_by_company = companies
        .into_iter()
        .map(|(actor, (name, grams))| CompanyOrigin {
            actor,
            name,
            grams,
            share: share(grams),
        })
        .collect();
    report.origins_by_country = countries
        .into_iter()
        .map(|(country, grams)| CountryOrigin {
            country,
            grams,
            share: share(grams),
        })
        .collect();
    // Largest first; the stable sorts keep id order among equals (the lists came sorted by id).
    report.origins_by_site.sort_by_key(|o| Reverse(o.grams));
    report.origins_by_company.sort_by_key(|o| Reverse(o.grams));
    report.origins_by_country.sort_by_key(|o| Reverse(o.grams));
    report.recycled_by.sort_by_key(|o| Reverse(o.grams));
    Ok(report)
}

/// An actor's name, or its id if the registry lacks it (a damaged state must not hide the
/// origin grams themselves).
fn actor_name<S: StateView + ?Sized>(state: &S, actor: &ActorId) -> Result<String, AuditError> {
    Ok(state
        .actor(actor)?
        .map(|a| a.name)
        .unwrap_or_else(|| actor.to_string()))
}
