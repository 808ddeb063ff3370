//! Lineage by stage (issue 12, docs/COMPLIANCE.md "Lineage"): for each stage of the chain, every
//! country, company and site that touched any upstream input of a batch — any touch, not
//! weighted by mass — each with the entry index that proves it.
//!
//! A node of the provenance DAG is a touch of the stage its creating event belongs to:
//!
//! | stage | events |
//! | --- | --- |
//! | `mining` | `extract` |
//! | `processing` | `beneficiation`, `cracking`, `separation` |
//! | `metal_making` | `reduction` |
//! | `alloy_melting` | `alloying` |
//! | `magnet_production` | `magnet_making`, `grain_boundary_diffusion` |
//! | `assembly` | `assembly` |
//! | `recycling` | `recycling` |
//!
//! `split` and `merge` regroup material without changing it: they are no stage. The place of a
//! touch is the mine (extract) or the site the transform named; a transform that named no site
//! is placed in its operator's registered country (`place: "operator_registration"`), which a
//! verdict treats as weaker evidence. The walk does not stop at recycling: the DAG goes back
//! through the scrap to its mines, and so does the lineage.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId};
use crate::model::material::Process;

use super::elements::Names;
use super::provenance::{NodeCreation, ProvenanceDag};

/// A stage of the rare-earth chain, in chain order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Extraction at a mine.
    Mining,
    /// Beneficiation, cracking and separation.
    Processing,
    /// Reduction of oxides to metal.
    MetalMaking,
    /// Melting metals into alloys.
    AlloyMelting,
    /// Magnet making and grain boundary diffusion.
    MagnetProduction,
    /// Building magnets into components and products.
    Assembly,
    /// Recovery from scrap and end-of-life goods.
    Recycling,
}

impl Stage {
    /// Every stage, in chain order.
    pub const ALL: &'static [Stage] = &[
        Stage::Mining,
        Stage::Processing,
        Stage::MetalMaking,
        Stage::AlloyMelting,
        Stage::MagnetProduction,
        Stage::Assembly,
        Stage::Recycling,
    ];

    /// The stage a process belongs to (`None`: split and merge).
    pub fn of_process(process: Process) -> Option<Stage> {
        Some(match process {
            Process::Beneficiation | Process::Cracking | Process::Separation => Stage::Processing,
            Process::Reduction => Stage::MetalMaking,
            Process::Alloying => Stage::AlloyMelting,
            Process::MagnetMaking | Process::GrainBoundaryDiffusion => Stage::MagnetProduction,
            Process::Assembly => Stage::Assembly,
            Process::Recycling => Stage::Recycling,
            Process::Split | Process::Merge => return None,
        })
    }

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Mining => "mining",
            Stage::Processing => "processing",
            Stage::MetalMaking => "metal_making",
            Stage::AlloyMelting => "alloy_melting",
            Stage::MagnetProduction => "magnet_production",
            Stage::Assembly => "assembly",
            Stage::Recycling => "recycling",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a touch's country is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceBasis {
    /// The site the event named (a mine, or the transform's `site`).
    Site,
    /// The transform named no site: the operator's registered country.
    OperatorRegistration,
}

/// One upstream event at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTouch {
    /// The stage.
    pub stage: Stage,
    /// `extract`, or the transform's process.
    pub event: String,
    /// The batch it created.
    pub batch: BatchId,
    /// The entry that proves it.
    pub entry: u64,
    /// The site, if named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// The site's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// The company: the mine's owner, or the transform's operator.
    pub company: ActorId,
    /// Its name.
    pub company_name: String,
    /// The country of the site (or the operator's registration).
    pub country: CountryCode,
    /// How the country is known.
    pub place: PlaceBasis,
}

/// Who touched one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageLineage {
    /// The stage.
    pub stage: Stage,
    /// Its countries.
    pub countries: BTreeSet<CountryCode>,
    /// Its companies.
    pub companies: BTreeSet<ActorId>,
    /// Its named sites.
    pub sites: BTreeSet<SiteId>,
    /// Every touch, in entry order.
    pub touches: Vec<StageTouch>,
}

/// The lineage of a batch: one row per stage that any upstream event touched, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// The stages.
    pub stages: Vec<StageLineage>,
}

impl Lineage {
    /// Every touch of the stages in `stages`.
    pub fn touches_in<'a>(
        &'a self,
        stages: &'a BTreeSet<Stage>,
    ) -> impl Iterator<Item = &'a StageTouch> + 'a {
        self.stages
            .iter()
            .filter(move |s| stages.contains(&s.stage))
            .flat_map(|s| s.touches.iter())
    }

    /// The row of `stage`, if touched.
    pub fn stage(&self, stage: Stage) -> Option<&StageLineage> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}

pub(super) fn lineage(dag: &ProvenanceDag, names: &Names) -> Lineage {
    let mut touches: Vec<StageTouch> = Vec::new();
    for node in &dag.nodes {
        let (stage, event, site, company) = match &node.creation {
            NodeCreation::Extract { site } => {
                let owner = names
                    .sites
                    .get(site)
                    .map_or_else(|| node.custodian.clone(), |(_, _, o)| o.clone());
                (
                    Stage::Mining,
                    "extract".to_owned(),
                    Some(site.clone()),
                    owner,
                )
            }
            NodeCreation::Transform {
                process, operator, ..
            } => {
                let Some(stage) = Stage::of_process(*process) else {
                    continue;
                };
                (
                    stage,
                    process.to_string(),
                    node.made_at.clone(),
                    operator.clone(),
                )
            }
        };
        // The outputs of one transform are one touch.
        if touches
            .iter()
            .any(|t| t.entry == node.created_in && t.stage == stage)
        {
            continue;
        }
        let (company_name, registered) = names.actor(&company);
        let (site_name, country, place) = match site.as_ref().and_then(|s| names.sites.get(s)) {
            Some((name, country, _)) => (Some(name.clone()), country.clone(), PlaceBasis::Site),
            None => (None, registered, PlaceBasis::OperatorRegistration),
        };
        touches.push(StageTouch {
            stage,
            event,
            batch: node.batch.clone(),
            entry: node.created_in,
            site,
            site_name,
            company,
            company_name,
            country,
            place,
        });
    }
    touches.sort_by_key(|t| t.entry);
    let stages = Stage::ALL
        .iter()
        .filter_map(|stage| {
            let mine: Vec<StageTouch> = touches
                .iter()
                .filter(|t| t.stage == *stage)
                .cloned()
                .collect();
            (!mine.is_empty()).then(|| StageLineage {
                stage: *stage,
                countries: mine.iter().map(|t| t.country.clone()).collect(),
                companies: mine.iter().map(|t| t.company.clone()).collect(),
                sites: mine.iter().filter_map(|t| t.site.clone()).collect(),
                touches: mine,
            })
        })
        .collect();
    Lineage { stages }
}
