//! One test per ledger rule (DESIGN.md §3.1, docs/EVENTS.md): each breaks the rule and checks
//! the exact error, with real Ed25519 keys and signatures that really verify.

use ed25519_dalek::{Signer as _, SigningKey};
use lodestone::ledger::{
    apply, apply_to_mem, BatchOrigin, BatchStatus, EntryContext, InvalidReason, LedgerError,
    MemState, Overlay, Side, SiteProblem, StateView,
};
use lodestone::log::Hash;
use lodestone::model::event::Event;
use lodestone::model::ids::{ActorId, BatchId, Grams};
use lodestone::model::keys::PublicKey;
use lodestone::model::material::{Form, Process, RetireReason};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// 2026-03-02T00:00:00Z: the log time of every entry in these tests.
const NOW_MS: u64 = 1_772_409_600_000;
const T0: &str = "2026-03-01T08:00:00Z";
/// The origin genesis gives the test ledger.
const LOG: &str = "lodestone.test/ree";

use crate::common::{seed_key as key, Signed};

fn public(k: &SigningKey) -> PublicKey {
    PublicKey::new(k.verifying_key())
}

fn b64(k: &SigningKey) -> String {
    public(k).to_base64()
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

struct World {
    state: MemState,
    index: u64,
}

impl World {
    /// Genesis, and the actors every test uses.
    fn new() -> World {
        let mut w = World {
            state: MemState::new(),
            index: 0,
        };
        w.ok(
            &[&key(1)],
            json!({"kind":"genesis","id":"genesis","actor":"authority","occurred_at":"2026-01-01T00:00:00Z",
                   "origin":LOG,"name":"Registry","country":"CH","public_key":b64(&key(1))}),
        );
        w.register(
            "mp",
            &["miner", "separator", "metallizer", "magnet_maker"],
            2,
            json!([{"id":"mountain-pass","name":"Mountain Pass","country":"US","kind":"mine"},
                   {"id":"fort-worth","name":"Fort Worth","country":"US","kind":"plant"}]),
        );
        w.register("gm", &["manufacturer"], 3, json!([]));
        w.register("lab", &["certifier"], 4, json!([]));
        w.register(
            "other-miner",
            &["miner"],
            5,
            json!([{"id":"other-mine","name":"Other","country":"AU","kind":"mine"}]),
        );
        w.register("recycler", &["recycler"], 6, json!([]));
        w.register("trader", &["trader"], 7, json!([]));
        w
    }

    fn register(&mut self, who: &str, roles: &[&str], seed: u8, sites: Value) {
        self.ok(
            &[&key(1)],
            json!({"kind":"register_actor","id":format!("reg-{who}"),"actor":"authority","occurred_at":T0,
                   "subject":who,"name":who,"country":"US","roles":roles,"sites":sites,
                   "public_keys":[b64(&key(seed))],"prefixes":prefixes_of(who)}),
        );
    }

    /// Parses the JSON as the contract says, signs the bytes, and applies them as the next entry.
    /// An event without `log` gets this ledger's origin.
    fn submit(&mut self, signers: &[&SigningKey], mut event: Value) -> Result<(), LedgerError> {
        if event["kind"] != "genesis" && event.get("log").is_none() {
            event["log"] = json!(LOG);
        }
        let bytes = serde_json::to_vec(&event).unwrap();
        let parsed = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{e}: {event}"));
        let signed = Signed {
            signatures: signers
                .iter()
                .map(|k| (public(k), k.sign(&bytes)))
                .collect(),
            message: bytes.clone(),
        };
        let ctx = EntryContext {
            index: self.index,
            logged_at_ms: NOW_MS,
            envelope_digest: Hash(Sha256::digest(&bytes).into()),
        };
        let before = self.state.clone();
        let result = apply_to_mem(&mut self.state, &ctx, &parsed, &signed);
        match &result {
            Ok(()) => self.index += 1,
            Err(_) => assert_eq!(self.state, before, "a rejected event changed the state"),
        }
        result
    }

    fn ok(&mut self, signers: &[&SigningKey], event: Value) {
        if let Err(e) = self.submit(signers, event.clone()) {
            panic!("rejected ({}): {e}\n{event}", e.code());
        }
    }

    fn err(&mut self, signers: &[&SigningKey], event: Value) -> LedgerError {
        match self.submit(signers, event.clone()) {
            Ok(()) => panic!("accepted but should fail: {event}"),
            Err(e) => e,
        }
    }

    fn batch(&self, b: &str) -> lodestone::ledger::BatchRecord {
        self.state.batch(&id(b)).unwrap().expect("batch exists")
    }

    /// mp extracts `batch` (ore) at its mine.
    fn extract(&mut self, batch: &str, mass: u64) {
        self.ok(
            &[&key(2)],
            extract_event(&format!("ex-{batch}"), batch, mass),
        );
    }
}

/// The batch id prefixes of the test actors: the batches each test has them create.
fn prefixes_of(actor: &str) -> Vec<&'static str> {
    match actor {
        "mp" => vec![
            "B", "C1", "CONC-", "HREE-", "M1", "MAG-", "MIX-", "NDFEB-", "NDPR-", "ORE-", "SWARF-",
            "TAIL-", "X", "SCRAP-",
        ],
        "gm" => vec!["CAR-", "MOTOR-"],
        "recycler" => vec!["REC-"],
        "other-miner" => vec!["OM-"],
        "trader" => vec!["TR-"],
        _ => vec![],
    }
}

fn extract_event(event: &str, batch: &str, mass: u64) -> Value {
    json!({"kind":"extract","id":event,"actor":"mp","log":LOG,"occurred_at":T0,"site":"mountain-pass",
           "batch":batch,"form":"ore","mass_g":mass,"elements":["La","Ce","Pr","Nd"]})
}

fn transform(
    event: &str,
    actor: &str,
    process: &str,
    inputs: &[(&str, u64)],
    outputs: &[(&str, &str, u64)],
) -> Value {
    json!({"kind":"transform","id":event,"actor":actor,"log":LOG,"occurred_at":T0,"process":process,
           "inputs": inputs.iter().map(|(b, m)| json!({"batch":b,"mass_g":m})).collect::<Vec<_>>(),
           "outputs": outputs.iter().map(|(b, f, m)| json!({"batch":b,"form":f,"mass_g":m})).collect::<Vec<_>>()})
}

fn ship(event: &str, actor: &str, batch: &str, to: &str) -> Value {
    json!({"kind":"ship","id":event,"actor":actor,"log":LOG,"occurred_at":T0,"batch":batch,"to":to})
}

fn receive(event: &str, actor: &str, batch: &str, mass: u64) -> Value {
    json!({"kind":"receive","id":event,"actor":actor,"log":LOG,"occurred_at":T0,"batch":batch,"mass_g":mass})
}

fn retire(event: &str, actor: &str, batch: &str) -> Value {
    json!({"kind":"retire","id":event,"actor":actor,"log":LOG,"occurred_at":T0,"batch":batch,"reason":"consumed"})
}

// ---------------------------------------------------------------------------------------------
// Happy paths

#[test]
fn happy_path_of_every_kind_mine_to_magnet_to_recycling() {
    let mut w = World::new();
    let mp = key(2);
    w.extract("ORE-1", 1_000_000);
    w.ok(
        &[&mp],
        transform(
            "t-ben",
            "mp",
            "beneficiation",
            &[("ORE-1", 1_000_000)],
            &[
                ("CONC-1", "concentrate", 100_000),
                ("TAIL-1", "scrap", 800_000),
            ],
        ),
    );
    w.ok(
        &[&mp],
        transform(
            "t-crack",
            "mp",
            "separation",
            &[("CONC-1", 100_000)],
            &[
                ("NDPR-OX-1", "oxide", 30_000),
                ("HREE-1", "mixed_compound", 5_000),
            ],
        ),
    );
    w.ok(
        &[&mp],
        transform(
            "t-red",
            "mp",
            "reduction",
            &[("NDPR-OX-1", 30_000)],
            &[("NDPR-M-1", "metal", 25_000)],
        ),
    );
    w.ok(
        &[&mp],
        json!({"kind":"transform","id":"t-alloy","actor":"mp","occurred_at":T0,"process":"alloying",
        "site":"fort-worth",
        "inputs":[{"batch":"NDPR-M-1","mass_g":25_000}],
        "outputs":[{"batch":"NDFEB-1","form":"alloy","mass_g":80_000,"elements":["Pr","Nd"]}],
        "additives":[{"material":"iron","mass_g":53_000},{"material":"boron","mass_g":2_000}]}),
    );
    w.ok(
        &[&mp],
        transform(
            "t-mag",
            "mp",
            "magnet_making",
            &[("NDFEB-1", 80_000)],
            &[("MAG-1", "magnet", 70_000), ("SWARF-1", "scrap", 9_000)],
        ),
    );
    w.ok(
        &[&mp],
        transform(
            "t-split",
            "mp",
            "split",
            &[("MAG-1", 70_000)],
            &[("MAG-1a", "magnet", 40_000), ("MAG-1b", "magnet", 30_000)],
        ),
    );
    assert_eq!(w.batch("MAG-1").status, BatchStatus::Consumed);

    w.ok(&[&mp], ship("s-1", "mp", "MAG-1a", "gm"));
    assert_eq!(
        w.batch("MAG-1a").status,
        BatchStatus::InTransit {
            to: id("gm"),
            shipped_g: Grams(40_000)
        }
    );
    w.ok(&[&key(3)], receive("r-1", "gm", "MAG-1a", 39_900));
    let mag = w.batch("MAG-1a");
    assert_eq!(
        (mag.custodian.as_str(), mag.remaining_g, mag.transit_loss_g),
        ("gm", Grams(39_900), Grams(100))
    );
    w.ok(
        &[&key(4)],
        json!({"kind":"certify","id":"c-1","actor":"lab","occurred_at":T0,"batch":"MAG-1a",
        "claim":"assay","statement":"NdFeB N52","document_sha256":"ab".repeat(32)}),
    );
    assert_eq!(w.batch("MAG-1a").certificates.len(), 1);
    w.ok(
        &[&key(3)],
        transform(
            "t-asm",
            "gm",
            "assembly",
            &[("MAG-1a", 39_900)],
            &[("MOTOR-1", "component", 500_000)],
        )
        .as_object()
        .cloned()
        .map(|mut o| {
            o.insert(
                "additives".into(),
                json!([{"material":"steel","mass_g":460_100}]),
            );
            Value::Object(o)
        })
        .unwrap(),
    );
    w.ok(
        &[&key(3)],
        transform(
            "t-asm2",
            "gm",
            "assembly",
            &[("MOTOR-1", 500_000)],
            &[("CAR-1", "product", 500_000)],
        ),
    );
    w.ok(&[&key(3)], ship("s-2", "gm", "CAR-1", "recycler"));
    w.ok(&[&key(6)], receive("r-2", "recycler", "CAR-1", 500_000));
    w.ok(
        &[&key(6)],
        transform(
            "t-rec",
            "recycler",
            "recycling",
            &[("CAR-1", 500_000)],
            &[("REC-OX-1", "oxide", 9_000)],
        ),
    );
    w.ok(&[&key(6)], retire("ret-1", "recycler", "REC-OX-1"));
    assert_eq!(
        w.batch("REC-OX-1").status,
        BatchStatus::Retired {
            reason: RetireReason::Consumed
        }
    );

    // Merge two scrap batches (same form), and cracking by a separator.
    w.ok(
        &[&mp],
        transform(
            "t-merge",
            "mp",
            "merge",
            &[("TAIL-1", 800_000), ("SWARF-1", 9_000)],
            &[("SCRAP-POOL", "scrap", 809_000)],
        ),
    );
    w.extract("ORE-2", 10_000);
    w.ok(
        &[&mp],
        transform(
            "t-split2",
            "mp",
            "split",
            &[("ORE-2", 10_000)],
            &[("ORE-2a", "ore", 10_000)],
        ),
    );
    assert_eq!(
        w.batch("ORE-2a").elements,
        w.batch("ORE-2").elements,
        "split inherits elements"
    );
    assert_eq!(w.batch("ORE-2a").elements.len(), 4);
    w.ok(
        &[&mp],
        transform(
            "t-ben2",
            "mp",
            "beneficiation",
            &[("ORE-2a", 10_000)],
            &[("CONC-2", "concentrate", 1_000)],
        ),
    );
    w.ok(
        &[&mp],
        transform(
            "t-crk",
            "mp",
            "cracking",
            &[("CONC-2", 1_000)],
            &[("MIX-2", "mixed_compound", 900)],
        ),
    );

    let oxide = w.batch("NDPR-M-1");
    assert_eq!(oxide.form, Form::Metal);
    assert_eq!(oxide.remaining_g, Grams(0));
    let BatchOrigin::Transformed {
        process, inputs, ..
    } = &oxide.origin
    else {
        panic!()
    };
    assert_eq!(
        (*process, inputs.clone()),
        (
            Process::Reduction,
            vec![(id::<BatchId>("NDPR-OX-1"), Grams(30_000))]
        )
    );
    assert_eq!(
        w.batch("ORE-1").children,
        vec![id::<BatchId>("CONC-1"), id("TAIL-1")]
    );
    assert_eq!(
        w.batch("MAG-1a").history.len(),
        5,
        "created, shipped, received, certified, assembled"
    );
}

#[test]
fn registry_happy_paths_update_and_revoke() {
    let mut w = World::new();
    w.ok(
        &[&key(1)],
        json!({"kind":"update_actor","id":"upd-1","actor":"authority","occurred_at":T0,
        "subject":"gm","name":"General Motors","roles":["manufacturer","recycler"],
        "add_sites":[{"id":"detroit","name":"Detroit","country":"US","kind":"plant"}],
        "add_public_keys":[b64(&key(30))]}),
    );
    let gm = w.state.actor(&id("gm")).unwrap().unwrap();
    assert_eq!(gm.name, "General Motors");
    assert_eq!(gm.keys.len(), 2);
    assert_eq!(gm.sites, vec![id("detroit")]);
    assert_eq!(
        w.state.site(&id("detroit")).unwrap().unwrap().owner,
        id::<ActorId>("gm")
    );
    // The added key works.
    w.extract("ORE-K", 10);
    w.ok(&[&key(2)], ship("sk", "mp", "ORE-K", "gm"));
    w.ok(&[&key(30)], receive("rk", "gm", "ORE-K", 10));
    let key_id = public(&key(3)).key_id();
    w.ok(
        &[&key(1)],
        json!({"kind":"revoke_key","id":"rev-1","actor":"authority","occurred_at":T0,
        "subject":"gm","key_id":key_id.to_string(),"reason":"rotated"}),
    );
    let gm = w.state.actor(&id("gm")).unwrap().unwrap();
    assert_eq!(gm.keys[0].revoked_at, Some(w.index - 1));
    assert_eq!(
        w.state.key(&key_id).unwrap().unwrap().revoked_at,
        Some(w.index - 1)
    );
    assert_eq!(gm.entries.len(), 3, "register, update, revoke");
}

// ---------------------------------------------------------------------------------------------
// Signatures and keys

#[test]
fn missing_or_foreign_signature_is_bad_signature() {
    let mut w = World::new();
    let e = w.err(&[], extract_event("e1", "B1", 10));
    assert_eq!(e, LedgerError::BadSignature { actor: id("mp") });
    assert_eq!(e.code(), "bad_signature");
    // Signed by another registered actor's key.
    let e = w.err(&[&key(3)], extract_event("e1", "B1", 10));
    assert_eq!(e.code(), "bad_signature");
    // Extra signatures do not hurt when the actor's own is there.
    w.ok(&[&key(3), &key(2)], extract_event("e1", "B1", 10));
}

#[test]
fn forged_signature_is_bad_signature() {
    // A signature made by another key but presented under the actor's key does not verify.
    let mut w = World::new();
    let bytes = serde_json::to_vec(&extract_event("e1", "B1", 10)).unwrap();
    let event = Event::from_json(&bytes).unwrap();
    let forged = Signed {
        signatures: vec![(public(&key(2)), key(9).sign(&bytes))],
        message: bytes.clone(),
    };
    let ctx = EntryContext {
        index: w.index,
        logged_at_ms: NOW_MS,
        envelope_digest: Hash([7; 32]),
    };
    let e = apply_to_mem(&mut w.state, &ctx, &event, &forged).unwrap_err();
    assert_eq!(e, LedgerError::BadSignature { actor: id("mp") });
    // A valid signature over other bytes does not count either.
    let other = Signed {
        signatures: vec![(public(&key(2)), key(2).sign(b"something else"))],
        message: bytes,
    };
    assert_eq!(
        apply_to_mem(&mut w.state, &ctx, &event, &other)
            .unwrap_err()
            .code(),
        "bad_signature"
    );
}

#[test]
fn revoked_key_no_longer_signs() {
    let mut w = World::new();
    w.ok(
        &[&key(1)],
        json!({"kind":"update_actor","id":"u","actor":"authority","occurred_at":T0,
        "subject":"mp","add_public_keys":[b64(&key(20))]}),
    );
    let old = public(&key(2)).key_id();
    w.ok(
        &[&key(1)],
        json!({"kind":"revoke_key","id":"r","actor":"authority","occurred_at":T0,
        "subject":"mp","key_id":old.to_string()}),
    );
    let revoked_at = w.index - 1;
    let e = w.err(&[&key(2)], extract_event("e1", "B1", 10));
    assert_eq!(
        e,
        LedgerError::RevokedKey {
            actor: id("mp"),
            key_id: old,
            revoked_at
        }
    );
    assert_eq!(e.code(), "revoked_key");
    w.ok(&[&key(20)], extract_event("e1", "B1", 10));
}

#[test]
fn revoke_rules() {
    let mut w = World::new();
    let gm_key = public(&key(3)).key_id();
    // The last live key cannot go.
    let e = w.err(
        &[&key(1)],
        json!({"kind":"revoke_key","id":"r","actor":"authority","occurred_at":T0,
        "subject":"gm","key_id":gm_key.to_string()}),
    );
    assert_eq!(
        e,
        LedgerError::InvalidEvent {
            reason: InvalidReason::LastLiveKey { actor: id("gm") }
        }
    );
    // A key of another actor is unknown for this subject.
    let e = w.err(
        &[&key(1)],
        json!({"kind":"revoke_key","id":"r","actor":"authority","occurred_at":T0,
        "subject":"mp","key_id":gm_key.to_string()}),
    );
    assert_eq!(
        e,
        LedgerError::UnknownKey {
            actor: id("mp"),
            key_id: gm_key
        }
    );
    // Only the authority revokes.
    let e = w.err(
        &[&key(2)],
        json!({"kind":"revoke_key","id":"r","actor":"mp","occurred_at":T0,
        "subject":"gm","key_id":gm_key.to_string()}),
    );
    assert_eq!(e.code(), "role_not_allowed");
}

#[test]
fn unknown_actor() {
    let mut w = World::new();
    let stranger = json!({"kind":"extract","id":"e1","actor":"nobody","occurred_at":T0,"site":"mountain-pass",
        "batch":"B1","form":"ore","mass_g":10});
    let e = w.err(&[&key(9)], stranger);
    assert_eq!(
        e,
        LedgerError::UnknownActor {
            actor: id("nobody")
        }
    );
    assert_eq!(e.code(), "unknown_actor");
    w.extract("B1", 10);
    assert_eq!(
        w.err(&[&key(2)], ship("s", "mp", "B1", "nobody")).code(),
        "unknown_actor"
    );
}

// ---------------------------------------------------------------------------------------------
// Registry

#[test]
fn registry_conflicts() {
    let mut w = World::new();
    let reg = |event: &str, subject: &str, site: &str, seed: u8| {
        json!({"kind":"register_actor","id":event,
        "actor":"authority","occurred_at":T0,"subject":subject,"name":"X","country":"JP","roles":["trader"],
        "sites":[{"id":site,"name":"S","country":"JP","kind":"plant"}],"public_keys":[b64(&key(seed))]})
    };
    assert_eq!(
        w.err(&[&key(1)], reg("r1", "gm", "new-site", 40)),
        LedgerError::ActorExists { actor: id("gm") }
    );
    assert_eq!(
        w.err(&[&key(1)], reg("r1", "newco", "fort-worth", 40)),
        LedgerError::SiteExists {
            site: id("fort-worth")
        }
    );
    assert_eq!(
        w.err(&[&key(1)], reg("r1", "newco", "new-site", 3)),
        LedgerError::KeyExists {
            key_id: public(&key(3)).key_id(),
            owner: id("gm")
        }
    );
    let mut by_mp = reg("r1", "newco", "new-site", 40);
    by_mp["actor"] = json!("mp");
    assert_eq!(w.err(&[&key(2)], by_mp).code(), "role_not_allowed");
    w.ok(&[&key(1)], reg("r1", "newco", "new-site", 40));
    let e = w.err(&[&key(1)], json!({"kind":"update_actor","id":"u","actor":"authority","occurred_at":T0,"subject":"newco"}));
    assert_eq!(
        e,
        LedgerError::InvalidEvent {
            reason: InvalidReason::NoChange
        }
    );
    let e = w.err(&[&key(1)], json!({"kind":"update_actor","id":"u","actor":"authority","occurred_at":T0,"subject":"ghost","name":"G"}));
    assert_eq!(e.code(), "unknown_actor");
}

// ---------------------------------------------------------------------------------------------
// Roles and sites

#[test]
fn role_not_allowed() {
    let mut w = World::new();
    // A manufacturer cannot extract.
    let e = w.err(
        &[&key(3)],
        json!({"kind":"extract","id":"e1","actor":"gm","occurred_at":T0,
        "site":"mountain-pass","batch":"B1","form":"ore","mass_g":10}),
    );
    assert!(
        matches!(&e, LedgerError::RoleNotAllowed { actor, action: "extract", .. } if actor.as_str() == "gm"),
        "{e}"
    );
    assert_eq!(e.code(), "role_not_allowed");
    // A certifier holds no material; mp cannot certify; gm cannot run separation.
    w.extract("B1", 10);
    assert!(matches!(
        w.err(&[&key(2)], ship("s", "mp", "B1", "lab")),
        LedgerError::RoleNotAllowed {
            action: "receive",
            ..
        }
    ));
    let e = w.err(
        &[&key(2)],
        json!({"kind":"certify","id":"c","actor":"mp","occurred_at":T0,"batch":"B1",
        "claim":"assay","statement":"self-assessed","document_sha256":"00".repeat(32)}),
    );
    assert!(matches!(
        e,
        LedgerError::RoleNotAllowed {
            action: "certify",
            ..
        }
    ));
    w.ok(&[&key(2)], ship("s", "mp", "B1", "gm"));
    w.ok(&[&key(3)], receive("r", "gm", "B1", 10));
    let e = w.err(
        &[&key(3)],
        transform(
            "t",
            "gm",
            "beneficiation",
            &[("B1", 10)],
            &[("C1", "concentrate", 1)],
        ),
    );
    assert!(matches!(
        e,
        LedgerError::RoleNotAllowed {
            action: "beneficiation",
            ..
        }
    ));
}

#[test]
fn foreign_site() {
    let mut w = World::new();
    let at = |site: &str| {
        json!({"kind":"extract","id":"e1","actor":"mp","occurred_at":T0,"site":site,
        "batch":"B1","form":"ore","mass_g":10})
    };
    let e = w.err(&[&key(2)], at("other-mine"));
    assert_eq!(
        e,
        LedgerError::ForeignSite {
            actor: id("mp"),
            site: id("other-mine"),
            problem: SiteProblem::OwnedBy(id("other-miner"))
        }
    );
    assert_eq!(e.code(), "foreign_site");
    assert!(matches!(
        w.err(&[&key(2)], at("atlantis")),
        LedgerError::ForeignSite {
            problem: SiteProblem::Unknown,
            ..
        }
    ));
    assert!(matches!(
        w.err(&[&key(2)], at("fort-worth")),
        LedgerError::ForeignSite {
            problem: SiteProblem::NotAMine(_),
            ..
        }
    ));
    // A transform's optional site must be the actor's too.
    w.extract("B1", 10);
    let mut t = transform(
        "t",
        "mp",
        "beneficiation",
        &[("B1", 10)],
        &[("C1", "concentrate", 1)],
    );
    t["site"] = json!("other-mine");
    assert_eq!(w.err(&[&key(2)], t).code(), "foreign_site");
}

// ---------------------------------------------------------------------------------------------
// Custody, status and mass

#[test]
fn double_spend() {
    let mut w = World::new();
    w.extract("B1", 100);
    w.ok(
        &[&key(2)],
        transform("t1", "mp", "split", &[("B1", 100)], &[("B2", "ore", 100)]),
    );
    let e = w.err(
        &[&key(2)],
        transform("t2", "mp", "split", &[("B1", 1)], &[("B3", "ore", 1)]),
    );
    assert_eq!(
        e,
        LedgerError::DoubleSpend {
            batch: id("B1"),
            remaining_g: Grams(0),
            requested_g: 1
        }
    );
    assert_eq!(e.code(), "double_spend");
    // The same input twice in one transform.
    let e = w.err(
        &[&key(2)],
        transform(
            "t3",
            "mp",
            "merge",
            &[("B2", 10), ("B2", 10)],
            &[("B4", "ore", 20)],
        ),
    );
    assert_eq!(
        e,
        LedgerError::DoubleSpend {
            batch: id("B2"),
            remaining_g: Grams(100),
            requested_g: 20
        }
    );
}

#[test]
fn insufficient_mass() {
    let mut w = World::new();
    w.extract("B1", 100);
    let e = w.err(
        &[&key(2)],
        transform("t", "mp", "split", &[("B1", 101)], &[("B2", "ore", 50)]),
    );
    assert_eq!(
        e,
        LedgerError::InsufficientMass {
            batch: id("B1"),
            remaining_g: Grams(100),
            requested_g: Grams(101)
        }
    );
    assert_eq!(e.code(), "insufficient_mass");
}

#[test]
fn mass_imbalance() {
    let mut w = World::new();
    w.extract("B1", 100);
    let e = w.err(
        &[&key(2)],
        transform(
            "t",
            "mp",
            "split",
            &[("B1", 100)],
            &[("B2", "ore", 60), ("B3", "ore", 41)],
        ),
    );
    assert_eq!(
        e,
        LedgerError::MassImbalance {
            inputs_g: 100,
            additives_g: 0,
            outputs_g: 101
        }
    );
    assert_eq!(e.code(), "mass_imbalance");
    // Additives count.
    w.ok(
        &[&key(2)],
        transform(
            "t",
            "mp",
            "beneficiation",
            &[("B1", 100)],
            &[("C1", "concentrate", 100)],
        ),
    );
    let mut t = transform(
        "t2",
        "mp",
        "cracking",
        &[("C1", 100)],
        &[("M1", "mixed_compound", 150)],
    );
    t["additives"] = json!([{"material":"sulfuric-acid","mass_g":49}]);
    assert_eq!(w.err(&[&key(2)], t.clone()).code(), "mass_imbalance");
    t["additives"] = json!([{"material":"sulfuric-acid","mass_g":50}]);
    w.ok(&[&key(2)], t);
}

#[test]
fn invalid_transition() {
    let mut w = World::new();
    w.extract("B1", 100);
    let e = w.err(
        &[&key(2)],
        transform(
            "t",
            "mp",
            "reduction",
            &[("B1", 100)],
            &[("M1", "metal", 10)],
        ),
    );
    assert_eq!(
        e,
        LedgerError::InvalidTransition {
            process: Process::Reduction,
            batch: id("B1"),
            form: Form::Ore,
            side: Side::Input,
            allowed: vec![Form::Oxide]
        }
    );
    assert_eq!(e.code(), "invalid_transition");
    let e = w.err(
        &[&key(2)],
        transform(
            "t",
            "mp",
            "beneficiation",
            &[("B1", 100)],
            &[("M1", "magnet", 10)],
        ),
    );
    assert!(matches!(
        e,
        LedgerError::InvalidTransition {
            side: Side::Output,
            form: Form::Magnet,
            ..
        }
    ));
    // Split keeps the form.
    let e = w.err(
        &[&key(2)],
        transform(
            "t",
            "mp",
            "split",
            &[("B1", 100)],
            &[("M1", "concentrate", 10)],
        ),
    );
    assert!(matches!(
        e,
        LedgerError::InvalidTransition {
            process: Process::Split,
            side: Side::Output,
            ..
        }
    ));
    // Extract makes only early forms.
    let mut ex = extract_event("e", "X1", 5);
    ex["form"] = json!("magnet");
    assert_eq!(
        w.err(&[&key(2)], ex),
        LedgerError::ExtractForm {
            batch: id("X1"),
            form: Form::Magnet
        }
    );
}

#[test]
fn not_custodian() {
    let mut w = World::new();
    w.extract("B1", 100);
    w.ok(
        &[&key(1)],
        json!({"kind":"update_actor","id":"u","actor":"authority","occurred_at":T0,
        "subject":"gm","roles":["manufacturer","trader"]}),
    );
    let e = w.err(
        &[&key(3)],
        transform("t", "gm", "split", &[("B1", 10)], &[("B2", "ore", 10)]),
    );
    assert_eq!(
        e,
        LedgerError::NotCustodian {
            batch: id("B1"),
            custodian: id("mp"),
            actor: id("gm")
        }
    );
    assert_eq!(e.code(), "not_custodian");
    assert_eq!(
        w.err(&[&key(3)], ship("s", "gm", "B1", "trader")).code(),
        "not_custodian"
    );
    assert_eq!(
        w.err(&[&key(3)], retire("r", "gm", "B1")).code(),
        "not_custodian"
    );
}

#[test]
fn receive_by_wrong_actor_or_too_much() {
    let mut w = World::new();
    w.extract("B1", 100);
    w.ok(&[&key(2)], ship("s", "mp", "B1", "gm"));
    let e = w.err(&[&key(7)], receive("r", "trader", "B1", 100));
    assert_eq!(
        e,
        LedgerError::NotAddressee {
            batch: id("B1"),
            addressee: id("gm"),
            actor: id("trader")
        }
    );
    assert_eq!(e.code(), "not_addressee");
    let e = w.err(&[&key(3)], receive("r", "gm", "B1", 101));
    assert_eq!(
        e,
        LedgerError::ReceivedTooMuch {
            batch: id("B1"),
            shipped_g: Grams(100),
            received_g: Grams(101)
        }
    );
    assert_eq!(e.code(), "received_too_much");
    w.ok(&[&key(3)], receive("r", "gm", "B1", 100));
    assert_eq!(
        w.err(&[&key(3)], receive("r2", "gm", "B1", 1)),
        LedgerError::NotInTransit { batch: id("B1") }
    );
}

#[test]
fn batch_in_transit_or_retired_cannot_be_used() {
    let mut w = World::new();
    w.extract("B1", 100);
    w.ok(&[&key(2)], ship("s", "mp", "B1", "gm"));
    let e = w.err(
        &[&key(2)],
        transform("t", "mp", "split", &[("B1", 10)], &[("B2", "ore", 10)]),
    );
    assert_eq!(
        e,
        LedgerError::InTransit {
            batch: id("B1"),
            to: id("gm")
        }
    );
    assert_eq!(e.code(), "in_transit");
    assert_eq!(
        w.err(&[&key(2)], ship("s2", "mp", "B1", "trader")).code(),
        "in_transit"
    );
    assert_eq!(
        w.err(&[&key(3)], retire("r", "gm", "B1")).code(),
        "in_transit"
    );

    w.extract("B9", 100);
    w.ok(&[&key(2)], retire("ret", "mp", "B9"));
    let e = w.err(
        &[&key(2)],
        transform("t", "mp", "split", &[("B9", 10)], &[("B2", "ore", 10)]),
    );
    assert_eq!(
        e,
        LedgerError::Retired {
            batch: id("B9"),
            reason: RetireReason::Consumed
        }
    );
    assert_eq!(e.code(), "retired");
    assert_eq!(
        w.err(&[&key(2)], ship("s3", "mp", "B9", "gm")).code(),
        "retired"
    );
    // Certifying a retired batch is fine: claims may come late.
    w.ok(
        &[&key(4)],
        json!({"kind":"certify","id":"c","actor":"lab","occurred_at":T0,"batch":"B9",
        "claim":"esg_audit","statement":"ok","document_sha256":"00".repeat(32)}),
    );
}

#[test]
fn unknown_and_existing_batches() {
    let mut w = World::new();
    w.extract("B1", 100);
    assert_eq!(
        w.err(&[&key(2)], extract_event("e2", "B1", 5)),
        LedgerError::BatchExists { batch: id("B1") }
    );
    let e = w.err(
        &[&key(2)],
        transform("t", "mp", "split", &[("B1", 10)], &[("B1", "ore", 10)]),
    );
    assert_eq!(e.code(), "batch_exists");
    let e = w.err(&[&key(2)], ship("s", "mp", "NOPE", "gm"));
    assert_eq!(e, LedgerError::UnknownBatch { batch: id("NOPE") });
    assert_eq!(e.code(), "unknown_batch");
}

#[test]
fn self_inconsistent_events_are_invalid() {
    let mut w = World::new();
    w.extract("B1", 100);
    let cases = [
        (
            transform("t", "mp", "split", &[], &[("B2", "ore", 1)]),
            InvalidReason::NoInputs,
        ),
        (
            transform("t", "mp", "split", &[("B1", 1)], &[]),
            InvalidReason::NoOutputs,
        ),
        (
            transform("t", "mp", "split", &[("B1", 0)], &[("B2", "ore", 1)]),
            InvalidReason::ZeroMass { batch: id("B1") },
        ),
        (
            transform("t", "mp", "split", &[("B1", 2)], &[("B2", "ore", 0)]),
            InvalidReason::ZeroMass { batch: id("B2") },
        ),
        (
            transform(
                "t",
                "mp",
                "split",
                &[("B1", 2)],
                &[("B2", "ore", 1), ("B2", "ore", 1)],
            ),
            InvalidReason::DuplicateOutput { batch: id("B2") },
        ),
        (
            extract_event("e", "B5", 0),
            InvalidReason::ZeroMass { batch: id("B5") },
        ),
        (ship("s", "mp", "B1", "mp"), InvalidReason::ShipToSelf),
    ];
    for (event, reason) in cases {
        let e = w.err(&[&key(2)], event);
        assert_eq!(e, LedgerError::InvalidEvent { reason }, "{e}");
        assert_eq!(e.code(), "invalid_event");
    }
}

// ---------------------------------------------------------------------------------------------
// Ids and times

#[test]
fn reused_id_conflict_vs_identical_duplicate() {
    let mut w = World::new();
    w.extract("B1", 100);
    let index = w.index - 1;
    // The byte-identical event again (same envelope digest): duplicate, with the original index.
    let e = w.err(&[&key(2)], extract_event("ex-B1", "B1", 100));
    assert_eq!(
        e,
        LedgerError::Duplicate {
            event: id("ex-B1"),
            index
        }
    );
    assert_eq!(e.code(), "duplicate");
    // Other content under the same id: conflict.
    let e = w.err(&[&key(2)], extract_event("ex-B1", "B2", 100));
    assert_eq!(
        e,
        LedgerError::Conflict {
            event: id("ex-B1"),
            index
        }
    );
    assert_eq!(e.code(), "conflict");
}

#[test]
fn future_event_and_before_inputs() {
    let mut w = World::new();
    let mut ex = extract_event("e1", "B1", 10);
    ex["occurred_at"] = json!("2026-03-02T00:05:00.001Z"); // log time + 5 min + 1 ms
    let e = w.err(&[&key(2)], ex.clone());
    assert!(
        matches!(
            &e,
            LedgerError::FutureEvent {
                logged_at_ms: NOW_MS,
                skew_ms: 300_000,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), "future_event");
    ex["occurred_at"] = json!("2026-03-02T00:05:00Z"); // exactly at the skew limit
    w.ok(&[&key(2)], ex);

    let mut t = transform("t", "mp", "split", &[("B1", 10)], &[("B2", "ore", 10)]);
    t["occurred_at"] = json!("2026-03-02T00:04:59Z");
    let e = w.err(&[&key(2)], t);
    assert_eq!(e.code(), "before_inputs");
    let LedgerError::BeforeInputs {
        batch,
        last_event_at,
        ..
    } = e
    else {
        panic!()
    };
    assert_eq!(
        (batch.as_str(), last_event_at.as_str()),
        ("B1", "2026-03-02T00:05:00Z")
    );
    let mut s = ship("s", "mp", "B1", "gm");
    s["occurred_at"] = json!(T0);
    assert_eq!(w.err(&[&key(2)], s).code(), "before_inputs");
}

#[test]
fn genesis_only_at_entry_zero() {
    let mut w = World {
        state: MemState::new(),
        index: 0,
    };
    let e = w.err(&[&key(2)], extract_event("e1", "B1", 10));
    assert_eq!(
        e,
        LedgerError::NotGenesis {
            index: 0,
            kind: "extract"
        }
    );
    assert_eq!(e.code(), "not_genesis");
    let genesis = json!({"kind":"genesis","id":"genesis","actor":"authority","occurred_at":"2026-01-01T00:00:00Z",
        "origin":"o","name":"Registry","country":"CH","public_key":b64(&key(1))});
    // Genesis must be signed by the key it names.
    assert_eq!(w.err(&[&key(2)], genesis.clone()).code(), "bad_signature");
    w.ok(&[&key(1)], genesis);
    let g = w.state.genesis().unwrap().unwrap();
    assert_eq!(
        (g.origin.as_str(), g.authority.as_str(), g.index),
        ("o", "authority", 0)
    );
    let again = json!({"kind":"genesis","id":"genesis-2","actor":"authority","occurred_at":"2026-01-01T00:00:00Z",
        "origin":"o","name":"Registry","country":"CH","public_key":b64(&key(1))});
    let e = w.err(&[&key(1)], again);
    assert_eq!(e.code(), "genesis_exists");
}

// ---------------------------------------------------------------------------------------------
// Overlays

#[test]
fn rejected_event_leaves_the_overlay_unchanged() {
    let mut w = World::new();
    w.extract("B1", 100);
    let base = w.state.clone();
    let mut overlay = Overlay::new(&base);
    let sign = |event: &Value| {
        let bytes = serde_json::to_vec(event).unwrap();
        let signed = Signed {
            signatures: vec![(public(&key(2)), key(2).sign(&bytes))],
            message: bytes.clone(),
        };
        (
            Event::from_json(&bytes).unwrap(),
            signed,
            Hash(Sha256::digest(&bytes).into()),
        )
    };
    let ctx = |index, digest| EntryContext {
        index,
        logged_at_ms: NOW_MS,
        envelope_digest: digest,
    };

    // A good event, staged.
    let (good, sigs, digest) = sign(&transform(
        "t1",
        "mp",
        "split",
        &[("B1", 60)],
        &[("B2", "ore", 60)],
    ));
    apply(&mut overlay, &ctx(w.index, digest), &good, &sigs).unwrap();
    let staged = overlay.changes().clone();
    assert_eq!(staged.batches.len(), 2);
    assert_eq!(staged.events.len(), 1);

    // A bad one that fails late (mass balance, after its inputs were loaded and checked).
    let (bad, sigs, digest) = sign(&transform(
        "t2",
        "mp",
        "merge",
        &[("B1", 40), ("B2", 60)],
        &[("B3", "ore", 101)],
    ));
    let e = apply(&mut overlay, &ctx(w.index + 1, digest), &bad, &sigs).unwrap_err();
    assert_eq!(e.code(), "mass_imbalance");
    assert_eq!(overlay.changes(), &staged);

    // The overlay reads its own writes: the next event sees B2.
    let (next, sigs, digest) = sign(&ship("s1", "mp", "B2", "gm"));
    apply(&mut overlay, &ctx(w.index + 1, digest), &next, &sigs).unwrap();
    let changes = overlay.into_changes();
    assert_eq!(
        changes.batches[&id::<BatchId>("B2")].status,
        BatchStatus::InTransit {
            to: id("gm"),
            shipped_g: Grams(60)
        }
    );
    assert_eq!(base, w.state, "the base is never written");
}

#[test]
fn every_code_is_listed_and_documented() {
    let doc = include_str!("../docs/MODEL.md");
    let mut seen = std::collections::BTreeSet::new();
    for code in LedgerError::CODES {
        assert!(seen.insert(code), "{code} listed twice");
        assert!(
            doc.contains(&format!("`{code}`")),
            "docs/MODEL.md does not mention `{code}`"
        );
    }
}
