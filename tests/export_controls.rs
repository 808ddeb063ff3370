//! Export controls as ledger events (issue 17, docs/COMPLIANCE.md "Export controls"): control
//! rules with dates and suspensions, licences on `ship`, quotas on extract and separation. Each
//! test breaks one rule and checks the exact problem code, that a refused event changes nothing,
//! and the licence and quota arithmetic worked out by hand. Real Ed25519 signatures.

use ed25519_dalek::{Signer as _, SigningKey};
use lodestone::ledger::{apply_to_mem, EntryContext, LedgerError, MemState, StateView};
use lodestone::log::Hash;
use lodestone::model::event::Event;
use lodestone::model::ids::{ActorId, CountryCode, EventId, Grams};
use lodestone::model::keys::PublicKey;
use lodestone::model::material::QuotaStage;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// 2026-11-30T00:00:00Z: the log time of every entry.
const NOW_MS: u64 = 1_796_083_200_000;
const LOG: &str = "lodestone.test/controls";

use crate::common::{seed_key as key, Signed};

fn b64(k: &SigningKey) -> String {
    PublicKey::new(k.verifying_key()).to_base64()
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// Actors: the registry (CH), MOFCOM (licensing authority of CN), a Chinese producer with a mine
/// and a plant (`nre`), a Japanese and a Chinese buyer, and MOFCOM's US counterpart.
struct World {
    state: MemState,
    index: u64,
}

const AUTHORITY: u8 = 1;
const MOFCOM: u8 = 2;
const NRE: u8 = 3;
const BIS: u8 = 6;

impl World {
    fn new() -> World {
        let mut w = World {
            state: MemState::new(),
            index: 0,
        };
        w.ok(
            AUTHORITY,
            json!({"kind":"genesis","id":"genesis","actor":"authority","occurred_at":"2025-01-01T00:00:00Z",
                   "origin":LOG,"name":"Registry","country":"CH","public_key":b64(&key(1)),"backfill_days":3650}),
        );
        w.register(
            "mofcom",
            "CN",
            &["licensing_authority"],
            MOFCOM,
            json!([]),
            &[],
        );
        w.register(
            "nre",
            "CN",
            &["miner", "separator", "metallizer", "magnet_maker"],
            NRE,
            json!([{"id":"bayan-obo","name":"Bayan Obo","country":"CN","kind":"mine"},
                   {"id":"baotou","name":"Baotou plant","country":"CN","kind":"plant"}]),
            &["NRE-"],
        );
        w.register("tdk", "JP", &["manufacturer"], 4, json!([]), &[]);
        w.register("cn-buyer", "CN", &["manufacturer"], 5, json!([]), &[]);
        w.register("bis", "US", &["licensing_authority"], BIS, json!([]), &[]);
        w
    }

    fn register(
        &mut self,
        who: &str,
        country: &str,
        roles: &[&str],
        seed: u8,
        sites: Value,
        prefixes: &[&str],
    ) {
        self.ok(
            AUTHORITY,
            json!({"kind":"register_actor","id":format!("reg-{who}"),"actor":"authority","occurred_at":"2025-01-01T00:00:00Z",
                   "subject":who,"name":who,"country":country,"roles":roles,"sites":sites,
                   "public_keys":[b64(&key(seed))],"prefixes":prefixes}),
        );
    }

    fn submit(&mut self, signer: u8, mut event: Value) -> Result<(), LedgerError> {
        if event["kind"] != "genesis" {
            event["log"] = json!(LOG);
        }
        let bytes = serde_json::to_vec(&event).unwrap();
        let parsed = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{e}: {event}"));
        let k = key(signer);
        let signed = Signed {
            signatures: vec![(PublicKey::new(k.verifying_key()), k.sign(&bytes))],
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
            Err(_) => assert_eq!(self.state, before, "a refused event changed the state"),
        }
        result
    }

    fn ok(&mut self, signer: u8, event: Value) {
        if let Err(e) = self.submit(signer, event.clone()) {
            panic!("refused ({}): {e}\n{event}", e.code());
        }
    }

    fn code(&mut self, signer: u8, event: Value) -> &'static str {
        match self.submit(signer, event.clone()) {
            Ok(()) => panic!("accepted but should be refused: {event}"),
            Err(e) => e.code(),
        }
    }

    /// MOFCOM/GAC Announcement No. 18 of 2025, in force from 2025-04-04.
    fn announcement_18(&mut self) {
        self.ok(
            MOFCOM,
            json!({"kind":"publish_controls","id":"pub-18","actor":"mofcom","occurred_at":"2025-04-04T00:00:00Z",
                   "rule":"mofcom-gac-2025-18","jurisdiction":"CN",
                   "source":"MOFCOM/GAC Announcement No. 18 of 2025",
                   "elements":["Sm","Gd","Tb","Dy","Lu","Sc","Y"],
                   "forms":["mixed_compound","oxide","metal","alloy"],
                   "magnet_elements":["Tb","Dy","Sm"],
                   "effective_from":"2025-04-04T00:00:00Z"}),
        );
    }

    /// A heat-resistant NdFeB magnet with Dy, made by `nre` in Baotou from its own ore, dated
    /// `at` (every step at the same instant).
    fn magnet(&mut self, tag: &str, at: &str, mass: u64) -> String {
        let (ore, oxide, metal, magnet) = (
            format!("NRE-MIX-{tag}"),
            format!("NRE-OX-{tag}"),
            format!("NRE-MET-{tag}"),
            format!("NRE-MAG-{tag}"),
        );
        self.ok(
            NRE,
            json!({"kind":"extract","id":format!("ex-{tag}"),"actor":"nre","occurred_at":at,"site":"bayan-obo",
                   "batch":ore,"form":"mixed_compound","mass_g":mass,"composition":{"Nd":mass/2,"Dy":mass/20}}),
        );
        let step = |process: &str, input: &str, output: &str, form: &str| {
            json!({"kind":"transform","id":format!("{process}-{tag}"),"actor":"nre","occurred_at":at,
                   "process":process,"site":"baotou","inputs":[{"batch":input,"mass_g":mass}],
                   "outputs":[{"batch":output,"form":form,"mass_g":mass,"elements":["Nd","Dy"]}]})
        };
        self.ok(NRE, step("separation", &ore, &oxide, "oxide"));
        self.ok(NRE, step("reduction", &oxide, &metal, "metal"));
        self.ok(NRE, step("magnet_making", &metal, &magnet, "magnet"));
        magnet
    }

    fn licence(&self, l: &str) -> lodestone::ledger::LicenceRecord {
        self.state.licence(&id::<EventId>(l)).unwrap().unwrap()
    }
}

fn ship(event: &str, batch: &str, to: &str, at: &str, licence: Option<&str>) -> Value {
    let mut v =
        json!({"kind":"ship","id":event,"actor":"nre","occurred_at":at,"batch":batch,"to":to});
    if let Some(l) = licence {
        v["licence"] = json!(l);
    }
    v
}

fn issue(event: &str, licence: &str, quantity: u64, from: &str, until: &str) -> Value {
    json!({"kind":"issue_licence","id":event,"actor":"mofcom","occurred_at":"2025-06-01T00:00:00Z",
           "licence":licence,"exporter":"nre","consignee":"tdk","destination":"JP",
           "elements":["Dy","Tb"],"quantity_g":quantity,"valid_from":from,"valid_until":until,
           "end_use":"traction motors for passenger cars"})
}

#[test]
fn only_a_licensing_authority_of_the_country_publishes_its_rules() {
    let mut w = World::new();
    let rule = |actor: &str, jurisdiction: &str| {
        json!({"kind":"publish_controls","id":"p","actor":actor,"occurred_at":"2025-04-04T00:00:00Z",
               "rule":"r-1","jurisdiction":jurisdiction,"source":"s","elements":["Dy"],"forms":["oxide"],
               "effective_from":"2025-04-04T00:00:00Z"})
    };
    assert_eq!(w.code(NRE, rule("nre", "CN")), "role_not_allowed");
    assert_eq!(w.code(BIS, rule("bis", "CN")), "foreign_jurisdiction");
    w.ok(MOFCOM, rule("mofcom", "CN"));
    let mut again = rule("mofcom", "CN");
    again["id"] = json!("p2");
    assert_eq!(w.code(MOFCOM, again), "rule_exists");
    let book = w.state.controls(&id::<CountryCode>("CN")).unwrap().unwrap();
    assert_eq!(book.rules.len(), 1);
    assert_eq!(book.rules[0].issuer.as_str(), "mofcom");
    // A suspension of a rule nobody published.
    assert_eq!(
        w.code(
            MOFCOM,
            json!({"kind":"suspend_controls","id":"s","actor":"mofcom","occurred_at":"2025-11-07T00:00:00Z",
                   "jurisdiction":"CN","rule":"nope","from":"2025-11-07T00:00:00Z","source":"x"})
        ),
        "unknown_rule"
    );
}

#[test]
fn a_controlled_magnet_leaves_china_only_under_a_licence_that_covers_it() {
    let mut w = World::new();
    w.announcement_18();
    let at = "2025-07-01T00:00:00Z";
    let m1 = w.magnet("1", at, 3_000);
    // No licence: refused, nothing written (World checks the state is unchanged).
    assert_eq!(
        w.code(NRE, ship("s1", &m1, "tdk", at, None)),
        "export_licence_required"
    );
    // A domestic sale needs none.
    let m2 = w.magnet("2", at, 1_000);
    w.ok(NRE, ship("s2", &m2, "cn-buyer", at, None));

    // Licence for 5,000 g, 2025-06-01 to 2026-06-01.
    w.ok(
        MOFCOM,
        issue(
            "i1",
            "LIC-1",
            5_000,
            "2025-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        ),
    );
    assert_eq!(
        w.code(
            MOFCOM,
            issue(
                "i1b",
                "LIC-1",
                1,
                "2025-06-01T00:00:00Z",
                "2026-06-01T00:00:00Z"
            )
        ),
        "licence_exists"
    );
    // An unknown licence, and one naming another consignee.
    assert_eq!(
        w.code(NRE, ship("s1", &m1, "tdk", at, Some("LIC-X"))),
        "unknown_licence"
    );
    assert_eq!(
        w.code(NRE, ship("s1", &m1, "cn-buyer", at, Some("LIC-1"))),
        "licence_mismatch"
    );
    // 5,000 − 3,000 = 2,000 g left.
    w.ok(NRE, ship("s1", &m1, "tdk", at, Some("LIC-1")));
    let lic = w.licence("LIC-1");
    assert_eq!(lic.remaining_g, Grams(2_000));
    assert_eq!(lic.uses.len(), 1);
    assert_eq!(lic.uses[0].mass_g, Grams(3_000));
    // A 2,500 g magnet does not fit in the 2,000 g left.
    let m3 = w.magnet("3", at, 2_500);
    assert_eq!(
        w.code(NRE, ship("s3", &m3, "tdk", at, Some("LIC-1"))),
        "licence_exhausted"
    );
    // After 2026-06-01 the licence has expired.
    let late = "2026-06-02T00:00:00Z";
    let m4 = w.magnet("4", late, 1_000);
    assert_eq!(
        w.code(NRE, ship("s4", &m4, "tdk", late, Some("LIC-1"))),
        "licence_expired"
    );
    // A 2,000 g magnet uses the rest exactly: 2,000 − 2,000 = 0.
    let m5 = w.magnet("5", at, 2_000);
    w.ok(NRE, ship("s5", &m5, "tdk", at, Some("LIC-1")));
    assert_eq!(w.licence("LIC-1").remaining_g, Grams(0));
}

#[test]
fn a_licence_must_cover_the_controlled_elements_and_can_be_revoked_by_its_issuer_only() {
    let mut w = World::new();
    w.announcement_18();
    let at = "2025-07-01T00:00:00Z";
    let mut narrow = issue(
        "i1",
        "LIC-SM",
        10_000,
        "2025-06-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    );
    narrow["elements"] = json!(["Sm"]);
    w.ok(MOFCOM, narrow);
    let m1 = w.magnet("1", at, 1_000);
    assert_eq!(
        w.code(NRE, ship("s1", &m1, "tdk", at, Some("LIC-SM"))),
        "licence_mismatch"
    );

    w.ok(
        MOFCOM,
        issue(
            "i2",
            "LIC-2",
            10_000,
            "2025-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        ),
    );
    let revoke = json!({"kind":"revoke_licence","id":"r1","actor":"bis","occurred_at":"2025-07-01T00:00:00Z",
                        "licence":"LIC-2","reason":"not ours"});
    assert_eq!(w.code(BIS, revoke), "not_issuer");
    w.ok(
        MOFCOM,
        json!({"kind":"revoke_licence","id":"r1","actor":"mofcom","occurred_at":"2025-07-01T00:00:00Z",
               "licence":"LIC-2","reason":"end use not confirmed"}),
    );
    assert_eq!(
        w.code(NRE, ship("s1", &m1, "tdk", at, Some("LIC-2"))),
        "licence_revoked"
    );
    assert_eq!(w.licence("LIC-2").remaining_g, Grams(10_000));
}

#[test]
fn each_shipment_is_judged_under_the_rules_in_force_on_its_date() {
    let mut w = World::new();
    w.announcement_18();
    // Before 2025-04-04 no rule was in force: shipped without a licence.
    let before = "2025-04-03T23:59:59Z";
    let m0 = w.magnet("0", before, 1_000);
    w.ok(NRE, ship("s0", &m0, "tdk", before, None));
    // Suspended from 2025-11-07 until 2026-11-10 (a test suspension of No. 18 itself).
    w.ok(
        MOFCOM,
        json!({"kind":"suspend_controls","id":"susp","actor":"mofcom","occurred_at":"2025-11-05T00:00:00Z",
               "jurisdiction":"CN","rule":"mofcom-gac-2025-18","from":"2025-11-07T00:00:00Z",
               "until":"2026-11-10T00:00:00Z","source":"test suspension"}),
    );
    let during = "2026-01-15T00:00:00Z";
    let m1 = w.magnet("1", during, 1_000);
    w.ok(NRE, ship("s1", &m1, "tdk", during, None));
    // On 2026-11-10 the suspension has ended (`until` is exclusive).
    let after = "2026-11-10T00:00:00Z";
    let m2 = w.magnet("2", after, 1_000);
    assert_eq!(
        w.code(NRE, ship("s2", &m2, "tdk", after, None)),
        "export_licence_required"
    );
    // A magnet without Tb, Dy or Sm is not controlled.
    w.ok(
        NRE,
        json!({"kind":"extract","id":"ex-nd","actor":"nre","occurred_at":after,"site":"bayan-obo",
               "batch":"NRE-MIX-ND","form":"mixed_compound","mass_g":100,"composition":{"Nd":50}}),
    );
    w.ok(NRE, ship("s3", "NRE-MIX-ND", "tdk", after, None));
}

#[test]
fn mining_quota_counts_reo_equivalent_grams_and_refuses_what_goes_over() {
    let mut w = World::new();
    let quota = |actor: &str, subject: &str, stage: &str, q: u64| {
        json!({"kind":"set_quota","id":format!("q-{stage}-{q}"),"actor":actor,"occurred_at":"2026-01-01T00:00:00Z",
               "subject":subject,"stage":stage,"year":2026,"quota_g":q,"source":"MIIT/MNR 2026 first batch"})
    };
    assert_eq!(
        w.code(BIS, quota("bis", "nre", "mining", 1_000)),
        "foreign_jurisdiction"
    );
    w.ok(MOFCOM, quota("mofcom", "nre", "mining", 1_000));
    let extract = |tag: &str, nd: u64, at: &str| {
        json!({"kind":"extract","id":format!("ex-{tag}"),"actor":"nre","occurred_at":at,"site":"bayan-obo",
               "batch":format!("NRE-ORE-{tag}"),"form":"ore","mass_g":10_000,"composition":{"Nd":nd}})
    };
    // Nd → Nd₂O₃ is ×1.1664: 500 g Nd = ⌈583.2⌉ = 584 g REO.
    w.ok(NRE, extract("a", 500, "2026-02-01T00:00:00Z"));
    // 400 g Nd = ⌈466.56⌉ = 467 g; 584 + 467 = 1,051 > 1,000: refused.
    assert_eq!(
        w.code(NRE, extract("b", 400, "2026-02-02T00:00:00Z")),
        "quota_exceeded"
    );
    // 300 g Nd = ⌈349.92⌉ = 350 g; 584 + 350 = 934 ≤ 1,000.
    w.ok(NRE, extract("c", 300, "2026-02-03T00:00:00Z"));
    // Another year has no quota set: no limit.
    w.ok(NRE, extract("d", 5_000, "2025-12-31T23:59:59Z"));
    let book = w.state.quotas(&id::<ActorId>("nre")).unwrap().unwrap();
    let q = book.get(QuotaStage::Mining, 2026).unwrap();
    assert_eq!((q.quota_g, q.used_g), (Grams(1_000), Grams(934)));
    assert_eq!(q.used_in.len(), 2);
    // Raising the quota keeps what was used: 934 + 467 = 1,401 ≤ 1,500.
    w.ok(MOFCOM, quota("mofcom", "nre", "mining", 1_500));
    w.ok(NRE, extract("b", 400, "2026-02-04T00:00:00Z"));
    let book = w.state.quotas(&id::<ActorId>("nre")).unwrap().unwrap();
    assert_eq!(
        book.get(QuotaStage::Mining, 2026).unwrap().used_g,
        Grams(1_401)
    );
}

#[test]
fn separation_quota_counts_the_product_and_refuses_what_goes_over() {
    let mut w = World::new();
    w.ok(
        MOFCOM,
        json!({"kind":"set_quota","id":"q","actor":"mofcom","occurred_at":"2026-01-01T00:00:00Z",
               "subject":"nre","stage":"separation","year":2026,"quota_g":1_500}),
    );
    let at = "2026-03-01T00:00:00Z";
    w.ok(
        NRE,
        json!({"kind":"extract","id":"ex","actor":"nre","occurred_at":at,"site":"bayan-obo",
               "batch":"NRE-MIX-1","form":"mixed_compound","mass_g":3_000}),
    );
    let separate = |tag: &str, oxide: u64, scrap: u64| {
        json!({"kind":"transform","id":format!("sep-{tag}"),"actor":"nre","occurred_at":at,"process":"separation",
               "inputs":[{"batch":"NRE-MIX-1","mass_g":oxide+scrap}],
               "outputs":[{"batch":format!("NRE-OX-{tag}"),"form":"oxide","mass_g":oxide},
                          {"batch":format!("NRE-SCRAP-{tag}"),"form":"scrap","mass_g":scrap}]})
    };
    // 1,000 g of oxide (scrap does not count): 1,000 ≤ 1,500.
    w.ok(NRE, separate("a", 1_000, 200));
    // 1,000 + 600 = 1,600 > 1,500: refused, and NRE-MIX-1 keeps its mass.
    assert_eq!(w.code(NRE, separate("b", 600, 100)), "quota_exceeded");
    assert_eq!(
        w.state
            .batch(&id("NRE-MIX-1"))
            .unwrap()
            .unwrap()
            .remaining_g,
        Grams(1_800)
    );
    // 1,000 + 500 = 1,500: exactly the quota.
    w.ok(NRE, separate("c", 500, 100));
    let book = w.state.quotas(&id::<ActorId>("nre")).unwrap().unwrap();
    assert_eq!(
        book.get(QuotaStage::Separation, 2026).unwrap().used_g,
        Grams(1_500)
    );
}

#[test]
fn new_kinds_parse_strictly() {
    // Each bad payload differs from a good one in one place only.
    let good = r#"{"kind":"set_quota","id":"q","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","subject":"nre","stage":"mining","year":2026,"quota_g":1}"#;
    assert!(Event::from_json(good.as_bytes()).is_ok());
    for bad in [
        // Unknown field.
        r#"{"kind":"set_quota","id":"q","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","subject":"nre","stage":"mining","year":2026,"quota_g":1,"extra":1}"#,
        // Unknown stage.
        r#"{"kind":"set_quota","id":"q","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","subject":"nre","stage":"refining","year":2026,"quota_g":1}"#,
        // A licence that ends before it starts.
        r#"{"kind":"issue_licence","id":"i","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","licence":"L","exporter":"nre","consignee":"tdk","destination":"JP","elements":["Dy"],"quantity_g":1,"valid_from":"2026-02-01T00:00:00Z","valid_until":"2026-01-01T00:00:00Z","end_use":"x"}"#,
        // A rule with no elements.
        r#"{"kind":"publish_controls","id":"p","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","rule":"r","jurisdiction":"CN","source":"s","elements":[],"effective_from":"2026-01-01T00:00:00Z"}"#,
        // A ship citing a licence as a number.
        r#"{"kind":"ship","id":"s","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","batch":"B","to":"tdk","licence":7}"#,
    ] {
        assert!(Event::from_json(bad.as_bytes()).is_err(), "{bad}");
    }
    // A ship without `licence` serialises exactly as before the field existed.
    let old = r#"{"kind":"ship","id":"s","actor":"mofcom","log":"l","occurred_at":"2026-01-01T00:00:00Z","batch":"B","to":"tdk"}"#;
    let e = Event::from_json(old.as_bytes()).unwrap();
    assert_eq!(e.to_json(), old.as_bytes());
}

/// A Japanese magnet with Chinese dysprosium: 40 g of Dy mined at Bayan Obo (CN) and 600 g of
/// Nd from Mount Weld (AU) in a 1,000 g magnet made in Japan; and a 100 kg magnet with 1 g of
/// Chinese Dy. The built-in `cn-mofcom-61` on dates before, during and after the suspension.
#[test]
fn the_point_one_percent_rule_before_during_and_after_its_suspension() {
    use lodestone::audit::compliance::{analyze, builtin, evaluate, Outcome};
    let mut w = World::new();
    w.register(
        "lynas",
        "AU",
        &["miner"],
        7,
        json!([{"id":"mount-weld","name":"Mount Weld","country":"AU","kind":"mine"}]),
        &["LY-"],
    );
    w.register(
        "shin-etsu",
        "JP",
        &["separator", "metallizer", "magnet_maker"],
        8,
        json!([{"id":"takefu","name":"Takefu","country":"JP","kind":"plant"}]),
        &["SE-"],
    );
    let at = "2025-03-01T00:00:00Z";
    let events: Vec<(u8, Value)> = vec![
        (
            NRE,
            json!({"kind":"extract","id":"ex-dy","actor":"nre","site":"bayan-obo",
               "batch":"NRE-DY","form":"mixed_compound","mass_g":1_000,"composition":{"Dy":500}}),
        ),
        (
            NRE,
            json!({"kind":"transform","id":"sep-dy","actor":"nre","process":"separation",
               "inputs":[{"batch":"NRE-DY","mass_g":1_000}],
               "outputs":[{"batch":"NRE-DY-OX","form":"oxide","mass_g":100,"composition":{"Dy":80}}]}),
        ),
        (
            NRE,
            json!({"kind":"ship","id":"ship-dy","actor":"nre","batch":"NRE-DY-OX","to":"shin-etsu"}),
        ),
        (
            8,
            json!({"kind":"receive","id":"rcv-dy","actor":"shin-etsu","batch":"NRE-DY-OX","mass_g":100}),
        ),
        (
            7,
            json!({"kind":"extract","id":"ex-nd","actor":"lynas","site":"mount-weld",
               "batch":"LY-ND","form":"mixed_compound","mass_g":1_000,"composition":{"Nd":600}}),
        ),
        (
            7,
            json!({"kind":"ship","id":"ship-nd","actor":"lynas","batch":"LY-ND","to":"shin-etsu"}),
        ),
        (
            8,
            json!({"kind":"receive","id":"rcv-nd","actor":"shin-etsu","batch":"LY-ND","mass_g":1_000}),
        ),
        (
            8,
            json!({"kind":"transform","id":"sep-nd","actor":"shin-etsu","process":"separation","site":"takefu",
               "inputs":[{"batch":"LY-ND","mass_g":1_000}],
               "outputs":[{"batch":"SE-ND-OX","form":"oxide","mass_g":700,"composition":{"Nd":600}}]}),
        ),
        (
            8,
            json!({"kind":"transform","id":"red-nd","actor":"shin-etsu","process":"reduction","site":"takefu",
               "inputs":[{"batch":"SE-ND-OX","mass_g":700}],
               "outputs":[{"batch":"SE-ND-MET","form":"metal","mass_g":600,"composition":{"Nd":600}}]}),
        ),
        // 50 g of the oxide hold 50 × 80 / 100 = 40 g of Dy.
        (
            8,
            json!({"kind":"transform","id":"red-dy","actor":"shin-etsu","process":"reduction","site":"takefu",
               "inputs":[{"batch":"NRE-DY-OX","mass_g":50}],
               "outputs":[{"batch":"SE-DY-MET","form":"metal","mass_g":41,"composition":{"Dy":40}}]}),
        ),
        // 600 + 41 + 350 + 9 = 1,000 g.
        (
            8,
            json!({"kind":"transform","id":"mag","actor":"shin-etsu","process":"magnet_making","site":"takefu",
               "inputs":[{"batch":"SE-ND-MET","mass_g":600},{"batch":"SE-DY-MET","mass_g":41}],
               "additives":[{"material":"iron","mass_g":350},{"material":"boron","mass_g":9}],
               "outputs":[{"batch":"SE-MAG-1","form":"magnet","mass_g":1_000,"composition":{"Nd":600,"Dy":40}}]}),
        ),
        // 2 g of the oxide hold 1.6 g of Dy: the metal declares 1 g.
        (
            8,
            json!({"kind":"transform","id":"red-dy2","actor":"shin-etsu","process":"reduction","site":"takefu",
               "inputs":[{"batch":"NRE-DY-OX","mass_g":2}],
               "outputs":[{"batch":"SE-DY-MET-2","form":"metal","mass_g":2,"composition":{"Dy":1}}]}),
        ),
        (
            8,
            json!({"kind":"transform","id":"mag-big","actor":"shin-etsu","process":"magnet_making","site":"takefu",
               "inputs":[{"batch":"SE-DY-MET-2","mass_g":2}],
               "additives":[{"material":"iron","mass_g":99_998}],
               "outputs":[{"batch":"SE-MAG-BIG","form":"magnet","mass_g":100_000,"composition":{"Dy":1}}]}),
        ),
    ];
    for (signer, mut event) in events {
        event["occurred_at"] = json!(at);
        w.ok(signer, event);
    }
    let verdict = |batch: &str, day: &str| {
        let mut policy = builtin("cn-mofcom-61").unwrap();
        policy.at = Some(id(&format!("{day}T00:00:00Z")));
        let analysis = analyze(&w.state, &id(batch), 1_000).unwrap();
        evaluate(&policy, &analysis)
    };
    // Before No. 61 (issued 2025-10-09).
    let v = verdict("SE-MAG-1", "2025-10-01");
    assert_eq!(
        (v.verdict, v.finding),
        (Outcome::Pass, Some("not_in_force"))
    );
    // In force, before the suspension, at the 2025 prices: 40 g × 350.00 USD/kg = 14.00 USD in
    // an item worth 1,000 g × 60.00 USD/kg = 60.00 USD: 14 / 60 = 23.333% ≥ 0.1%.
    let v = verdict("SE-MAG-1", "2025-10-20");
    assert_eq!(
        (v.verdict, v.finding),
        (Outcome::Fail, Some("licence_needed"))
    );
    let text = &v.reasons[0].message;
    assert!(
        text.contains("14.00 USD") && text.contains("60.00 USD") && text.contains("23.333%"),
        "{text}"
    );
    // Suspended by No. 70 from 2025-11-07 until 2026-11-10.
    let v = verdict("SE-MAG-1", "2026-06-01");
    assert_eq!((v.verdict, v.finding), (Outcome::Pass, Some("suspended")));
    assert!(
        v.reasons[0].message.contains("Announcement No. 70"),
        "{:?}",
        v.reasons
    );
    // After the suspension, at the 2026 prices: 40 g × 400.00 USD/kg = 16.00 USD of an item worth
    // 1,000 g × 65.00 USD/kg = 65.00 USD: 24.615%.
    let v = verdict("SE-MAG-1", "2026-12-01");
    assert_eq!(
        (v.verdict, v.finding),
        (Outcome::Fail, Some("licence_needed"))
    );
    let text = &v.reasons[0].message;
    assert!(
        text.contains("16.00 USD") && text.contains("65.00 USD") && text.contains("24.615%"),
        "{text}"
    );
    assert!(
        v.reasons.iter().any(|r| r
            .message
            .starts_with("Dy: 40 g from CN × 400.00 USD/kg = 16.00 USD")),
        "{:?}",
        v.reasons
    );
    // 1 g × 400.00 USD/kg = 0.40 USD in 100,000 g × 65.00 USD/kg = 6,500.00 USD: 0.006% < 0.1%.
    let v = verdict("SE-MAG-BIG", "2026-12-01");
    assert_eq!((v.verdict, v.finding), (Outcome::Pass, Some("not_needed")));
    let text = &v.reasons[0].message;
    assert!(
        text.contains("0.40 USD") && text.contains("6500.00 USD") && text.contains("0.006%"),
        "{text}"
    );
    // Without a date the dated rule cannot tell.
    let mut undated = builtin("cn-mofcom-61").unwrap();
    undated.at = None;
    let analysis = analyze(&w.state, &id("SE-MAG-1"), 1_000).unwrap();
    assert_eq!(evaluate(&undated, &analysis).verdict, Outcome::CannotTell);

    // Once MOFCOM publishes the rule in the log, the log's rule governs: here a 30 % threshold
    // (300 per mille) without the policy file's suspension. On 2026-06-01 (suspended by the
    // file's copy) it is in force: 24.615 % < 30 %, no licence needed; the reason names the
    // published rule and its entry.
    let published_in = w.index;
    w.ok(
        MOFCOM,
        json!({"kind":"publish_controls","id":"pub-61","actor":"mofcom","occurred_at":at,
               "rule":"mofcom-2025-61","jurisdiction":"CN",
               "source":"MOFCOM Announcement No. 61 of 2025 (as published here)",
               "elements":["Sm","Eu","Gd","Tb","Dy","Ho","Er","Tm","Yb","Lu","Sc","Y"],
               "value_threshold_per_mille":300,
               "effective_from":"2025-10-09T00:00:00Z"}),
    );
    let v = mofcom_verdict(&w.state, "SE-MAG-1", "2026-06-01");
    assert_eq!((v.verdict, v.finding), (Outcome::Pass, Some("not_needed")));
    assert!(v.reasons[0].message.contains("24.615%"), "{:?}", v.reasons);
    let named = v
        .reasons
        .iter()
        .find(|r| {
            r.message
                .starts_with("rule `mofcom-2025-61` as CN published it in this log")
        })
        .unwrap_or_else(|| panic!("{:?}", v.reasons));
    assert_eq!(named.entry, Some(published_in));
    // A suspension published in the log from 2026-11-20 governs too.
    let suspended_in = w.index;
    w.ok(
        MOFCOM,
        json!({"kind":"suspend_controls","id":"susp-61","actor":"mofcom","occurred_at":at,
               "jurisdiction":"CN","rule":"mofcom-2025-61","from":"2026-11-20T00:00:00Z",
               "source":"a later announcement"}),
    );
    let v = mofcom_verdict(&w.state, "SE-MAG-1", "2026-12-01");
    assert_eq!((v.verdict, v.finding), (Outcome::Pass, Some("suspended")));
    assert!(
        v.reasons[0]
            .message
            .contains(&format!("a later announcement (entry {suspended_in})")),
        "{:?}",
        v.reasons
    );
    // Before it, the published threshold still decides: 24.615 % < 30 %.
    let v = mofcom_verdict(&w.state, "SE-MAG-1", "2026-11-15");
    assert_eq!((v.verdict, v.finding), (Outcome::Pass, Some("not_needed")));
}

/// `cn-mofcom-61` on `batch` evaluated on `day`.
fn mofcom_verdict(
    state: &MemState,
    batch: &str,
    day: &str,
) -> lodestone::audit::compliance::Verdict {
    use lodestone::audit::compliance::{analyze, builtin, evaluate};
    let mut policy = builtin("cn-mofcom-61").unwrap();
    policy.at = Some(id(&format!("{day}T00:00:00Z")));
    evaluate(&policy, &analyze(state, &id(batch), 1_000).unwrap())
}
