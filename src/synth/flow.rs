//! One flow: the life of the material from one extraction campaign, mine to magnet and back.
//!
//! ```text
//! extract ×2–4 → merge → [beneficiation: concentrate + tailings]        (miner, at its mine)
//!   → ship/receive → [cracking] → separation: NdPr oxide, La/Ce oxide, (Dy/Tb oxide), residue
//!   → assay of the NdPr oxide; La/Ce sold; split NdPr, one part sold
//!   → ship/receive → reduction to metal (Dy/Tb too, from clays) → alloying     (metallizer)
//!   → ship/receive → magnet making with iron and boron → certificate → split into lots
//!   → per lot: ship/receive → assembly into a motor (copper, steel) → product or retired,
//!     some products shipped back at end of life and recycled into alloy
//!   → swarf: ship/receive → recycling into oxide → certificate → sold
//! ```
//!
//! Masses are whole grams with plausible yields; every transform keeps
//! `Σ outputs ≤ Σ inputs + Σ additives`, transit losses stay under 0.3%, and every input is
//! taken at most up to what remains of it. The whole flow is planned up front; its batches are
//! named `<creator's prefix><flow>-<TAG>` (e.g. `separator-02/L0-F7-NDPR`): under the prefix the
//! registry gave their creator, and with a flow part no other flow uses.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use sha2::{Digest, Sha256};

use crate::model::composition::Composition;
use crate::model::event::{
    Additive, Certify, EventBody, Extract, Receive, Retire, Ship, Transform, TransformInput,
    TransformOutput,
};
use crate::model::ids::{AdditiveName, BatchId, DocumentDigest, Grams};
use crate::model::material::{Claim, Element, Form, Process, RetireReason, Role};

use super::{Deposit, Draft, SplitMix64, World};

use Element::*;

pub(super) const LIGHT: &[Element] = &[La, Ce, Pr, Nd];
const CLAY: &[Element] = &[Nd, Pr, Dy, Tb, Y];
const NDPR: &[Element] = &[Nd, Pr];
const LACE: &[Element] = &[La, Ce];
const DYTB: &[Element] = &[Dy, Tb];
const MAGNET: &[Element] = &[Nd, Pr, Dy];

/// `mass × permille / 1000`, rounded down: shares that add up to at most 1000‰ never exceed
/// the whole.
pub(super) fn share(mass: u64, permille: u64) -> u64 {
    mass * permille / 1000
}

/// Builds the drafts of one flow (or of the deep DAG) and names its batches.
pub(super) struct Planner<'w> {
    pub(super) world: &'w World,
    prefix: String,
    /// Each batch the flow created so far, by tag.
    created: HashMap<String, BatchId>,
    /// Each batch's mass and composition (issue 12), by tag, to declare outputs' compositions
    /// that keep the element balance.
    contents: HashMap<String, (u64, Composition)>,
    pub(super) drafts: VecDeque<Draft>,
}

/// One output of a transform: tag, form, mass, declared elements.
pub(super) type Output<'a> = (&'a str, Form, u64, &'a [Element]);

impl<'w> Planner<'w> {
    pub(super) fn new(world: &'w World, prefix: &str) -> Self {
        Planner {
            world,
            prefix: prefix.to_owned(),
            created: HashMap::new(),
            contents: HashMap::new(),
            drafts: VecDeque::new(),
        }
    }

    /// The batch the flow created as `tag`.
    pub(super) fn batch(&self, tag: &str) -> BatchId {
        self.created
            .get(tag)
            .cloned()
            .unwrap_or_else(|| panic!("synthetic flow uses batch {tag} before creating it"))
    }

    /// Names a new batch `tag` made by `creator`, under the creator's prefix.
    fn create(&mut self, creator: usize, tag: &str) -> BatchId {
        let id = BatchId::new(format!(
            "{}{}-{tag}",
            self.world.actors[creator].prefix, self.prefix
        ))
        .expect("synthetic batch ids follow the syntax");
        self.created.insert(tag.to_owned(), id.clone());
        id
    }

    fn push(&mut self, signer: usize, body: EventBody) {
        self.drafts.push_back(Draft { signer, body });
    }

    pub(super) fn extract(
        &mut self,
        miner: usize,
        tag: &str,
        form: Form,
        mass: u64,
        elements: &[Element],
    ) {
        let site = self.world.actors[miner]
            .site
            .as_ref()
            .expect("miners have a mine")
            .id
            .clone();
        // Six percent rare earths, shared evenly by the listed elements.
        let composition = Composition::from_parts(
            elements
                .iter()
                .map(|e| (*e, share(mass, 60) / elements.len().max(1) as u64)),
        )
        .filter(|c| {
            c.elements()
                .eq(elements.iter().copied().collect::<BTreeSet<_>>())
        });
        if let Some(c) = &composition {
            self.contents.insert(tag.to_owned(), (mass, c.clone()));
        }
        let body = EventBody::Extract(Extract {
            site,
            batch: self.create(miner, tag),
            form,
            mass_g: Grams(mass),
            elements: elements.iter().copied().collect(),
            composition,
        });
        self.push(miner, body);
    }

    /// A transform at the actor's own site.
    pub(super) fn transform(
        &mut self,
        actor: usize,
        process: Process,
        inputs: &[(&str, u64)],
        outputs: &[Output<'_>],
        additives: &[(&str, u64)],
    ) {
        let compositions = self.compositions(process, inputs, outputs);
        let inputs = inputs
            .iter()
            .map(|(tag, mass)| TransformInput {
                batch: self.batch(tag),
                mass_g: Grams(*mass),
            })
            .collect();
        let body = EventBody::Transform(Transform {
            process,
            site: self.world.actors[actor].site.as_ref().map(|s| s.id.clone()),
            inputs,
            outputs: outputs
                .iter()
                .zip(compositions)
                .map(
                    |((tag, form, mass, elements), composition)| TransformOutput {
                        batch: self.create(actor, tag),
                        form: *form,
                        mass_g: Grams(*mass),
                        elements: elements.iter().copied().collect::<BTreeSet<_>>(),
                        composition,
                    },
                )
                .collect(),
            additives: additives
                .iter()
                .map(|(material, mass)| Additive {
                    material: AdditiveName::new(*material).expect("built-in additive names"),
                    mass_g: Grams(*mass),
                })
                .collect(),
        });
        self.push(actor, body);
    }

    /// The compositions to declare for `outputs` (and records what each output will hold):
    /// element by element, 95 % of what the inputs taken contain, shared by mass among the
    /// outputs that list the element, never above 99 % of an output's mass. Split and merge
    /// declare none (the ledger inherits them; the same formula is recorded here). An input
    /// without a composition makes its outputs undeclared.
    fn compositions(
        &mut self,
        process: Process,
        inputs: &[(&str, u64)],
        outputs: &[Output<'_>],
    ) -> Vec<Option<Composition>> {
        let none = vec![None; outputs.len()];
        let mut pool: BTreeMap<Element, u128> = BTreeMap::new();
        for (tag, taken) in inputs {
            let Some((mass, c)) = self.contents.get(*tag) else {
                return none;
            };
            for (e, g) in c.iter() {
                *pool.entry(e).or_insert(0) +=
                    u128::from(*taken) * u128::from(g) / u128::from((*mass).max(1));
            }
        }
        let taken: u128 = inputs.iter().map(|(_, t)| u128::from(*t)).sum();
        if matches!(process, Process::Split | Process::Merge) {
            for (tag, _, mass, _) in outputs {
                let parts = pool.iter().map(|(e, g)| {
                    (
                        *e,
                        u64::try_from(g * u128::from(*mass) / taken.max(1)).unwrap_or(0),
                    )
                });
                if let Some(c) = Composition::from_parts(parts) {
                    self.contents.insert((*tag).to_owned(), (*mass, c));
                }
            }
            return none;
        }
        outputs
            .iter()
            .map(|(tag, _, mass, elements)| {
                let parts = elements.iter().map(|e| {
                    let listing: u128 = outputs
                        .iter()
                        .filter(|o| o.3.contains(e))
                        .map(|o| u128::from(o.2))
                        .sum();
                    let g = pool.get(e).copied().unwrap_or(0) * u128::from(*mass) / listing.max(1)
                        * 95
                        / 100;
                    (*e, u64::try_from(g).unwrap_or(0))
                });
                let mut c = Composition::from_parts(parts)?;
                let cap = u128::from(share(*mass, 990));
                if c.total() > cap {
                    let total = c.total();
                    c = Composition::from_parts(c.iter().map(|(e, g)| {
                        (e, u64::try_from(u128::from(g) * cap / total).unwrap_or(0))
                    }))?;
                }
                // Declared elements and the composition must name the same elements.
                if !c
                    .elements()
                    .eq(elements.iter().copied().collect::<BTreeSet<_>>())
                {
                    return None;
                }
                self.contents.insert((*tag).to_owned(), (*mass, c.clone()));
                Some(c)
            })
            .collect()
    }

    /// Ships the whole batch and has the addressee receive it, less a transit loss under 0.3%.
    /// Returns the mass received.
    pub(super) fn deliver(
        &mut self,
        rng: &mut SplitMix64,
        from: usize,
        tag: &str,
        mass: u64,
        to: usize,
    ) -> u64 {
        let received = mass - mass * rng.below(300) / 100_000;
        let batch = self.batch(tag);
        let addressee = self.world.actors[to].id.clone();
        self.push(
            from,
            EventBody::Ship(Ship {
                batch: batch.clone(),
                to: addressee,
                licence: None,
            }),
        );
        self.push(
            to,
            EventBody::Receive(Receive {
                batch,
                mass_g: Grams(received),
            }),
        );
        received
    }

    fn certify(
        &mut self,
        rng: &mut SplitMix64,
        certifier: usize,
        tag: &str,
        claim: Claim,
        statement: String,
    ) {
        let document = Sha256::digest(rng.next_u64().to_le_bytes()).into();
        let body = EventBody::Certify(Certify {
            batch: self.batch(tag),
            claim,
            statement,
            document_sha256: DocumentDigest::from_bytes(document),
            composition: None,
        });
        self.push(certifier, body);
    }

    fn retire(&mut self, holder: usize, tag: &str, reason: RetireReason) {
        let body = EventBody::Retire(Retire {
            batch: self.batch(tag),
            reason,
        });
        self.push(holder, body);
    }
}

/// Plans one flow (see the module doc).
pub(super) fn plan(world: &World, rng: &mut SplitMix64, prefix: &str) -> VecDeque<Draft> {
    let mut p = Planner::new(world, prefix);
    let (miner, deposit) = world.draw_miner(rng);
    let pick = |rng: &mut SplitMix64, role| rng.pick(world.with_role(role));
    let separator = pick(rng, Role::Separator);
    let metallizer = pick(rng, Role::Metallizer);
    let magnet_maker = pick(rng, Role::MagnetMaker);
    let recycler = pick(rng, Role::Recycler);
    let certifier = pick(rng, Role::Certifier);

    // Mine: a campaign of 2-4 extractions, blended.
    let (form, elements, low, high) = match deposit {
        Deposit::HardRock => (Form::Ore, LIGHT, 20_000_000, 120_000_000),
        Deposit::IonicClay => (Form::MixedCompound, CLAY, 2_000_000, 8_000_000),
    };
    let count = rng.between(2, 4);
    let mut blend = 0;
    let mut parts = Vec::new();
    for i in 1..=count {
        let mass = rng.between(low, high);
        let tag = format!("X{i}");
        p.extract(miner, &tag, form, mass, elements);
        parts.push((tag, mass));
        blend += mass;
    }
    let inputs: Vec<(&str, u64)> = parts.iter().map(|(t, m)| (t.as_str(), *m)).collect();
    p.transform(
        miner,
        Process::Merge,
        &inputs,
        &[("BLEND", form, blend, &[])],
        &[],
    );
    let (feed, feed_mass) = if form == Form::Ore {
        let concentrate = share(blend, 80);
        p.transform(
            miner,
            Process::Beneficiation,
            &[("BLEND", blend)],
            &[
                ("CONC", Form::Concentrate, concentrate, LIGHT),
                ("TAILINGS", Form::Scrap, share(blend, 850), &[]),
            ],
            &[],
        );
        ("CONC", concentrate)
    } else {
        ("BLEND", blend)
    };

    // Separation plant.
    let mut feed_mass = p.deliver(rng, miner, feed, feed_mass, separator);
    let mut feed = feed;
    if feed == "CONC" {
        let mixed = share(feed_mass, 600);
        p.transform(
            separator,
            Process::Cracking,
            &[(feed, feed_mass)],
            &[
                ("MIXED", Form::MixedCompound, mixed, LIGHT),
                ("CRACK-RESIDUE", Form::Scrap, share(feed_mass, 300), &[]),
            ],
            &[],
        );
        (feed, feed_mass) = ("MIXED", mixed);
    }
    let ndpr = share(feed_mass, 220);
    let dytb = (deposit == Deposit::IonicClay).then(|| share(feed_mass, 40));
    let mut outputs: Vec<Output<'_>> = vec![
        ("NDPR", Form::Oxide, ndpr, NDPR),
        ("LACE", Form::Oxide, share(feed_mass, 550), LACE),
        ("SEP-RESIDUE", Form::Scrap, share(feed_mass, 100), &[]),
    ];
    if let Some(dytb) = dytb {
        outputs.push(("DYTB", Form::Oxide, dytb, DYTB));
    }
    p.transform(
        separator,
        Process::Separation,
        &[(feed, feed_mass)],
        &outputs,
        &[],
    );
    let purity = format!("Nd2O3+Pr6O11 purity 99.{}%", rng.between(50, 99));
    p.certify(rng, certifier, "NDPR", Claim::Assay, purity);
    p.retire(separator, "LACE", RetireReason::Sold);
    let (kept, sold) = (share(ndpr, 700), share(ndpr, 300));
    p.transform(
        separator,
        Process::Split,
        &[("NDPR", ndpr)],
        &[
            ("NDPR-A", Form::Oxide, kept, NDPR),
            ("NDPR-B", Form::Oxide, sold, NDPR),
        ],
        &[],
    );
    p.retire(separator, "NDPR-B", RetireReason::Sold);

    // Metal and alloy.
    let oxide = p.deliver(rng, separator, "NDPR-A", kept, metallizer);
    let metal = share(oxide, 800);
    p.transform(
        metallizer,
        Process::Reduction,
        &[("NDPR-A", oxide)],
        &[
            ("METAL", Form::Metal, metal, NDPR),
            ("SLAG", Form::Scrap, share(oxide, 50), &[]),
        ],
        &[],
    );
    let mut alloy_inputs = vec![("METAL", metal)];
    if let Some(dytb) = dytb {
        let received = p.deliver(rng, separator, "DYTB", dytb, metallizer);
        let dy_metal = share(received, 800);
        p.transform(
            metallizer,
            Process::Reduction,
            &[("DYTB", received)],
            &[("DY-METAL", Form::Metal, dy_metal, DYTB)],
            &[],
        );
        alloy_inputs.push(("DY-METAL", dy_metal));
    }
    // Dysprosium (from clays) goes into the alloy for high-temperature magnets.
    let magnet_elements = if dytb.is_some() { MAGNET } else { NDPR };
    let alloy = share(alloy_inputs.iter().map(|(_, m)| m).sum(), 970);
    p.transform(
        metallizer,
        Process::Alloying,
        &alloy_inputs,
        &[("ALLOY", Form::Alloy, alloy, magnet_elements)],
        &[],
    );

    // Magnets: NdFeB is about 30% rare earth, 69% iron, 1% boron.
    let alloy = p.deliver(rng, metallizer, "ALLOY", alloy, magnet_maker);
    let (iron, boron) = (share(alloy, 2_250), share(alloy, 35));
    let total = alloy + iron + boron;
    let magnets = share(total, 900);
    let swarf = share(total, 70);
    p.transform(
        magnet_maker,
        Process::MagnetMaking,
        &[("ALLOY", alloy)],
        &[
            ("MAGNETS", Form::Magnet, magnets, magnet_elements),
            ("SWARF", Form::Scrap, swarf, magnet_elements),
        ],
        &[("iron", iron), ("boron", boron)],
    );
    let footprint = format!("{} kg CO2e per kg of magnet", rng.between(20, 60));
    p.certify(rng, certifier, "MAGNETS", Claim::CarbonFootprint, footprint);
    let lots = rng.between(2, 3);
    let lot_mass = magnets / lots;
    let lot_tags: Vec<String> = (1..=lots).map(|i| format!("LOT{i}")).collect();
    let lot_outputs: Vec<Output<'_>> = lot_tags
        .iter()
        .map(|t| (t.as_str(), Form::Magnet, lot_mass, magnet_elements))
        .collect();
    p.transform(
        magnet_maker,
        Process::Split,
        &[("MAGNETS", magnets)],
        &lot_outputs,
        &[],
    );

    // Motors and products.
    for tag in &lot_tags {
        let maker = pick(rng, Role::Manufacturer);
        let lot = p.deliver(rng, magnet_maker, tag, lot_mass, maker);
        let (copper, steel) = (share(lot, 400), share(lot, 3_000));
        let motor = share(lot + copper + steel, 990);
        let motor_tag = format!("{tag}-MOTOR");
        p.transform(
            maker,
            Process::Assembly,
            &[(tag, lot)],
            &[(&motor_tag, Form::Component, motor, &[])],
            &[("copper", copper), ("steel", steel)],
        );
        if rng.below(2) == 0 {
            p.retire(maker, &motor_tag, RetireReason::Sold);
            continue;
        }
        let body = share(motor, 20_000);
        let product = motor + body;
        let product_tag = format!("{tag}-PRODUCT");
        p.transform(
            maker,
            Process::Assembly,
            &[(&motor_tag, motor)],
            &[(&product_tag, Form::Product, product, &[])],
            &[("vehicle-body", body)],
        );
        if rng.below(10) < 3 {
            // End of life: back to a recycler, magnets recovered as alloy.
            let back = p.deliver(rng, maker, &product_tag, product, recycler);
            p.transform(
                recycler,
                Process::Recycling,
                &[(&product_tag, back)],
                &[
                    (
                        &format!("{tag}-RECOVERED"),
                        Form::Alloy,
                        share(lot, 600),
                        magnet_elements,
                    ),
                    (
                        &format!("{tag}-SHREDDER"),
                        Form::Scrap,
                        share(back, 500),
                        &[],
                    ),
                ],
                &[],
            );
        } else {
            p.retire(maker, &product_tag, RetireReason::Sold);
        }
    }

    // Swarf back to oxide.
    let swarf = p.deliver(rng, magnet_maker, "SWARF", swarf, recycler);
    p.transform(
        recycler,
        Process::Recycling,
        &[("SWARF", swarf)],
        &[
            ("RECYCLED-OXIDE", Form::Oxide, share(swarf, 250), NDPR),
            ("RECYCLING-RESIDUE", Form::Scrap, share(swarf, 600), &[]),
        ],
        &[],
    );
    p.certify(
        rng,
        certifier,
        "RECYCLED-OXIDE",
        Claim::EsgAudit,
        "Recycled content audited: 100% post-industrial swarf".to_owned(),
    );
    p.retire(recycler, "RECYCLED-OXIDE", RetireReason::Sold);
    p.drafts
}
