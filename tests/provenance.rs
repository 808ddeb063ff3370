//! Origin shares on small hand-made DAGs (split, merge, additive, transit loss, recycling) with
//! exact expected grams, rounding that keeps sums exact, the node cap, and a 1,000-node DAG.
//!
//! The states are built from records directly (no events), so each test shows exactly the
//! masses the arithmetic sees.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use lodestone::audit::{
    self, batch_mixes, AuditError, OriginReport, OriginSource, ProvenanceDag, MAX_DAG_NODES,
};
use lodestone::ledger::{
    ActorRecord, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord, MemState, SiteRecord,
    StateChanges,
};
use lodestone::model::ids::{ActorId, BatchId, Grams};
use lodestone::model::material::{Claim, Form, Process, Role, SiteKind};

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// A state under construction: batches get consecutive entry indexes.
struct World {
    changes: StateChanges,
    next_entry: u64,
}

impl World {
    /// Mines `mine-a` (AU, owned by `alpha`), `mine-b` (US, `beta`), `mine-c` (US, `beta`);
    /// recycler `recycler`.
    fn new() -> World {
        let mut w = World {
            changes: StateChanges::default(),
            next_entry: 1,
        };
        w.actor("alpha", "Alpha Mining", "AU", Role::Miner);
        w.actor("beta", "Beta Mining", "US", Role::Miner);
        w.actor("recycler", "Loop Recycling", "CA", Role::Recycler);
        w.site("mine-a", "alpha", "AU");
        w.site("mine-b", "beta", "US");
        w.site("mine-c", "beta", "US");
        w
    }

    fn actor(&mut self, actor: &str, name: &str, country: &str, role: Role) {
        let record = ActorRecord {
            id: id(actor),
            name: name.into(),
            country: id(country),
            roles: BTreeSet::from([role]),
            sites: Vec::new(),
            keys: Vec::new(),
            entries: Vec::new(),
            prefixes: Vec::new(),
            registered_at: id("2026-01-01T00:00:00Z"),
        };
        self.changes.actors.insert(record.id.clone(), record);
    }

    fn site(&mut self, site: &str, owner: &str, country: &str) {
        let record = SiteRecord {
            id: id(site),
            owner: id(owner),
            name: format!("{site} mine"),
            country: id(country),
            kind: SiteKind::Mine,
        };
        self.changes.sites.insert(record.id.clone(), record);
    }

    fn put(&mut self, batch: &str, form: Form, created: u64, custodian: &str, origin: BatchOrigin) {
        let index = self.next_entry;
        self.next_entry += 1;
        if let BatchOrigin::Transformed { inputs, .. } = &origin {
            for (input, _) in inputs {
                let parent = self.changes.batches.get_mut(input).unwrap();
                parent.children.push(id(batch));
                parent.history.push(index);
            }
        }
        let record = BatchRecord {
            id: id(batch),
            form,
            elements: BTreeSet::new(),
            created_g: Grams(created),
            remaining_g: Grams(created),
            custodian: id(custodian),
            status: BatchStatus::Active,
            created_at: id("2026-03-01T00:00:00Z"),
            created_in: index,
            origin,
            children: Vec::new(),
            history: vec![index],
            certificates: Vec::new(),
            transit_loss_g: Grams::ZERO,
            last_event_at: id("2026-03-01T00:00:00Z"),
            composition: None,
            assays: Vec::new(),
            made_at: None,
        };
        self.changes.batches.insert(record.id.clone(), record);
    }

    fn extract(&mut self, batch: &str, site: &str, mass: u64) {
        let owner = self.changes.sites[&id(site)].owner.to_string();
        let origin = BatchOrigin::Extracted { site: id(site) };
        self.put(batch, Form::Ore, mass, &owner, origin);
    }

    /// One transform: takes `inputs`, adds `additives` grams, creates `outputs`. All outputs
    /// share the transform's entry index, as the ledger writes them.
    fn transform(
        &mut self,
        process: Process,
        actor: &str,
        inputs: &[(&str, u64)],
        additives: u64,
        outputs: &[(&str, Form, u64)],
    ) {
        let index = self.next_entry;
        let total: u64 = outputs.iter().map(|o| o.2).sum();
        for (input, taken) in inputs {
            let parent = self.changes.batches.get_mut(&id::<BatchId>(input)).unwrap();
            // Saturating: the 1,000-node test takes from batches freely; only the mixes matter.
            parent.remaining_g = Grams(parent.remaining_g.get().saturating_sub(*taken));
            if parent.remaining_g.is_zero() {
                parent.status = BatchStatus::Consumed;
            }
        }
        for (batch, form, mass) in outputs {
            self.next_entry = index; // every output: the same entry
            let origin = BatchOrigin::Transformed {
                process,
                inputs: inputs.iter().map(|(b, g)| (id(b), Grams(*g))).collect(),
                additives_g: Grams(additives),
                outputs_total_g: Grams(total),
            };
            self.put(batch, *form, *mass, actor, origin);
        }
        // `put` pushed the index once per output into each input's history; keep one.
        for (input, _) in inputs {
            let parent = self.changes.batches.get_mut(&id::<BatchId>(input)).unwrap();
            parent.history.dedup();
        }
        self.next_entry = index + 1;
    }

    /// A transit loss: the batch arrives with `lost` grams fewer.
    fn lose_in_transit(&mut self, batch: &str, lost: u64) {
        let record = self.changes.batches.get_mut(&id::<BatchId>(batch)).unwrap();
        record.remaining_g = Grams(record.remaining_g.get() - lost);
        record.transit_loss_g = Grams(lost);
        record.history.push(self.next_entry);
        self.next_entry += 1;
    }

    /// A ship and receive without loss: `to` becomes the custodian.
    fn hand_over(&mut self, batch: &str, to: &str) {
        let record = self.changes.batches.get_mut(&id::<BatchId>(batch)).unwrap();
        record.custodian = id(to);
        record
            .history
            .extend([self.next_entry, self.next_entry + 1]);
        self.next_entry += 2;
    }

    fn state(self) -> MemState {
        let mut state = MemState::new();
        state.apply_changes(self.changes);
        state
    }
}

fn report(state: &MemState, batch: &str) -> OriginReport {
    let r = audit::provenance(state, &id(batch), MAX_DAG_NODES)
        .unwrap()
        .origins;
    assert_eq!(
        r.mined_g + r.recycled_g + r.untracked_g,
        r.basis_g,
        "{batch}"
    );
    r
}

fn sites(r: &OriginReport) -> Vec<(String, u64)> {
    r.origins_by_site
        .iter()
        .map(|s| (s.site.to_string(), s.grams))
        .collect()
}

fn pairs(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|(s, g)| (s.to_string(), *g)).collect()
}

#[test]
fn split_hands_each_part_its_mass() {
    let mut w = World::new();
    w.extract("ORE", "mine-a", 1_000);
    w.transform(
        Process::Split,
        "alpha",
        &[("ORE", 1_000)],
        0,
        &[("ORE-1", Form::Ore, 600), ("ORE-2", Form::Ore, 400)],
    );
    let state = w.state();
    assert_eq!(sites(&report(&state, "ORE-1")), pairs(&[("mine-a", 600)]));
    assert_eq!(sites(&report(&state, "ORE-2")), pairs(&[("mine-a", 400)]));
    let dag = audit::provenance_dag(&state, &id("ORE-2"), 10).unwrap();
    assert_eq!(dag.nodes.len(), 2);
    assert_eq!(dag.edges[0].taken_g, 1_000);
}

#[test]
fn merge_pools_two_mines_and_groups_by_company_and_country() {
    let mut w = World::new();
    w.extract("A", "mine-a", 300);
    w.extract("B", "mine-b", 500);
    w.extract("C", "mine-c", 200);
    w.transform(
        Process::Merge,
        "alpha",
        &[("A", 300), ("B", 500), ("C", 200)],
        0,
        &[("ABC", Form::Ore, 1_000)],
    );
    let r = report(&w.state(), "ABC");
    assert_eq!(
        sites(&r),
        pairs(&[("mine-b", 500), ("mine-a", 300), ("mine-c", 200)])
    );
    let companies: Vec<(&str, u64)> = r
        .origins_by_company
        .iter()
        .map(|c| (c.actor.as_str(), c.grams))
        .collect();
    assert_eq!(companies, [("beta", 700), ("alpha", 300)]);
    let countries: Vec<(&str, u64)> = r
        .origins_by_country
        .iter()
        .map(|c| (c.country.as_str(), c.grams))
        .collect();
    assert_eq!(countries, [("US", 700), ("AU", 300)]);
    assert_eq!(r.origins_by_site[1].owner_name, "Alpha Mining");
    assert!((r.origins_by_country[0].share - 0.7).abs() < 1e-12);
}

#[test]
fn additives_are_untracked_and_losses_take_their_share() {
    let mut w = World::new();
    w.extract("ORE", "mine-a", 300);
    // 300 g tracked + 700 g iron/boron = 1,000 g pool; 950 g magnet + 40 g scrap; 10 g lost.
    w.transform(
        Process::MagnetMaking,
        "alpha",
        &[("ORE", 300)],
        700,
        &[("MAG", Form::Magnet, 950), ("SCRAP", Form::Scrap, 40)],
    );
    let state = w.state();
    let r = report(&state, "MAG");
    assert_eq!(sites(&r), pairs(&[("mine-a", 285)]));
    assert_eq!(r.untracked_g, 665);
    let r = report(&state, "SCRAP");
    assert_eq!(sites(&r), pairs(&[("mine-a", 12)]));
    assert_eq!(r.untracked_g, 28);
}

#[test]
fn transit_loss_scales_the_mix_and_rounding_keeps_sums_exact() {
    let mut w = World::new();
    w.extract("A", "mine-a", 500);
    w.extract("B", "mine-b", 500);
    w.transform(
        Process::Merge,
        "alpha",
        &[("A", 500), ("B", 500)],
        0,
        &[("AB", Form::Ore, 1_000)],
    );
    // 3 g lost in transit: the consumer takes 997 g of a batch created at 1,000 g.
    w.lose_in_transit("AB", 3);
    w.transform(
        Process::Split,
        "alpha",
        &[("AB", 997)],
        0,
        &[("AB-1", Form::Ore, 997)],
    );
    let state = w.state();
    // The merged batch is still reported against its mass at creation.
    let r = report(&state, "AB");
    assert_eq!((r.basis_g, r.remaining_g), (1_000, 0));
    assert_eq!(sites(&r), pairs(&[("mine-a", 500), ("mine-b", 500)]));
    // 498.5 + 498.5: the odd gram goes to the first source in key order.
    let r = report(&state, "AB-1");
    assert_eq!(sites(&r), pairs(&[("mine-a", 499), ("mine-b", 498)]));
}

#[test]
fn recycling_starts_a_recycled_origin() {
    let mut w = World::new();
    w.extract("ORE-A", "mine-a", 30);
    // A magnet of 30 g mine-a + 70 g additives, all of it scrapped.
    w.transform(
        Process::MagnetMaking,
        "alpha",
        &[("ORE-A", 30)],
        70,
        &[("SCRAP", Form::Scrap, 100)],
    );
    w.hand_over("SCRAP", "recycler");
    w.transform(
        Process::Recycling,
        "recycler",
        &[("SCRAP", 100)],
        0,
        &[("OXIDE-R", Form::Oxide, 25)],
    );
    w.extract("ORE-B", "mine-b", 50);
    // 25 recycled + 50 mine-b + 125 additives = 200 pool; magnet 190 (× 0.95):
    // exact 23.75 / 47.5 / 118.75 → floors 23 / 47 / 118 (188), the two missing grams go to
    // the largest remainders (.75, .75): recycled 24, mine-b 47, untracked 119.
    w.transform(
        Process::MagnetMaking,
        "alpha",
        &[("OXIDE-R", 25), ("ORE-B", 50)],
        125,
        &[("MAG", Form::Magnet, 190)],
    );
    let state = w.state();
    let r = report(&state, "OXIDE-R");
    assert_eq!((r.recycled_g, r.mined_g, r.untracked_g), (25, 0, 0));
    assert_eq!(r.recycled_by[0].name, "Loop Recycling");
    let r = report(&state, "MAG");
    assert_eq!((r.recycled_g, r.untracked_g), (24, 119));
    assert_eq!(sites(&r), pairs(&[("mine-b", 47)]));
    // The DAG still reaches the original mine through the scrap.
    let dag = audit::provenance_dag(&state, &id("MAG"), 100).unwrap();
    let sources: Vec<&str> = dag.sources().map(|n| n.batch.as_str()).collect();
    assert_eq!(sources, ["ORE-A", "ORE-B"]);
    // And a recall of mine-a's ore finds the magnet made from its recycled scrap.
    let d = audit::downstream(&state, &[id("ORE-A")], 100).unwrap();
    let found: BTreeMap<&str, u64> = d
        .batches
        .iter()
        .map(|b| (b.batch.as_str(), b.contains_g))
        .collect();
    // 30 g in the scrap → 25/100 of it in the oxide (7.5 → 8: the 0.5 tie goes to the tracer) →
    // 8 × 190/200 = 7.6 → 8 g in the magnet.
    assert_eq!(
        found,
        BTreeMap::from([("SCRAP", 30), ("OXIDE-R", 8), ("MAG", 8)])
    );
}

#[test]
fn entries_and_certificates_along_the_dag() {
    let mut w = World::new();
    w.extract("ORE", "mine-a", 1_000);
    w.transform(
        Process::Beneficiation,
        "alpha",
        &[("ORE", 1_000)],
        0,
        &[("CONC", Form::Concentrate, 100)],
    );
    w.changes
        .batches
        .get_mut(&id::<BatchId>("ORE"))
        .unwrap()
        .certificates
        .push(CertificateRecord {
            index: 9,
            certifier: id("alpha"),
            claim: Claim::EsgAudit,
            statement: "audited".into(),
            document_sha256: id(&"ab".repeat(32)),
            occurred_at: id("2026-03-02T00:00:00Z"),
        });
    let dag = audit::provenance_dag(&w.state(), &id("CONC"), 10).unwrap();
    assert_eq!(dag.entries, [1, 2, 9]);
    let certs: Vec<(&str, u64)> = dag
        .certificates()
        .map(|(b, c)| (b.as_str(), c.index))
        .collect();
    assert_eq!(certs, [("ORE", 9)]);
    let signers = dag
        .signers(|i| Ok::<ActorId, ()>(id(if i == 9 { "beta" } else { "alpha" })))
        .unwrap();
    assert_eq!(signers.len(), 2);
    let json = serde_json::to_value(&dag).unwrap();
    assert_eq!(json["nodes"][1]["creation"]["kind"], "transform");
    assert_eq!(json["nodes"][1]["status"]["state"], "active");
}

#[test]
fn unknown_batch_and_node_cap() {
    let mut w = World::new();
    w.extract("ORE", "mine-a", 10);
    let mut previous = "ORE".to_string();
    for i in 0..20 {
        let next = format!("S{i}");
        w.transform(
            Process::Split,
            "alpha",
            &[(&previous, 10)],
            0,
            &[(&next, Form::Ore, 10)],
        );
        previous = next;
    }
    let state = w.state();
    assert_eq!(
        audit::provenance(&state, &id("NOPE"), 100).unwrap_err(),
        AuditError::UnknownBatch { batch: id("NOPE") }
    );
    assert_eq!(
        audit::provenance_dag(&state, &id("S19"), 5).unwrap_err(),
        AuditError::DagTooLarge {
            batch: id("S19"),
            limit: 5
        }
    );
    assert!(matches!(
        audit::downstream(&state, &[id("ORE")], 5),
        Err(AuditError::DagTooLarge { limit: 5, .. })
    ));
    assert_eq!(
        audit::provenance_dag(&state, &id("S19"), 21)
            .unwrap()
            .nodes
            .len(),
        21
    );
}

/// Every batch's mix sums exactly to its mass at creation.
fn assert_all_mixes_exact(dag: &ProvenanceDag) {
    let mixes = batch_mixes(dag).unwrap();
    for node in &dag.nodes {
        let mix = &mixes[&node.batch];
        assert_eq!(mix.values().sum::<u64>(), node.created_g, "{}", node.batch);
    }
}

#[test]
fn thousand_node_dag_is_exact_and_fast() {
    // 10 mines' ore, then 990 transforms, each taking the previous batch and a part of one
    // pseudo-random earlier batch, with odd masses, small losses, additives and a recycling
    // step every 50 to exercise the rounding.
    let mut w = World::new();
    let mines = ["mine-a", "mine-b", "mine-c"];
    let mut masses: Vec<u64> = Vec::new();
    for i in 0..10 {
        w.extract(&format!("N{i}"), mines[i % 3], 1_000_003 + i as u64 * 7_919);
        masses.push(1_000_003 + i as u64 * 7_919);
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 10..1_000usize {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let other = (seed % (i as u64 - 1)) as usize;
        let take_prev = masses[i - 1];
        let take_other = masses[other] / 97 + 1;
        let additive = if i % 10 == 0 { seed % 1_000 } else { 0 };
        let out = take_prev + take_other + additive - (seed % 13);
        let process = if i % 50 == 0 {
            Process::Recycling
        } else {
            Process::Merge
        };
        let inputs = [
            (format!("N{}", i - 1), take_prev),
            (format!("N{other}"), take_other),
        ];
        let inputs: Vec<(&str, u64)> = inputs.iter().map(|(b, g)| (b.as_str(), *g)).collect();
        w.transform(
            process,
            "recycler",
            &inputs,
            additive,
            &[(&format!("N{i}"), Form::Ore, out)],
        );
        masses.push(out);
    }
    let state = w.state();
    let started = Instant::now();
    let p = audit::provenance(&state, &id("N999"), MAX_DAG_NODES).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(p.dag.nodes.len(), 1_000);
    assert!(p.dag.edges.len() >= 1_980);
    assert_all_mixes_exact(&p.dag);
    assert!(
        p.origins.recycled_g > 0 && p.origins.untracked_g > 0,
        "{:?}",
        (
            p.origins.basis_g,
            p.origins.recycled_g,
            p.origins.untracked_g,
            p.origins.mined_g
        )
    );
    println!("1,000-node provenance computed in {elapsed:?}");
    let d = audit::downstream(&state, &[id("N9")], MAX_DAG_NODES).unwrap();
    assert_eq!(d.batches.len(), 990);
    assert!(d.batches.iter().all(|b| b.contains_g <= b.created_g));
    let mixes = batch_mixes(&p.dag).unwrap();
    assert!(mixes[&id::<BatchId>("N999")].contains_key(&OriginSource::Untracked));
}
