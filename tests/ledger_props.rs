//! Property tests of the ledger state machine: random valid sequences of extract, split, merge,
//! process, ship/receive (with loss) and retire never create mass, and replaying a sequence
//! from scratch always reaches the same state.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use lodestone::ledger::{
    apply_to_mem, BatchOrigin, BatchStatus, EntryContext, LedgerError, MemState, Signatures,
};
use lodestone::log::Hash;
use lodestone::model::event::Event;
use lodestone::model::keys::PublicKey;
use lodestone::model::material::Form;
use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const NOW_MS: u64 = 1_772_409_600_000;
const T0: &str = "2026-03-01T08:00:00Z";
const ACTORS: [&str; 2] = ["mp", "gm"];

/// Signed by exactly these keys (signature verification itself is tested in ledger_rules).
struct SignedBy(Vec<PublicKey>);

impl Signatures for SignedBy {
    fn signed_by(&self, key: &PublicKey) -> bool {
        self.0.contains(key)
    }
}

fn public(seed: u8) -> PublicKey {
    PublicKey::new(SigningKey::from_bytes(&[seed; 32]).verifying_key())
}

fn seed_of(actor: &str) -> u8 {
    match actor {
        "authority" => 1,
        "mp" => 2,
        _ => 3,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Extract(u64),
    Split {
        pick: usize,
        take: u16,
        parts: u8,
        loss: u16,
    },
    Merge {
        pick: usize,
        other: usize,
    },
    Process {
        pick: usize,
        take: u16,
        additive: u32,
        yield_: u16,
        scrap: bool,
    },
    Ship {
        pick: usize,
    },
    Receive {
        pick: usize,
        loss: u16,
    },
    Retire {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u64..10_000_000).prop_map(Op::Extract),
        2 => (any::<usize>(), 1u16..=1000, 1u8..4, 0u16..200)
            .prop_map(|(pick, take, parts, loss)| Op::Split { pick, take, parts, loss }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(pick, other)| Op::Merge { pick, other }),
        3 => (any::<usize>(), 1u16..=1000, 0u32..50_000, 1u16..=1000, any::<bool>())
            .prop_map(|(pick, take, additive, yield_, scrap)| Op::Process { pick, take, additive, yield_, scrap }),
        2 => any::<usize>().prop_map(|pick| Op::Ship { pick }),
        2 => (any::<usize>(), 0u16..300).prop_map(|(pick, loss)| Op::Receive { pick, loss }),
        1 => any::<usize>().prop_map(|pick| Op::Retire { pick }),
    ]
}

/// The one process each form goes through next, and the form it makes.
fn next_step(form: Form) -> (&'static str, &'static str) {
    match form {
        Form::Ore => ("beneficiation", "concentrate"),
        Form::Concentrate => ("cracking", "mixed_compound"),
        Form::MixedCompound => ("separation", "oxide"),
        Form::Oxide => ("reduction", "metal"),
        Form::Metal => ("alloying", "alloy"),
        Form::Alloy => ("magnet_making", "magnet"),
        Form::Magnet => ("assembly", "component"),
        Form::Component => ("assembly", "product"),
        Form::Product => ("recycling", "oxide"),
        Form::Scrap => ("recycling", "metal"),
    }
}

fn part(total: u64, permille: u16) -> u64 {
    (total as u128 * permille as u128 / 1000) as u64
}

/// Turns ops into valid signed events against the evolving state, applying each one.
struct Run {
    state: MemState,
    log: Vec<(Event, PublicKey, EntryContext)>,
    extracted: u64,
    additives: u64,
    transform_loss: u64,
    next: u64,
}

impl Run {
    fn new() -> Run {
        let mut run = Run {
            state: MemState::new(),
            log: Vec::new(),
            extracted: 0,
            additives: 0,
            transform_loss: 0,
            next: 0,
        };
        let all = [
            "miner",
            "processor",
            "separator",
            "metallizer",
            "magnet_maker",
            "manufacturer",
            "recycler",
            "trader",
        ];
        run.submit("authority", json!({"kind":"genesis","origin":"o","name":"R","country":"CH","public_key":public(1).to_base64()}));
        run.submit("authority", json!({"kind":"register_actor","subject":"mp","name":"MP","country":"US","roles":all,
            "sites":[{"id":"mine","name":"Mine","country":"US","kind":"mine"}],"public_keys":[public(2).to_base64()],"prefixes":["mp/"]}));
        run.submit("authority", json!({"kind":"register_actor","subject":"gm","name":"GM","country":"US","roles":&all[1..],
            "sites":[],"public_keys":[public(3).to_base64()],"prefixes":["gm/"]}));
        run
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn submit(&mut self, actor: &str, mut body: Value) {
        let id = self.id("ev-");
        body["id"] = json!(id);
        body["actor"] = json!(actor);
        body["occurred_at"] = json!(T0);
        if body["kind"] != "genesis" {
            body["log"] = json!("o");
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        let event = Event::from_json(&bytes).unwrap();
        let ctx = EntryContext {
            index: self.log.len() as u64,
            logged_at_ms: NOW_MS,
            envelope_digest: Hash(Sha256::digest(&bytes).into()),
        };
        let key = public(seed_of(actor));
        let result: Result<(), LedgerError> =
            apply_to_mem(&mut self.state, &ctx, &event, &SignedBy(vec![key]));
        if let Err(e) = result {
            panic!("valid event rejected ({}): {e}\n{body}", e.code());
        }
        self.log.push((event, key, ctx));
    }

    /// Active batches with mass, optionally of one holder, sorted by id.
    fn active(&self) -> Vec<(String, String, Form, u64)> {
        self.state
            .batches()
            .filter(|b| b.status == BatchStatus::Active && b.remaining_g.get() > 0)
            .map(|b| {
                (
                    b.id.to_string(),
                    b.custodian.to_string(),
                    b.form,
                    b.remaining_g.get(),
                )
            })
            .collect()
    }

    fn apply(&mut self, op: &Op) {
        let active = self.active();
        let pick = |i: usize| active.get(i % active.len().max(1)).cloned();
        match *op {
            Op::Extract(mass) => {
                let batch = self.id("mp/B");
                self.extracted += mass;
                self.submit("mp", json!({"kind":"extract","site":"mine","batch":batch,"form":"ore","mass_g":mass}));
            }
            Op::Split {
                pick: i,
                take,
                parts,
                loss,
            } => {
                let Some((batch, holder, form, remaining)) = pick(i) else {
                    return;
                };
                let take = part(remaining, take).max(1);
                let out = take - part(take, loss);
                if out < parts as u64 {
                    return;
                }
                let mut outputs = Vec::new();
                for p in 0..parts as u64 {
                    let mass = out / parts as u64 + if p == 0 { out % parts as u64 } else { 0 };
                    outputs.push(json!({"batch": self.id(&format!("{holder}/B")), "form": form, "mass_g": mass}));
                }
                self.transform_loss += take - out;
                self.submit(
                    &holder,
                    json!({"kind":"transform","process":"split",
                    "inputs":[{"batch":batch,"mass_g":take}],"outputs":outputs}),
                );
            }
            Op::Merge { pick: i, other } => {
                let Some((a, holder, form, ra)) = pick(i) else {
                    return;
                };
                let same: Vec<_> = active
                    .iter()
                    .filter(|b| b.0 != a && b.1 == holder && b.2 == form)
                    .collect();
                let Some((b, _, _, rb)) = same.get(other % same.len().max(1)).map(|b| (*b).clone())
                else {
                    return;
                };
                let out = self.id(&format!("{holder}/B"));
                self.submit(
                    &holder,
                    json!({"kind":"transform","process":"merge",
                    "inputs":[{"batch":a,"mass_g":ra},{"batch":b,"mass_g":rb}],
                    "outputs":[{"batch":out,"form":form,"mass_g":ra + rb}]}),
                );
            }
            Op::Process {
                pick: i,
                take,
                additive,
                yield_,
                scrap,
            } => {
                let Some((batch, holder, form, remaining)) = pick(i) else {
                    return;
                };
                let (process, out_form) = next_step(form);
                let take = part(remaining, take).max(1);
                let total_in = take + additive as u64;
                let main = part(total_in, yield_);
                if main == 0 {
                    return;
                }
                let mut outputs = vec![
                    json!({"batch": self.id(&format!("{holder}/B")), "form": out_form, "mass_g": main}),
                ];
                let mut out_total = main;
                let leftover = total_in - main;
                if scrap && leftover > 1 {
                    outputs.push(
                        json!({"batch": self.id(&format!("{holder}/B")), "form": "scrap", "mass_g": leftover / 2}),
                    );
                    out_total += leftover / 2;
                }
                self.additives += additive as u64;
                self.transform_loss += total_in - out_total;
                self.submit(
                    &holder,
                    json!({"kind":"transform","process":process,
                    "inputs":[{"batch":batch,"mass_g":take}],"outputs":outputs,
                    "additives":[{"material":"iron","mass_g":additive}]}),
                );
            }
            Op::Ship { pick: i } => {
                let Some((batch, holder, _, _)) = pick(i) else {
                    return;
                };
                let to = if holder == ACTORS[0] {
                    ACTORS[1]
                } else {
                    ACTORS[0]
                };
                self.submit(&holder, json!({"kind":"ship","batch":batch,"to":to}));
            }
            Op::Receive { pick: i, loss } => {
                let transit: Vec<_> = self
                    .state
                    .batches()
                    .filter_map(|b| match &b.status {
                        BatchStatus::InTransit { to, shipped_g } => {
                            Some((b.id.to_string(), to.to_string(), shipped_g.get()))
                        }
                        _ => None,
                    })
                    .collect();
                let Some((batch, to, shipped)) = transit.get(i % transit.len().max(1)).cloned()
                else {
                    return;
                };
                let mass = shipped - part(shipped, loss);
                self.submit(&to, json!({"kind":"receive","batch":batch,"mass_g":mass}));
            }
            Op::Retire { pick: i } => {
                let Some((batch, holder, _, _)) = pick(i) else {
                    return;
                };
                self.submit(
                    &holder,
                    json!({"kind":"retire","batch":batch,"reason":"consumed"}),
                );
            }
        }
    }
}

/// Groups batches into lineages: batches joined by transforms share one.
fn lineages(state: &MemState) -> BTreeMap<String, String> {
    let mut parent: BTreeMap<String, String> = state
        .batches()
        .map(|b| (b.id.to_string(), b.id.to_string()))
        .collect();
    fn root(parent: &BTreeMap<String, String>, mut x: String) -> String {
        while parent[&x] != x {
            x = parent[&x].clone();
        }
        x
    }
    for b in state.batches() {
        if let BatchOrigin::Transformed { inputs, .. } = &b.origin {
            for (input, _) in inputs {
                let (r1, r2) = (
                    root(&parent, b.id.to_string()),
                    root(&parent, input.to_string()),
                );
                if r1 != r2 {
                    parent.insert(r1, r2);
                }
            }
        }
    }
    parent
        .keys()
        .map(|k| (k.clone(), root(&parent, k.clone())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_creates_mass(ops in prop::collection::vec(op(), 1..60)) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op);
        }
        let state = &run.state;

        // Globally, mass is conserved exactly: what exists, was lost in transit or in
        // processing, is what was extracted plus what was added.
        let live: u64 = state.batches().map(|b| b.remaining_g.get()).sum();
        let transit: u64 = state.batches().map(|b| b.transit_loss_g.get()).sum();
        prop_assert_eq!(live + transit + run.transform_loss, run.extracted + run.additives);

        // Per lineage: live + retired + lost never exceed extracted + additives.
        let lineage = lineages(state);
        let mut budget: BTreeMap<&String, (u64, u64)> = BTreeMap::new(); // (have, may have)
        let mut transforms_seen = BTreeSet::new();
        for b in state.batches() {
            let entry = budget.entry(&lineage[b.id.as_str()]).or_default();
            entry.0 += b.remaining_g.get() + b.transit_loss_g.get();
            match &b.origin {
                BatchOrigin::Extracted { .. } => entry.1 += b.created_g.get(),
                BatchOrigin::Transformed { additives_g, .. } => {
                    if transforms_seen.insert(b.created_in) {
                        entry.1 += additives_g.get();
                    }
                }
            }
            prop_assert!(b.remaining_g <= b.created_g);
            if b.status == BatchStatus::Consumed {
                prop_assert_eq!(b.remaining_g.get(), 0);
            }
        }
        for (root, (have, may)) in budget {
            prop_assert!(have <= may, "lineage {} holds {} g but only {} g came in", root, have, may);
        }

        // Replaying the same entries from scratch reaches the same state.
        let mut replay = MemState::new();
        for (event, key, ctx) in &run.log {
            apply_to_mem(&mut replay, ctx, event, &SignedBy(vec![*key])).unwrap();
        }
        prop_assert_eq!(&replay, &run.state);
    }
}
