//! The seed scenario replays cleanly through the real ledger rules with real signatures, and the
//! origin shares of its featured batches equal values computed by hand from its masses.

use ed25519_dalek::SigningKey;
use lodestone::audit::{self, Downstream, OriginReport, MAX_DAG_NODES};
use lodestone::ledger::{apply_to_mem, EntryContext, MemState, Signatures};
use lodestone::model::envelope::Envelope;
use lodestone::model::event::{Event, EventBody, Genesis};
use lodestone::model::ids::{ActorId, BatchId, SiteId};
use lodestone::model::keys::PublicKey;
use lodestone::scenario::Scenario;

/// 2026-06-01T00:00:00Z: after every scenario event.
const LOG_TIME_MS: u64 = 1_780_272_000_000;

/// The envelope's signatures, checked for real with `is_signed_by`.
struct EnvelopeSignatures<'a>(&'a Envelope);

impl Signatures for EnvelopeSignatures<'_> {
    fn signed_by(&self, key: &PublicKey) -> bool {
        self.0.is_signed_by(key)
    }
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// Genesis plus every scenario envelope, applied in order.
fn replay() -> MemState {
    replay_at(
        "2026-01-01T00:00:00Z",
        Scenario::builtin().unwrap(),
        LOG_TIME_MS,
    )
}

/// Genesis dated `genesis_at`, then `scenario`'s envelopes, logged from `log_time_ms` on.
fn replay_at(genesis_at: &str, scenario: Scenario, log_time_ms: u64) -> MemState {
    let authority: ActorId = id("authority");
    let authority_key = SigningKey::from_bytes(&[42; 32]);
    let genesis = Event {
        id: id("genesis"),
        actor: authority.clone(),
        log: None,
        occurred_at: id(genesis_at),
        body: EventBody::Genesis(Genesis {
            origin: "lodestone.example/rare-earths".into(),
            name: "Rare Earth Registry".into(),
            country: id("CH"),
            public_key: PublicKey::new(authority_key.verifying_key()),
            backfill_days: None,
        }),
    };
    let mut envelopes = vec![Envelope::sign(genesis.to_json(), &[&authority_key]).unwrap()];
    envelopes.extend(scenario.envelopes(&authority, &authority_key).unwrap());

    let mut state = MemState::new();
    for (index, envelope) in envelopes.iter().enumerate() {
        let event = Event::from_json(&envelope.payload).unwrap();
        let ctx = EntryContext {
            index: index as u64,
            logged_at_ms: log_time_ms + index as u64,
            envelope_digest: envelope.digest(),
        };
        if let Err(e) = apply_to_mem(&mut state, &ctx, &event, &EnvelopeSignatures(envelope)) {
            panic!("entry {index} ({}) rejected: {e}", event.id);
        }
    }
    state
}

fn report(state: &MemState, batch: &str) -> OriginReport {
    audit::provenance(state, &id(batch), MAX_DAG_NODES)
        .unwrap()
        .origins
}

fn sites(r: &OriginReport) -> Vec<(&str, u64)> {
    r.origins_by_site
        .iter()
        .map(|s| (s.site.as_str(), s.grams))
        .collect()
}

fn countries(r: &OriginReport) -> Vec<(&str, u64)> {
    r.origins_by_country
        .iter()
        .map(|c| (c.country.as_str(), c.grams))
        .collect()
}

fn assert_sums(r: &OriginReport) {
    assert_eq!(r.mined_g + r.recycled_g + r.untracked_g, r.basis_g);
    assert_eq!(
        r.origins_by_site.iter().map(|s| s.grams).sum::<u64>(),
        r.mined_g
    );
    assert_eq!(
        r.origins_by_company.iter().map(|s| s.grams).sum::<u64>(),
        r.mined_g
    );
    assert_eq!(
        r.origins_by_country.iter().map(|s| s.grams).sum::<u64>(),
        r.mined_g
    );
}

#[test]
fn every_scenario_event_applies() {
    let state = replay();
    let scenario = Scenario::builtin().unwrap();
    assert_eq!(
        state.actors().count(),
        scenario.actors.len() + 1,
        "the authority and every scenario actor"
    );
    for (_, batch) in Scenario::featured_batches() {
        assert!(state.batches().any(|b| b.id == batch), "{batch}");
    }
}

#[test]
fn gm_magnets_are_all_mountain_pass() {
    let state = replay();
    // Mountain Pass: 10,000 t ore → 1,000 t concentrate → 150 t NdPr oxide → split 100 t →
    // 85 t NdPr metal, all Mountain Pass. Magnet making takes 60 t metal + 138 t iron + 2 t
    // boron = 200 t pool; the magnets are 190 t, so 60 × 190/200 = 57 t Mountain Pass and
    // 140 × 190/200 = 133 t untracked additives.
    let r = report(&state, "MP-MAG-2026-0001");
    assert_sums(&r);
    assert_eq!(r.basis_g, 190_000_000);
    assert_eq!(r.remaining_g, 0, "GM assembled all it received");
    assert_eq!(sites(&r), [("mountain-pass", 57_000_000)]);
    assert_eq!(countries(&r), [("US", 57_000_000)]);
    assert_eq!(r.origins_by_company[0].actor.as_str(), "mp-materials");
    assert_eq!((r.recycled_g, r.untracked_g), (0, 133_000_000));
    assert!((r.origins_by_site[0].share - 0.3).abs() < 1e-12);

    // The JSON the HTTP layer serves: origin fields at the top level, grams as integers.
    let p = audit::provenance(&state, &id("MP-MAG-2026-0001"), MAX_DAG_NODES).unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["batch"], "MP-MAG-2026-0001");
    assert_eq!(json["origins_by_site"][0]["grams"], 57_000_000);
    assert_eq!(json["origins_by_country"][0]["country"], "US");
    assert_eq!(json["untracked_g"], 133_000_000);
    assert_eq!(json["dag"]["nodes"][0]["creation"]["kind"], "extract");

    // GM received 189,990,000 g (10 kg lost in transit) and assembled them with 1,810,010,000 g
    // of steel and copper into a 2,000 t pool: Mountain Pass 0.3 × 189,990,000 = 56,997,000;
    // the drive units are 1,980 t of it: 56,997,000 × 0.99 = 56,427,030 g.
    let r = report(&state, "GM-DRIVE-2026-0001");
    assert_sums(&r);
    assert_eq!(sites(&r), [("mountain-pass", 56_427_030)]);
    assert_eq!(r.untracked_g, 1_980_000_000 - 56_427_030);
}

#[test]
fn heat_resistant_magnet_takes_dy_tb_from_myanmar() {
    let state = replay();
    // JL Mag alloy: 95,200,000 g Bayan Obo NdPr metal + 8,500,000 g Dy metal + 1,700,000 g Tb
    // metal (both from the Kachin ion-adsorption clay) + 234,600,000 g iron and boron = 340 t;
    // the magnet is 323 t of it (× 0.95). Dy: 8,075,000 g, Tb: 1,615,000 g.
    let r = report(&state, "JLM-MAG-SH-2026-0001");
    assert_sums(&r);
    assert_eq!(r.basis_g, 323_000_000);
    let dy_tb = 8_500_000 * 95 / 100 + 1_700_000 * 95 / 100;
    assert_eq!(dy_tb, 9_690_000);
    assert_eq!(
        sites(&r),
        [
            ("bayan-obo", 95_200_000 * 95 / 100),
            ("pangwa-chipwi", dy_tb)
        ]
    );
    assert_eq!(countries(&r), [("CN", 90_440_000), ("MM", 9_690_000)]);
    assert_eq!(r.untracked_g, 234_600_000 * 95 / 100);
    assert_eq!(r.recycled_g, 0);

    // The certificates along the way: the Tb oxide assay and the magnet's origin audit.
    let p = audit::provenance(&state, &id("JLM-MAG-SH-2026-0001"), MAX_DAG_NODES).unwrap();
    let certified: Vec<&str> = p.dag.certificates().map(|(b, _)| b.as_str()).collect();
    assert_eq!(certified, ["CREG-TB-OX-2026-0001", "JLM-MAG-SH-2026-0001"]);
    let sources: Vec<&str> = p.dag.sources().map(|n| n.batch.as_str()).collect();
    assert_eq!(sources, ["NRE-ORE-2026-0001", "MM-MIX-2026-0001"]);
}

#[test]
fn recycled_magnet_carries_its_recycled_share() {
    let state = replay();
    // Cyclic recycles 17,996,000 g of scrap into 3,600,000 g NdPr oxide: all recycled. MP
    // reduces it to 3,060,000 g metal and makes a magnet from it + 6,120,000 g Mountain Pass
    // metal + 21,420,000 g iron and boron = 30,600,000 g pool; the magnet is 29,070,000 g
    // (× 0.95): recycled 2,907,000, Mountain Pass 5,814,000, untracked 20,349,000.
    let r = report(&state, "MP-MAG-2026-0002");
    assert_sums(&r);
    assert_eq!(r.recycled_g, 2_907_000);
    assert_eq!(r.recycled_by[0].recycler.as_str(), "cyclic-materials");
    assert_eq!(sites(&r), [("mountain-pass", 5_814_000)]);
    assert_eq!(r.untracked_g, 20_349_000);
    assert!((r.recycled_share - 0.1).abs() < 1e-12);
}

#[test]
fn lynas_oxide_magnet_is_australian_mined() {
    let state = replay();
    // Mount Weld NdPr oxide separated in Malaysia: the mine's country counts, not the plant's.
    // Shin-Etsu received 119,988,000 g (all Mount Weld), made 102 t metal, alloyed it with
    // 238 t iron and boron (340 t) and made 323 t of magnets: 102 × 0.95 = 96.9 t Mount Weld.
    let r = report(&state, "SE-MAG-2026-0001");
    assert_sums(&r);
    assert_eq!(sites(&r), [("mount-weld", 96_900_000)]);
    assert_eq!(countries(&r), [("AU", 96_900_000)]);
    assert_eq!(r.origins_by_company[0].actor.as_str(), "lynas");
    assert_eq!(r.untracked_g, 226_100_000);
    let p = audit::provenance(&state, &id("SE-MAG-2026-0001"), MAX_DAG_NODES).unwrap();
    assert!(p
        .dag
        .certificates()
        .any(|(b, c)| b.as_str() == "LYN-NDPR-OX-2026-0001" && c.statement.contains("99.999%")));
}

#[test]
fn recall_by_mine_and_by_batch() {
    let state = replay();
    let scenario = Scenario::builtin().unwrap();
    let kachin: SiteId = id("pangwa-chipwi");
    let extracted: Vec<BatchId> = scenario
        .extracted_batches()
        .into_iter()
        .filter(|(site, _)| site == &kachin)
        .map(|(_, b)| b)
        .collect();
    let d = audit::downstream_of_site(&state, &kachin, &extracted, MAX_DAG_NODES).unwrap();
    assert_eq!(contains(&d, "JLM-MAG-SH-2026-0001"), Some(9_690_000));
    assert_eq!(contains(&d, "CREG-Y-OX-2026-0001"), Some(60_000_000));
    assert!(contains(&d, "SE-MAG-2026-0001").is_none());

    // Mountain Pass material reaches GM's drive units and, through recycling, the new magnet.
    let d = audit::downstream(&state, &[id("MP-ORE-2026-0001")], MAX_DAG_NODES).unwrap();
    assert_eq!(contains(&d, "GM-DRIVE-2026-0001"), Some(56_427_030));
    assert!(contains(&d, "MP-MAG-2026-0002").unwrap() > 5_814_000);
    assert!(contains(&d, "JLM-MAG-SH-2026-0001").is_none());

    let wrong = audit::downstream_of_site(&state, &kachin, &[id("MP-ORE-2026-0001")], 100);
    assert!(matches!(
        wrong,
        Err(audit::AuditError::NotExtractedAt { .. })
    ));
}

fn contains(d: &Downstream, batch: &str) -> Option<u64> {
    d.batches
        .iter()
        .find(|b| b.batch.as_str() == batch)
        .map(|b| b.contains_g)
}

/// A ledger created now cannot take the fixture's 2026 dates (they are more than the 90-day
/// backfill window before a registration made now); the scenario rebased to end now can.
#[test]
fn the_rebased_scenario_replays_on_a_ledger_created_just_before_it_ends() {
    // 2031-06-01T12:00:00Z, and the ledger created a minute earlier.
    let end_ms = 1_938_168_000_000;
    let end = lodestone::model::ids::Timestamp::from_unix_millis(end_ms).unwrap();
    let scenario = Scenario::builtin().unwrap().rebased(&end).unwrap();
    assert_eq!(scenario.events.last().unwrap().occurred_at, end);
    let first = scenario.events[0].occurred_at.unix_millis();
    assert!(scenario.registered_at.unix_millis() < first);
    assert!(end_ms - scenario.registered_at.unix_millis() < 80 * 86_400_000);
    let state = replay_at("2031-06-01T11:59:00Z", scenario, end_ms + 1);
    assert_eq!(
        report(&state, "MP-MAG-2026-0001").origins_by_site,
        report(&replay(), "MP-MAG-2026-0001").origins_by_site,
        "moving the dates changes no mass"
    );
}

/// Issue 17: the announcements, the licensed exports, the quota and the Japanese magnet with
/// Chinese dysprosium, with figures worked out by hand from events.json.
#[test]
fn export_controls_in_the_scenario() {
    use lodestone::audit::compliance::{analyze, builtin, evaluate, Outcome};
    use lodestone::ledger::StateView;
    use lodestone::model::ids::{CountryCode, EventId, Grams};
    use lodestone::model::material::QuotaStage;

    let mut state = replay();
    let book = state.controls(&id::<CountryCode>("CN")).unwrap().unwrap();
    let rules: Vec<&str> = book.rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["mofcom-gac-2025-18", "mofcom-2025-57", "mofcom-2025-61"]
    );
    assert_eq!(
        book.rules[2].suspensions[0]
            .until
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-11-10T00:00:00Z"
    );
    // 1,000,000 g licensed, the 600,000 g magnet shipped to Nidec: 400,000 g left.
    let lic = state
        .licence(&id::<EventId>("MOFCOM-EL-2026-0001"))
        .unwrap()
        .unwrap();
    assert_eq!(lic.remaining_g, Grams(400_000));
    // 10,000 g of oxide licensed, 7,000 g shipped to Shin-Etsu: 3,000 g left.
    let lic = state
        .licence(&id::<EventId>("MOFCOM-EL-2026-0002"))
        .unwrap()
        .unwrap();
    assert_eq!(lic.remaining_g, Grams(3_000));
    // The mining quota: Pr 100,000 × 1.2082 = 120,820; Nd 340,000 × 1.1664 = 396,576;
    // Tb 4,000 × 1.1762 = 4,704.8 → 4,705; Dy 20,000 × 1.1477 = 22,954: 545,055 g, all of it.
    let quotas = state.quotas(&id("northern-rare-earth")).unwrap().unwrap();
    let q = quotas.get(QuotaStage::Mining, 2026).unwrap();
    assert_eq!((q.quota_g, q.used_g), (Grams(545_055), Grams(545_055)));

    // SE-MAG-2026-0101: 287,000 g with 5,000 g Dy and 1,000 g Tb mined at Bayan Obo.
    let analysis = analyze(&state, &id("SE-MAG-2026-0101"), MAX_DAG_NODES).unwrap();
    let at = |day: &str| {
        let mut p = builtin("cn-mofcom-61").unwrap();
        p.at = Some(id(&format!("{day}T00:00:00Z")));
        evaluate(&p, &analysis)
    };
    assert_eq!(at("2025-10-01").finding, Some("not_in_force"));
    // 2025 prices: 5,000 × 350 + 1,000 × 1,100 = 2,850.00 USD of 287 kg × 60 = 17,220.00 USD.
    let v = at("2025-10-20");
    assert_eq!(
        (v.verdict, v.finding),
        (Outcome::Fail, Some("licence_needed"))
    );
    let m = &v.reasons[0].message;
    assert!(
        m.contains("2850.00 USD") && m.contains("17220.00 USD") && m.contains("16.550%"),
        "{m}"
    );
    assert_eq!(at("2026-06-01").finding, Some("suspended"));
    // 2026 prices: 5,000 × 400 + 1,000 × 1,200 = 3,200.00 USD of 287 kg × 65 = 18,655.00 USD.
    let v = at("2026-12-01");
    assert_eq!(
        (v.verdict, v.finding),
        (Outcome::Fail, Some("licence_needed"))
    );
    let m = &v.reasons[0].message;
    assert!(
        m.contains("3200.00 USD") && m.contains("18655.00 USD") && m.contains("17.153%"),
        "{m}"
    );

    // What the demo shows refused is refused.
    let scenario = Scenario::builtin().unwrap();
    let size = state.events().count() as u64 + 1000;
    for (i, (what, code, envelope)) in scenario.refused_attempts().unwrap().iter().enumerate() {
        let event = Event::from_json(&envelope.payload).unwrap();
        let ctx = EntryContext {
            index: size + i as u64,
            logged_at_ms: LOG_TIME_MS,
            envelope_digest: envelope.digest(),
        };
        let e =
            apply_to_mem(&mut state, &ctx, &event, &EnvelopeSignatures(envelope)).expect_err(what);
        assert_eq!(e.code(), *code, "{what}: {e}");
    }
}
