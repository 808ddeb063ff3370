//! Per-element origin shares (issue 12, docs/COMPLIANCE.md "Element shares"): where each
//! rare-earth element of a batch came from — by mine, company and country, recycled
//! (pre-/post-consumer), or undeclared — under the same ISO 22095 mass-balance model as the mass
//! shares (`audit::mix`), applied to each element's grams instead of the batch's mass.
//!
//! - A batch's **content** is its declared composition, else its latest assay
//!   ([`super::DagNode::content`]); a batch without either has no element mix ("cannot tell").
//! - **extract**: all of each element comes from the mine.
//! - **transform**: input *i* brings `⌊t_i × c_i(e) / m_i⌋` grams of element `e` with its own
//!   element mix scaled to them. An input without content brings `t_i` grams of `undeclared`
//!   (the bound the ledger's element balance uses: it may hold all of its mass), so an answer
//!   leans to "cannot tell" rather than guessing. Additives bring none. Each output's grams of
//!   `e` get the pool's proportions ([`apportion`], largest remainder: exact integer grams).
//! - **recycling** turns what each input brings into `recycled` grams attributed to the recycler
//!   (and its site), classed **post-consumer** if the input is a `magnet`, `component` or
//!   `product` — a finished good sent to recycling — and **pre-consumer** if it is `scrap` made
//!   by any other process (swarf, rejects, residues). An input that itself came out of recycling
//!   (a dismantler's scrap) keeps the classes it already carries.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::ledger::StateView;
use crate::model::composition::Composition;
use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId};
use crate::model::material::{Element, Form, Process};

use super::mix::apportion;
use super::provenance::{NodeCreation, ProvenanceDag};
use super::AuditError;

/// Whether recycled material had reached a consumer (EU 2024/1252 Art. 29 counts
/// post-consumer waste).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapClass {
    /// Process scrap (swarf, rejects, residues) that never left manufacturing.
    PreConsumer,
    /// End-of-life magnets, components and products.
    PostConsumer,
}

/// Where a gram of one element came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ElementSource {
    /// Extracted at this mine.
    Mine {
        /// The mine.
        site: SiteId,
    },
    /// Recovered by a recycling transform.
    Recycled {
        /// The recycler.
        recycler: ActorId,
        /// The site the recycling transform named, if any.
        site: Option<SiteId>,
        /// Pre- or post-consumer.
        class: ScrapClass,
    },
    /// From an input that declares no composition: its content is not known.
    Undeclared,
}

/// One element's mix: grams per source.
pub type ElementMix = BTreeMap<ElementSource, u64>;

/// A batch's element mixes, by element (only elements with grams).
pub type ElementMixes = BTreeMap<Element, ElementMix>;

/// One element's mix with its sources as numbers of a [`SourceTable`].
type NumberedMix = BTreeMap<u32, u64>;
/// A batch's numbered mixes, by element.
type NumberedMixes = BTreeMap<Element, NumberedMix>;

/// Every source a DAG's element mixes can name, numbered in [`ElementSource`] order, so that
/// numbers compare as the sources do: [`apportion`] breaks ties by key order, and the numbered
/// walk must give the grams the walk over sources would. The walk then moves and compares
/// numbers instead of cloning and comparing site and actor ids at every node — the cost that
/// dominated per-element shares of large DAGs.
struct SourceTable {
    sources: Vec<ElementSource>,
    numbers: HashMap<ElementSource, u32>,
}

impl SourceTable {
    fn of(dag: &ProvenanceDag) -> Option<SourceTable> {
        let mut all = std::collections::BTreeSet::from([ElementSource::Undeclared]);
        for node in &dag.nodes {
            match &node.creation {
                NodeCreation::Extract { site } => {
                    all.insert(ElementSource::Mine { site: site.clone() });
                }
                NodeCreation::Transform {
                    process: Process::Recycling,
                    operator,
                    ..
                } => {
                    for class in [ScrapClass::PreConsumer, ScrapClass::PostConsumer] {
                        all.insert(ElementSource::Recycled {
                            recycler: operator.clone(),
                            site: node.made_at.clone(),
                            class,
                        });
                    }
                }
                NodeCreation::Transform { .. } => {}
            }
        }
        let sources: Vec<ElementSource> = all.into_iter().collect();
        let numbers = sources
            .iter()
            .enumerate()
            .map(|(i, s)| Some((s.clone(), u32::try_from(i).ok()?)))
            .collect::<Option<_>>()?;
        Some(SourceTable { sources, numbers })
    }

    fn number(&self, source: &ElementSource) -> u32 {
        // Every source the walk makes was collected from the same DAG.
        self.numbers.get(source).copied().unwrap_or(0)
    }
}

/// The element mixes of every node of a DAG ([`element_mixes`]), kept numbered; [`Self::of`]
/// spells one node's out.
pub struct DagElementMixes {
    table: SourceTable,
    nodes: Vec<Option<NumberedMixes>>,
}

impl DagElementMixes {
    /// The mixes of the node at `index` of the DAG (`None`: it has no content).
    pub fn of(&self, index: usize) -> Option<ElementMixes> {
        let mixes = self.nodes.get(index)?.as_ref()?;
        Some(
            mixes
                .iter()
                .map(|(e, mix)| {
                    let mix = mix
                        .iter()
                        .map(|(&n, &g)| (self.table.sources[n as usize].clone(), g))
                        .collect();
                    (*e, mix)
                })
                .collect(),
        )
    }
}

/// The element mixes of every node of `dag`.
pub fn element_mixes(dag: &ProvenanceDag) -> Result<DagElementMixes, AuditError> {
    let position: HashMap<&BatchId, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.batch, i))
        .collect();
    let mut inputs: Vec<Vec<(usize, u64)>> = vec![Vec::new(); dag.nodes.len()];
    for edge in &dag.edges {
        let (Some(&from), Some(&to)) = (position.get(&edge.from), position.get(&edge.to)) else {
            return Err(AuditError::MissingBatch {
                batch: edge.to.clone(),
                missing: edge.from.clone(),
            });
        };
        inputs[to].push((from, edge.taken_g));
    }
    let table = SourceTable::of(dag).ok_or_else(|| AuditError::Overflow {
        batch: dag.root.clone(),
    })?;
    let undeclared = table.number(&ElementSource::Undeclared);
    let mut out: Vec<Option<NumberedMixes>> = Vec::with_capacity(dag.nodes.len());
    // Pools by creating entry and element: the outputs of one transform share them.
    let mut pools: HashMap<u64, NumberedMixes> = HashMap::new();
    for (i, node) in dag.nodes.iter().enumerate() {
        let overflow = || AuditError::Overflow {
            batch: node.batch.clone(),
        };
        let Some(content) = node.content() else {
            out.push(None);
            continue;
        };
        let mixes = match &node.creation {
            NodeCreation::Extract { site } => {
                let mine = table.number(&ElementSource::Mine { site: site.clone() });
                content
                    .iter()
                    .map(|(e, g)| (e, BTreeMap::from([(mine, g)])))
                    .collect()
            }
            NodeCreation::Transform {
                process, operator, ..
            } => {
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    pools.entry(node.created_in)
                {
                    let recycled = (*process == Process::Recycling).then(|| {
                        let as_class = |class| {
                            table.number(&ElementSource::Recycled {
                                recycler: operator.clone(),
                                site: node.made_at.clone(),
                                class,
                            })
                        };
                        Recycled {
                            pre: as_class(ScrapClass::PreConsumer),
                            post: as_class(ScrapClass::PostConsumer),
                        }
                    });
                    let pooled = pool(dag, &table, &out, &inputs[i], recycled);
                    slot.insert(pooled.ok_or_else(overflow)?);
                }
                let pool = &pools[&node.created_in];
                let mut mixes = NumberedMixes::new();
                for (e, g) in content.iter() {
                    let mix = match pool.get(&e) {
                        Some(p) if !p.is_empty() => apportion(p, g).ok_or_else(overflow)?,
                        // Nothing of it went in: only a content that broke the balance, which
                        // the ledger refuses; an assay may still say so. Count it undeclared.
                        _ => BTreeMap::from([(undeclared, g)]),
                    };
                    mixes.insert(e, mix);
                }
                mixes
            }
        };
        out.push(Some(mixes));
    }
    Ok(DagElementMixes { table, nodes: out })
}

/// The numbers of a recycling transform's own sources, by class.
#[derive(Clone, Copy)]
struct Recycled {
    pre: u32,
    post: u32,
}

/// The element pools of one transform from its inputs (`(node, taken)`); `recycled` for a
/// recycling transform.
fn pool(
    dag: &ProvenanceDag,
    table: &SourceTable,
    mixes: &[Option<NumberedMixes>],
    inputs: &[(usize, u64)],
    recycled: Option<Recycled>,
) -> Option<NumberedMixes> {
    let undeclared = table.number(&ElementSource::Undeclared);
    let is_recycled = |n: u32| matches!(table.sources[n as usize], ElementSource::Recycled { .. });
    let mut pool = NumberedMixes::new();
    for &(input, taken) in inputs {
        let node = &dag.nodes[input];
        let (Some(content), Some(input_mixes)) = (node.content(), &mixes[input]) else {
            // Unknown content: at most all of the mass taken, of any element.
            for e in Element::ALL {
                add(pool.entry(*e).or_default(), undeclared, taken)?;
            }
            continue;
        };
        let own = recycled.map(|r| match node.form {
            Form::Magnet | Form::Component | Form::Product => r.post,
            _ => r.pre,
        });
        let from_recycling = matches!(
            node.creation,
            NodeCreation::Transform {
                process: Process::Recycling,
                ..
            }
        );
        for (e, c) in content.iter() {
            let grams = u128::from(taken) * u128::from(c) / u128::from(node.created_g.max(1));
            let grams = u64::try_from(grams).ok()?;
            let Some(mix) = input_mixes.get(&e) else {
                continue;
            };
            let slot = pool.entry(e).or_default();
            for (source, g) in apportion(mix, grams)? {
                let source = match own {
                    None => source,
                    Some(_) if from_recycling && is_recycled(source) => source,
                    Some(_) if source == undeclared => undeclared,
                    Some(own) => own,
                };
                add(slot, source, g)?;
            }
        }
    }
    Some(pool)
}

fn add(mix: &mut NumberedMix, source: u32, grams: u64) -> Option<()> {
    let slot = mix.entry(source).or_insert(0);
    *slot = slot.checked_add(grams)?;
    Some(())
}

/// Grams of one element from one place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementPart {
    /// A mine site, a company or a country (see the list it is in).
    pub id: String,
    /// Its name (for sites and companies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The country (for sites and recyclers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    /// Grams of the element.
    pub grams: u64,
    /// `grams / element grams`, for display.
    pub share: f64,
}

/// Grams recycled by one recycler, by class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecycledPart {
    /// The recycler.
    pub recycler: ActorId,
    /// Its name.
    pub name: String,
    /// Where it recycled (the recycling transform's site, else its registered country).
    pub country: CountryCode,
    /// Pre- or post-consumer.
    pub class: ScrapClass,
    /// Grams of the element.
    pub grams: u64,
    /// `grams / element grams`, for display.
    pub share: f64,
}

/// Where one element of a batch came from. `mined_g + recycled_pre_consumer_g +
/// recycled_post_consumer_g + undeclared_g == grams`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementOrigin {
    /// The element.
    pub element: Element,
    /// Grams of it in the batch (its content).
    pub grams: u64,
    /// Grams traced to mines.
    pub mined_g: u64,
    /// Grams recovered from pre-consumer scrap.
    pub recycled_pre_consumer_g: u64,
    /// Grams recovered from post-consumer scrap.
    pub recycled_post_consumer_g: u64,
    /// Grams from inputs without a declared composition: origin unknown.
    pub undeclared_g: u64,
    /// By mine.
    pub by_site: Vec<ElementPart>,
    /// By mining company.
    pub by_company: Vec<ElementPart>,
    /// By country of the mine.
    pub by_country: Vec<ElementPart>,
    /// By recycler and class.
    pub recycled_by: Vec<RecycledPart>,
}

/// Per-element origin shares of one batch (`GET /v1/batches/{id}/provenance`, `elements`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementReport {
    /// The content the shares divide: declared, assayed, or absent.
    pub content_basis: ContentBasis,
    /// The batch's element content (absent: cannot tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Composition>,
    /// One entry per element of the content, in element order.
    pub elements: Vec<ElementOrigin>,
    /// Why some answer cannot be given (no content; undeclared inputs upstream).
    pub cannot_tell: Vec<String>,
}

/// Where a batch's element content comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentBasis {
    /// Declared by the event that created it (or inherited by a split or merge).
    Declared,
    /// Measured by its latest assay certificate.
    Assay,
    /// Neither: per-element answers cannot be given.
    None,
}

/// Names of sites and actors, read once from the state.
pub(super) struct Names {
    pub(super) sites: HashMap<SiteId, (String, CountryCode, ActorId)>,
    pub(super) actors: HashMap<ActorId, (String, CountryCode)>,
}

impl Names {
    pub(super) fn read<S: StateView + ?Sized>(
        state: &S,
        dag: &ProvenanceDag,
    ) -> Result<Names, AuditError> {
        let mut names = Names {
            sites: HashMap::new(),
            actors: HashMap::new(),
        };
        for node in &dag.nodes {
            let mut sites = Vec::new();
            let mut actors = vec![node.custodian.clone()];
            match &node.creation {
                NodeCreation::Extract { site } => sites.push(site.clone()),
                NodeCreation::Transform { operator, .. } => actors.push(operator.clone()),
            }
            sites.extend(node.made_at.clone());
            for site in sites {
                if names.sites.contains_key(&site) {
                    continue;
                }
                let record = state.site(&site)?.ok_or_else(|| AuditError::MissingSite {
                    batch: node.batch.clone(),
                    site: site.clone(),
                })?;
                actors.push(record.owner.clone());
                names
                    .sites
                    .insert(site, (record.name, record.country, record.owner));
            }
            for actor in actors {
                if names.actors.contains_key(&actor) {
                    continue;
                }
                // A damaged registry must not hide the grams: fall back to the id, country ZZ.
                let entry = match state.actor(&actor)? {
                    Some(a) => (a.name, a.country),
                    None => (actor.to_string(), unknown_country()),
                };
                names.actors.insert(actor, entry);
            }
        }
        Ok(names)
    }

    pub(super) fn actor(&self, id: &ActorId) -> (String, CountryCode) {
        self.actors
            .get(id)
            .cloned()
            .unwrap_or_else(|| (id.to_string(), unknown_country()))
    }
}

/// ISO 3166 user-assigned "unknown or unspecified country".
pub(super) fn unknown_country() -> CountryCode {
    "ZZ".parse().expect("ZZ is a valid country code")
}

/// The per-element report of `dag`'s root.
pub(super) fn element_report(
    dag: &ProvenanceDag,
    mixes: &DagElementMixes,
    names: &Names,
) -> ElementReport {
    let Some((root_at, root)) = dag
        .nodes
        .iter()
        .enumerate()
        .find(|(_, n)| n.batch == dag.root)
    else {
        return ElementReport {
            content_basis: ContentBasis::None,
            content: None,
            elements: Vec::new(),
            cannot_tell: vec![format!("batch {} is not in its own DAG", dag.root)],
        };
    };
    let basis = match (&root.composition, root.assays.last()) {
        (Some(_), _) => ContentBasis::Declared,
        (None, Some(_)) => ContentBasis::Assay,
        (None, None) => ContentBasis::None,
    };
    let mut report = ElementReport {
        content_basis: basis,
        content: root.content().cloned(),
        elements: Vec::new(),
        cannot_tell: Vec::new(),
    };
    let Some(root_mixes) = mixes.of(root_at) else {
        report.cannot_tell.push(format!(
            "batch {} declares no composition and has no assay: its element content is not known",
            root.batch
        ));
        return report;
    };
    for (element, mix) in &root_mixes {
        report.elements.push(element_origin(*element, mix, names));
    }
    let undeclared: Vec<String> = report
        .elements
        .iter()
        .filter(|e| e.undeclared_g > 0)
        .map(|e| format!("{} {} g", e.element, e.undeclared_g))
        .collect();
    if !undeclared.is_empty() {
        report.cannot_tell.push(format!(
            "an upstream input declares no composition, so part of the content has no known origin: {}",
            undeclared.join(", ")
        ));
    }
    report
}

fn element_origin(element: Element, mix: &ElementMix, names: &Names) -> ElementOrigin {
    let grams: u64 = mix.values().sum();
    let share = |g: u64| {
        if grams == 0 {
            0.0
        } else {
            g as f64 / grams as f64
        }
    };
    let mut o = ElementOrigin {
        element,
        grams,
        mined_g: 0,
        recycled_pre_consumer_g: 0,
        recycled_post_consumer_g: 0,
        undeclared_g: 0,
        by_site: Vec::new(),
        by_company: Vec::new(),
        by_country: Vec::new(),
        recycled_by: Vec::new(),
    };
    let mut companies: BTreeMap<ActorId, u64> = BTreeMap::new();
    let mut countries: BTreeMap<CountryCode, u64> = BTreeMap::new();
    for (source, &g) in mix {
        match source {
            ElementSource::Mine { site } => {
                o.mined_g += g;
                let (name, country, owner) = names.sites.get(site).cloned().unwrap_or_else(|| {
                    (
                        site.to_string(),
                        unknown_country(),
                        "unknown".parse().expect("valid id"),
                    )
                });
                *companies.entry(owner).or_insert(0) += g;
                *countries.entry(country.clone()).or_insert(0) += g;
                o.by_site.push(ElementPart {
                    id: site.to_string(),
                    name: Some(name),
                    country: Some(country),
                    grams: g,
                    share: share(g),
                });
            }
            ElementSource::Recycled {
                recycler,
                site,
                class,
            } => {
                match class {
                    ScrapClass::PreConsumer => o.recycled_pre_consumer_g += g,
                    ScrapClass::PostConsumer => o.recycled_post_consumer_g += g,
                }
                let (name, registered) = names.actor(recycler);
                let country = site
                    .as_ref()
                    .and_then(|s| names.sites.get(s))
                    .map_or(registered, |(_, c, _)| c.clone());
                o.recycled_by.push(RecycledPart {
                    recycler: recycler.clone(),
                    name,
                    country,
                    class: *class,
                    grams: g,
                    share: share(g),
                });
            }
            ElementSource::Undeclared => o.undeclared_g += g,
        }
    }
    o.by_company = companies
        .into_iter()
        .map(|(actor, g)| ElementPart {
            name: Some(names.actor(&actor).0),
            id: actor.to_string(),
            country: None,
            grams: g,
            share: share(g),
        })
        .collect();
    o.by_country = countries
        .into_iter()
        .map(|(country, g)| ElementPart {
            id: country.to_string(),
            name: None,
            country: None,
            grams: g,
            share: share(g),
        })
        .collect();
    o.by_site.sort_by_key(|p| Reverse(p.grams));
    o.by_company.sort_by_key(|p| Reverse(p.grams));
    o.by_country.sort_by_key(|p| Reverse(p.grams));
    o.recycled_by.sort_by_key(|p| Reverse(p.grams));
    o
}
