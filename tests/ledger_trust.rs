//! The rules that keep hostile participants in their lane (issue 10, DESIGN.md §3): an event is
//! valid on one log only (`wrong_log`), identifiers belong to their actors (`foreign_prefix`,
//! `prefix_taken`, event ids per actor), time adds up (`before_inputs`, `before_registration`),
//! nothing is revealed before authentication, and mass sums are exact. Real Ed25519 signatures,
//! the real state machine, the state checked unchanged after every refusal.

use ed25519_dalek::{Signer as _, SigningKey};
use lodestone::ledger::{
    apply_to_mem, EntryContext, InvalidReason, LedgerError, MemState, Signatures, StateView,
};
use lodestone::log::Hash;
use lodestone::model::event::Event;
use lodestone::model::ids::Grams;
use lodestone::model::keys::PublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// 2026-03-02T00:00:00Z: the log time of every entry.
const NOW_MS: u64 = 1_772_409_600_000;
/// When the authority registers everyone (genesis is a day earlier).
const REGISTERED: &str = "2026-03-01T00:00:00Z";
const T0: &str = "2026-03-01T08:00:00Z";
const LOG: &str = "ledger-a.example/ree";
const MAX: u64 = u64::MAX;

struct Signed {
    message: Vec<u8>,
    signers: Vec<(PublicKey, [u8; 64])>,
}

impl Signatures for Signed {
    fn signed_by(&self, key: &PublicKey) -> bool {
        self.signers
            .iter()
            .any(|(k, sig)| k == key && key.verify(&self.message, sig))
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn b64(k: &SigningKey) -> String {
    PublicKey::new(k.verifying_key()).to_base64()
}

struct Ledger {
    state: MemState,
    index: u64,
}

impl Ledger {
    /// Genesis naming `origin` (with `extra` genesis fields), then `mp` (miner and separator,
    /// prefix `MP-`, key 2), `gm` (manufacturer, `GM-`, key 3) and `lab` (certifier, key 4).
    fn new(origin: &str, extra: Value) -> Ledger {
        let mut genesis = json!({"kind":"genesis","id":"genesis","actor":"authority",
            "occurred_at":"2026-02-28T00:00:00Z","origin":origin,"name":"Registry","country":"CH",
            "public_key":b64(&key(1))});
        if let (Some(g), Value::Object(extra)) = (genesis.as_object_mut(), extra) {
            g.extend(extra);
        }
        let mut l = Ledger {
            state: MemState::new(),
            index: 0,
        };
        l.ok(&key(1), genesis);
        let sites =
            json!([{"id":"mountain-pass","name":"Mountain Pass","country":"US","kind":"mine"}]);
        l.ok(
            &key(1),
            register("mp", &["miner", "separator"], 2, sites, &["MP-"], origin),
        );
        l.ok(
            &key(1),
            register("gm", &["manufacturer"], 3, json!([]), &["GM-"], origin),
        );
        l.ok(
            &key(1),
            register("lab", &["certifier"], 4, json!([]), &[], origin),
        );
        l
    }

    /// Applies `payload` as the next entry, signed by `signers`.
    fn submit_signed(
        &mut self,
        signers: &[&SigningKey],
        payload: &[u8],
    ) -> Result<(), LedgerError> {
        let event = Event::from_json(payload).unwrap_or_else(|e| panic!("{e}"));
        let signed = Signed {
            message: payload.to_vec(),
            signers: signers
                .iter()
                .map(|k| {
                    (
                        PublicKey::new(k.verifying_key()),
                        k.sign(payload).to_bytes(),
                    )
                })
                .collect(),
        };
        let ctx = EntryContext {
            index: self.index,
            logged_at_ms: NOW_MS,
            envelope_digest: Hash(Sha256::digest(payload).into()),
        };
        let before = self.state.clone();
        let result = apply_to_mem(&mut self.state, &ctx, &event, &signed);
        match &result {
            Ok(()) => self.index += 1,
            Err(_) => assert_eq!(self.state, before, "a refused event changed the state"),
        }
        result
    }

    fn submit(&mut self, signer: &SigningKey, event: &Value) -> Result<(), LedgerError> {
        self.submit_signed(&[signer], &serde_json::to_vec(event).unwrap())
    }

    #[track_caller]
    fn ok(&mut self, signer: &SigningKey, event: Value) {
        if let Err(e) = self.submit(signer, &event) {
            panic!("refused ({}): {e}\n{event}", e.code());
        }
    }

    #[track_caller]
    fn err(&mut self, signer: &SigningKey, event: Value) -> LedgerError {
        match self.submit(signer, &event) {
            Ok(()) => panic!("accepted but should be refused: {event}"),
            Err(e) => e,
        }
    }
}

fn register(
    who: &str,
    roles: &[&str],
    seed: u8,
    sites: Value,
    prefixes: &[&str],
    log: &str,
) -> Value {
    json!({"kind":"register_actor","id":format!("reg-{who}"),"actor":"authority","log":log,
        "occurred_at":REGISTERED,"subject":who,"name":who,"country":"US","roles":roles,
        "sites":sites,"public_keys":[b64(&key(seed))],"prefixes":prefixes})
}

fn extract(id: &str, batch: &str, mass: u64) -> Value {
    json!({"kind":"extract","id":id,"actor":"mp","log":LOG,"occurred_at":T0,
        "site":"mountain-pass","batch":batch,"form":"ore","mass_g":mass})
}

fn transform(id: &str, process: &str, inputs: &[(&str, u64)], outputs: &[(&str, u64)]) -> Value {
    json!({"kind":"transform","id":id,"actor":"mp","log":LOG,"occurred_at":T0,"process":process,
        "inputs": inputs.iter().map(|(b, m)| json!({"batch":b,"mass_g":m})).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|(b, m)| json!({"batch":b,"form":"ore","mass_g":m})).collect::<Vec<_>>()})
}

fn at(mut event: Value, time: &str) -> Value {
    event["occurred_at"] = json!(time);
    event
}

#[test]
fn an_envelope_is_valid_on_the_log_it_names_only() {
    let mut a = Ledger::new(LOG, json!({}));
    let mut b = Ledger::new("ledger-b.example/ree", json!({}));
    // The same actor and key are registered on both ledgers; mp signs one extract for A.
    let payload = serde_json::to_vec(&extract("x-1", "MP-ORE-1", 100)).unwrap();
    a.submit_signed(&[&key(2)], &payload).unwrap();
    let e = b.submit_signed(&[&key(2)], &payload).unwrap_err();
    assert_eq!(e.code(), "wrong_log");
    assert_eq!(
        e,
        LedgerError::WrongLog {
            log: LOG.into(),
            expected: "ledger-b.example/ree".into()
        }
    );
    // The log is checked before anything else about the event: even an unsigned one is told.
    let e = b.submit_signed(&[], &payload).unwrap_err();
    assert_eq!(e.code(), "wrong_log");
}

#[test]
fn batches_carry_their_creators_prefix() {
    let mut l = Ledger::new(LOG, json!({}));
    let e = l.err(&key(2), extract("x-1", "GM-ORE-1", 100));
    assert_eq!(
        e,
        LedgerError::ForeignPrefix {
            actor: "mp".parse().unwrap(),
            batch: "GM-ORE-1".parse().unwrap(),
            prefixes: vec!["MP-".parse().unwrap()],
        }
    );
    // A prefix is a plain string prefix: `MP` alone or `mp-` do not match `MP-`.
    assert_eq!(
        l.err(&key(2), extract("x-2", "MPX-1", 1)).code(),
        "foreign_prefix"
    );
    assert_eq!(
        l.err(&key(2), extract("x-3", "mp-1", 1)).code(),
        "foreign_prefix"
    );
    l.ok(&key(2), extract("x-4", "MP-ORE-1", 100));
    // Transform outputs too, before the output is looked up.
    let e = l.err(
        &key(2),
        transform(
            "t-1",
            "split",
            &[("MP-ORE-1", 100)],
            &[("MP-A", 50), ("GM-B", 50)],
        ),
    );
    assert_eq!(e.code(), "foreign_prefix");
    // An actor without prefixes creates nothing; an update gives it one.
    let sites = json!([{"id":"gm-mine","name":"GM mine","country":"US","kind":"mine"}]);
    l.ok(&key(1), register("newco", &["miner"], 5, sites, &[], LOG));
    let newco = |id: &str, batch: &str| {
        json!({"kind":"extract","id":id,"actor":"newco","log":LOG,"occurred_at":T0,
            "site":"gm-mine","batch":batch,"form":"ore","mass_g":1})
    };
    let e = l.err(&key(5), newco("n-1", "NEW-1"));
    assert!(matches!(&e, LedgerError::ForeignPrefix { prefixes, .. } if prefixes.is_empty()));
    l.ok(
        &key(1),
        json!({"kind":"update_actor","id":"upd-newco","actor":"authority","log":LOG,
            "occurred_at":T0,"subject":"newco","add_prefixes":["NEW-"]}),
    );
    l.ok(&key(5), newco("n-1", "NEW-1"));
    let newco_record = l.state.actor(&"newco".parse().unwrap()).unwrap().unwrap();
    assert_eq!(newco_record.prefixes, vec!["NEW-".parse().unwrap()]);
}

#[test]
fn no_registered_prefix_starts_another() {
    let mut l = Ledger::new(LOG, json!({}));
    // Each registration its own key (a key belongs to one actor).
    let reg = |who: &str, prefixes: &[&str]| {
        let bytes = who.bytes().chain(prefixes.concat().into_bytes());
        let seed = 10 + (bytes.map(u32::from).sum::<u32>() % 200) as u8;
        register(who, &["trader"], seed, json!([]), prefixes, LOG)
    };
    let taken = |prefix: &str| LedgerError::PrefixTaken {
        prefix: prefix.parse().unwrap(),
        owner: "mp".parse().unwrap(),
    };
    // Equal, longer (starts with MP-) and shorter (MP- starts with it): all taken.
    assert_eq!(l.err(&key(1), reg("t1", &["MP-"])), taken("MP-"));
    assert_eq!(l.err(&key(1), reg("t1", &["MP-MAG-"])), taken("MP-MAG-"));
    assert_eq!(l.err(&key(1), reg("t1", &["MP"])), taken("MP"));
    assert_eq!(l.err(&key(1), reg("t1", &["M"])), taken("M"));
    // Neither starts the other: fine, and the shared beginning `M` stays free of owners.
    l.ok(&key(1), reg("t1", &["MX-"]));
    assert_eq!(l.err(&key(1), reg("t2", &["M"])).code(), "prefix_taken");
    // Within one event.
    let e = l.err(&key(1), reg("t3", &["TR-", "TR-A-"]));
    assert_eq!(
        e,
        LedgerError::InvalidEvent {
            reason: InvalidReason::OverlappingPrefixes {
                prefix: "TR-A-".parse().unwrap(),
                other: "TR-".parse().unwrap(),
            }
        }
    );
    // update_actor is held to the same rule, for the actor's own prefixes too.
    let update = |prefix: &str| {
        json!({"kind":"update_actor","id":format!("upd-{prefix}"),"actor":"authority","log":LOG,
            "occurred_at":T0,"subject":"mp","add_prefixes":[prefix]})
    };
    assert_eq!(l.err(&key(1), update("GM-X")).code(), "prefix_taken");
    assert_eq!(l.err(&key(1), update("MP-MAG-")).code(), "prefix_taken");
    l.ok(&key(1), update("MPM-"));
}

#[test]
fn event_ids_are_unique_per_actor() {
    let mut l = Ledger::new(LOG, json!({}));
    l.ok(&key(2), extract("ev-1", "MP-ORE-1", 100));
    // Another actor may use the same id: it is not mp's.
    l.ok(
        &key(4),
        json!({"kind":"certify","id":"ev-1","actor":"lab","log":LOG,"occurred_at":T0,
            "batch":"MP-ORE-1","claim":"assay","statement":"ok","document_sha256":"ab".repeat(32)}),
    );
    // The same actor reusing it for other content is a conflict; the same bytes a duplicate.
    let e = l.err(&key(2), extract("ev-1", "MP-ORE-2", 100));
    assert_eq!(e.code(), "conflict");
    let e = l.err(&key(2), extract("ev-1", "MP-ORE-1", 100));
    assert!(matches!(e, LedgerError::Duplicate { index: 4, .. }), "{e}");
    let lab = l
        .state
        .event(&"lab".parse().unwrap(), &"ev-1".parse().unwrap());
    assert_eq!(lab.unwrap().unwrap().index, 5);
}

#[test]
fn nothing_is_revealed_before_authentication() {
    let mut l = Ledger::new(LOG, json!({}));
    l.ok(&key(2), extract("ev-1", "MP-ORE-1", 100));
    let stranger = key(66);
    // Reusing mp's event id, naming an existing batch, an unknown batch, a taken output:
    // without mp's signature every one of them is `bad_signature`, nothing else.
    let probes = [
        extract("ev-1", "MP-ORE-9", 1),
        extract("ev-1", "MP-ORE-1", 100),
        extract("ev-2", "MP-ORE-1", 1),
        transform("ev-3", "split", &[("NO-SUCH", 1)], &[("MP-X", 1)]),
        transform("ev-4", "split", &[("MP-ORE-1", 101)], &[("MP-X", 1)]),
        json!({"kind":"ship","id":"ev-5","actor":"mp","log":LOG,"occurred_at":T0,
            "batch":"GM-SECRET","to":"gm"}),
    ];
    for probe in &probes {
        for signers in [vec![], vec![&stranger], vec![&key(3)]] {
            let payload = serde_json::to_vec(probe).unwrap();
            let e = l.submit_signed(&signers, &payload).unwrap_err();
            assert_eq!(
                e,
                LedgerError::BadSignature {
                    actor: "mp".parse().unwrap()
                },
                "{probe}"
            );
        }
    }
    // With mp's signature the same probes get the rule that applies.
    let codes: Vec<&str> = probes
        .iter()
        .map(|p| l.submit(&key(2), p).unwrap_err().code())
        .collect();
    assert_eq!(
        codes,
        [
            "conflict",
            "duplicate",
            "batch_exists",
            "unknown_batch",
            "insufficient_mass",
            "unknown_batch"
        ]
    );
}

#[test]
fn no_event_precedes_the_latest_event_of_the_batches_it_uses() {
    let mut l = Ledger::new(LOG, json!({}));
    l.ok(
        &key(2),
        at(extract("x", "MP-ORE-1", 100), "2026-03-01T08:00:00Z"),
    );
    let ship = json!({"kind":"ship","id":"s","actor":"mp","log":LOG,
        "occurred_at":"2026-03-01T10:00:00Z","batch":"MP-ORE-1","to":"gm"});
    l.ok(&key(2), ship);
    // Received before it was shipped (but after it was created): refused.
    let receive = |time: &str| {
        json!({"kind":"receive","id":format!("r-{time}"),"actor":"gm","log":LOG,
            "occurred_at":time,"batch":"MP-ORE-1","mass_g":100})
    };
    let e = l.err(&key(3), receive("2026-03-01T09:00:00Z"));
    assert_eq!(
        e,
        LedgerError::BeforeInputs {
            batch: "MP-ORE-1".parse().unwrap(),
            last_event_at: "2026-03-01T10:00:00Z".parse().unwrap(),
            occurred_at: "2026-03-01T09:00:00Z".parse().unwrap(),
        }
    );
    l.ok(&key(3), receive("2026-03-01T10:00:00Z"));
    // A certificate must not precede the receive either, but it does not move the batch.
    let certify = |id: &str, time: &str| {
        json!({"kind":"certify","id":id,"actor":"lab","log":LOG,"occurred_at":time,
            "batch":"MP-ORE-1","claim":"assay","statement":"ok","document_sha256":"ab".repeat(32)})
    };
    assert_eq!(
        l.err(&key(4), certify("c-0", "2026-03-01T09:59:59Z"))
            .code(),
        "before_inputs"
    );
    l.ok(&key(4), certify("c-1", "2026-03-01T23:00:00Z"));
    let batch = l
        .state
        .batch(&"MP-ORE-1".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(batch.last_event_at.as_str(), "2026-03-01T10:00:00Z");
    // gm ships it back; mp's transform must come after the receive.
    l.ok(
        &key(3),
        json!({"kind":"ship","id":"s2","actor":"gm","log":LOG,"occurred_at":"2026-03-01T11:00:00Z",
            "batch":"MP-ORE-1","to":"mp"}),
    );
    l.ok(
        &key(2),
        json!({"kind":"receive","id":"r2","actor":"mp","log":LOG,
            "occurred_at":"2026-03-01T12:00:00Z","batch":"MP-ORE-1","mass_g":100}),
    );
    let split = transform("t", "split", &[("MP-ORE-1", 100)], &[("MP-ORE-2", 100)]);
    let e = l.err(&key(2), at(split.clone(), "2026-03-01T11:30:00Z"));
    assert_eq!(e.code(), "before_inputs");
    l.ok(&key(2), at(split, "2026-03-01T12:00:00Z"));
    let out = l
        .state
        .batch(&"MP-ORE-2".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(out.last_event_at.as_str(), "2026-03-01T12:00:00Z");
}

#[test]
fn no_event_is_dated_before_its_signers_registration_minus_the_backfill_window() {
    // Default window: 90 days before 2026-03-01 is 2025-12-01.
    let mut l = Ledger::new(LOG, json!({}));
    let e = l.err(
        &key(2),
        at(extract("x-1", "MP-1", 1), "2025-11-30T23:59:59Z"),
    );
    assert_eq!(
        e,
        LedgerError::BeforeRegistration {
            actor: "mp".parse().unwrap(),
            occurred_at: "2025-11-30T23:59:59Z".parse().unwrap(),
            registered_at: REGISTERED.parse().unwrap(),
            backfill_days: 90,
        }
    );
    l.ok(
        &key(2),
        at(extract("x-2", "MP-2", 1), "2025-12-01T00:00:00Z"),
    );
    // 1970 is refused whatever the batches.
    assert_eq!(
        l.err(
            &key(2),
            at(extract("x-3", "MP-3", 1), "1970-01-01T00:00:00Z")
        )
        .code(),
        "before_registration"
    );
    // The authority is bound by its own registration: genesis.
    let early = json!({"kind":"register_actor","id":"reg-early","actor":"authority","log":LOG,
        "occurred_at":"2025-01-01T00:00:00Z","subject":"early","name":"E","country":"US",
        "roles":["trader"],"public_keys":[b64(&key(7))]});
    assert_eq!(l.err(&key(1), early).code(), "before_registration");

    // A window fixed at genesis: 0 days means nothing before registration.
    let mut strict = Ledger::new(LOG, json!({"backfill_days": 0}));
    assert_eq!(strict.state.genesis().unwrap().unwrap().backfill_days, 0);
    let e = strict.err(
        &key(2),
        at(extract("x-1", "MP-1", 1), "2026-02-28T23:59:59.999Z"),
    );
    assert_eq!(e.code(), "before_registration");
    strict.ok(&key(2), at(extract("x-2", "MP-2", 1), REGISTERED));
}

#[test]
fn mass_sums_are_exact() {
    let mut l = Ledger::new(LOG, json!({}));
    l.ok(&key(2), extract("x-1", "MP-A", MAX));
    l.ok(&key(2), extract("x-2", "MP-B", MAX));
    // Outputs past what one total may hold: refused as documented, with the exact sum.
    let e = l.err(
        &key(2),
        json!({"kind":"transform","id":"t-1","actor":"mp","log":LOG,"occurred_at":T0,
            "process":"beneficiation",
            "inputs":[{"batch":"MP-A","mass_g":MAX},{"batch":"MP-B","mass_g":MAX}],
            "outputs":[{"batch":"MP-C","form":"concentrate","mass_g":MAX},
                       {"batch":"MP-D","form":"scrap","mass_g":MAX}]}),
    );
    assert_eq!(
        e,
        LedgerError::InvalidEvent {
            reason: InvalidReason::MassOverflow {
                what: "outputs",
                total_g: 2 * u128::from(MAX),
            }
        }
    );
    // The balance is decided on exact values: one gram more than the inputs is an imbalance,
    // reported with sums past 2^64.
    let e = l.err(
        &key(2),
        json!({"kind":"transform","id":"t-2","actor":"mp","log":LOG,"occurred_at":T0,
            "process":"separation","inputs":[{"batch":"MP-A","mass_g":MAX}],
            "outputs":[{"batch":"MP-OX","form":"oxide","mass_g":MAX},
                       {"batch":"MP-OX2","form":"oxide","mass_g":1}]}),
    );
    assert_eq!(e.code(), "invalid_transition"); // ore cannot be separated: forms come first
    let e = l.err(
        &key(2),
        transform(
            "t-3",
            "split",
            &[("MP-A", MAX)],
            &[("MP-C", MAX), ("MP-D", 1)],
        ),
    );
    assert_eq!(
        e,
        LedgerError::MassImbalance {
            inputs_g: u128::from(MAX),
            additives_g: 0,
            outputs_g: u128::from(MAX) + 1,
        }
    );
    // A merge of two u64::MAX batches into one u64::MAX batch: accepted, both inputs used up.
    l.ok(
        &key(2),
        transform(
            "t-4",
            "merge",
            &[("MP-A", MAX), ("MP-B", MAX)],
            &[("MP-C", MAX)],
        ),
    );
    let c = l.state.batch(&"MP-C".parse().unwrap()).unwrap().unwrap();
    assert_eq!(c.created_g, Grams(MAX));
    for input in ["MP-A", "MP-B"] {
        let b = l.state.batch(&input.parse().unwrap()).unwrap().unwrap();
        assert_eq!(b.remaining_g, Grams::ZERO, "{input}");
    }
}
