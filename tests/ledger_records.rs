//! Stored formats are pinned (issue 9.6, docs/FORMAT.md "Stored records"): the exact bincode
//! bytes of every record type the store keeps, and the pinned number of every enum value in
//! them, so that adding a variant can never change what an old record means.
//!
//! `fixtures/vectors/records/records.json` holds one golden encoding per record type (and per
//! variant of the two data-carrying enums). Encoding the records built here must give those bytes,
//! and decoding those bytes must give these records. To regenerate after a deliberate format
//! change (which needs a new layout version): `LODESTONE_WRITE_VECTORS=1 cargo test --test
//! ledger_records`.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use lodestone::ledger::pinned::{BATCH_ORIGIN_NUMBERS, BATCH_STATUS_NUMBERS};
use lodestone::ledger::{
    ActorRecord, AssayComposition, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord,
    EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord,
};
use lodestone::log::Hash;
use lodestone::model::composition::Composition;
use lodestone::model::ids::{DocumentDigest, Grams};
use lodestone::model::keys::PublicKey;
use lodestone::model::material::{Claim, Element, Form, Process, RetireReason, Role, SiteKind};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/vectors/records/records.json"
);
const FORMAT_MD: &str = include_str!("../docs/FORMAT.md");

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn key() -> PublicKey {
    PublicKey::from_bytes(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ])
    .unwrap()
}

fn batch(status: BatchStatus, origin: BatchOrigin) -> BatchRecord {
    BatchRecord {
        id: id("MP-MAG-1"),
        form: Form::Magnet,
        elements: BTreeSet::from([Element::Nd, Element::Dy, Element::Y]),
        created_g: Grams(10_000),
        remaining_g: Grams(4_000),
        custodian: id("mp"),
        status,
        created_at: id("2026-03-01T08:00:00.5Z"),
        created_in: 7,
        origin,
        children: vec![id("MP-MAG-1a")],
        history: vec![7, 9],
        certificates: vec![CertificateRecord {
            index: 8,
            certifier: id("lab"),
            claim: Claim::OriginAudit,
            statement: "N52".into(),
            document_sha256: DocumentDigest::from_bytes([3; 32]),
            occurred_at: id("2026-03-02T00:00:00Z"),
        }],
        transit_loss_g: Grams(250),
        last_event_at: id("2026-03-03T00:00:00Z"),
        composition: None,
        assays: Vec::new(),
        made_at: None,
    }
}

/// A batch with a declared composition and an assayed one: its old fields, then the trailer
/// (docs/FORMAT.md, "Stored records"; issue 12).
fn with_composition() -> BatchRecord {
    let mut record = batch(BatchStatus::Active, transformed());
    record.composition = Some(
        Composition::new(BTreeMap::from([
            (Element::Nd, 2_200),
            (Element::Pr, 700),
            (Element::Dy, 100),
        ]))
        .unwrap(),
    );
    record.assays.push(AssayComposition {
        index: 8,
        composition: Composition::new(BTreeMap::from([(Element::Nd, 2_190)])).unwrap(),
    });
    record.made_at = Some(id("fort-worth"));
    record
}

fn transformed() -> BatchOrigin {
    BatchOrigin::Transformed {
        process: Process::MagnetMaking,
        inputs: vec![(id("MP-ALLOY-1"), Grams(9_000))],
        additives_g: Grams(1_000),
        outputs_total_g: Grams(10_000),
    }
}

fn extracted() -> BatchOrigin {
    BatchOrigin::Extracted {
        site: id("mountain-pass"),
    }
}

/// A record's name, its encoding, and a check that golden bytes decode back to it.
type Golden = (&'static str, Vec<u8>, Box<dyn Fn(&[u8])>);

/// One record of every stored type, and one batch per status and origin variant, encoded.
fn records() -> Vec<Golden> {
    fn entry<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static>(
        name: &'static str,
        record: T,
    ) -> Golden {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&record, config).unwrap();
        let check = move |golden: &[u8]| {
            let (back, used): (T, usize) =
                bincode::serde::decode_from_slice(golden, config).unwrap();
            assert_eq!(used, golden.len(), "{name}: trailing bytes");
            assert_eq!(
                back, record,
                "{name}: the golden bytes decode to another record"
            );
        };
        (name, bytes, Box::new(check))
    }
    let key_record = KeyRecord {
        key_id: key().key_id(),
        public_key: key(),
        actor: id("mp"),
        added_at: 1,
        revoked_at: Some(5),
    };
    vec![
        entry(
            "genesis",
            GenesisRecord {
                origin: "lodestone.example/rare-earths".into(),
                authority: id("authority"),
                public_key: key(),
                index: 0,
                backfill_days: 90,
            },
        ),
        entry(
            "actor",
            ActorRecord {
                id: id("mp"),
                name: "MP Materials".into(),
                country: id("US"),
                roles: BTreeSet::from([Role::Miner, Role::MagnetMaker, Role::Trader]),
                sites: vec![id("mountain-pass")],
                keys: vec![key_record.clone()],
                entries: vec![1, 5],
                prefixes: vec![id("MP-")],
                registered_at: id("2026-01-02T09:00:00Z"),
            },
        ),
        entry("key", key_record),
        entry(
            "site",
            SiteRecord {
                id: id("mountain-pass"),
                owner: id("mp"),
                name: "Mountain Pass".into(),
                country: id("US"),
                kind: SiteKind::Plant,
            },
        ),
        entry(
            "batch_active_extracted",
            batch(BatchStatus::Active, extracted()),
        ),
        entry(
            "batch_in_transit_transformed",
            batch(
                BatchStatus::InTransit {
                    to: id("gm"),
                    shipped_g: Grams(4_000),
                },
                transformed(),
            ),
        ),
        entry(
            "batch_consumed",
            batch(BatchStatus::Consumed, transformed()),
        ),
        entry(
            "batch_retired",
            batch(
                BatchStatus::Retired {
                    reason: RetireReason::Sold,
                },
                extracted(),
            ),
        ),
        entry("batch_with_composition", with_composition()),
        entry(
            "event",
            EventRecord {
                index: 3,
                envelope_digest: Hash([9; 32]),
            },
        ),
        entry(
            "prefix",
            PrefixRecord {
                owner: id("mp"),
                exact: true,
            },
        ),
    ]
}

#[test]
fn every_stored_record_type_has_golden_bytes() {
    let records = records();
    if std::env::var_os("LODESTONE_WRITE_VECTORS").is_some() {
        let mut out = Map::new();
        out.insert(
            "about".into(),
            json!("Golden Lodestone state records (bincode 2.0.1 serde, standard config): see docs/FORMAT.md, \"Stored records\"; built by tests/ledger_records.rs."),
        );
        for (name, bytes, _) in &records {
            out.insert((*name).into(), json!(hex::encode(bytes)));
        }
        std::fs::create_dir_all(std::path::Path::new(PATH).parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&Value::Object(out)).unwrap();
        std::fs::write(PATH, text + "\n").unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    for (name, bytes, check) in &records {
        let hex_bytes = golden[*name]
            .as_str()
            .unwrap_or_else(|| panic!("no golden bytes for {name}"));
        let golden_bytes = hex::decode(hex_bytes).unwrap();
        assert_eq!(
            hex::encode(bytes),
            hex_bytes,
            "the encoding of {name} changed: stored records would change meaning"
        );
        check(&golden_bytes);
    }
    assert_eq!(golden.as_object().unwrap().len(), records.len() + 1);
}

#[test]
fn enum_values_are_single_pinned_bytes_in_records() {
    // A site record ends with its kind: one byte, the pinned number (plant = 1).
    let config = bincode::config::standard();
    let site = SiteRecord {
        id: id("ab"),
        owner: id("cd"),
        name: "x".into(),
        country: id("US"),
        kind: SiteKind::Plant,
    };
    let bytes = bincode::serde::encode_to_vec(&site, config).unwrap();
    assert_eq!(bytes.last(), Some(&1));
    // An unknown number is refused, never read as another value.
    let mut bad = bytes.clone();
    *bad.last_mut().unwrap() = 2;
    let err = bincode::serde::decode_from_slice::<SiteRecord, _>(&bad, config).unwrap_err();
    assert!(err.to_string().contains("pinned number"), "{err}");
    // JSON keeps the names.
    assert_eq!(
        serde_json::to_value(SiteKind::Plant).unwrap(),
        json!("plant")
    );
    assert_eq!(
        serde_json::to_value(BatchStatus::Retired {
            reason: RetireReason::Lost
        })
        .unwrap(),
        json!({"Retired": {"reason": "lost"}})
    );
    let back: BatchOrigin =
        serde_json::from_value(json!({"Extracted": {"site": "mine-a"}})).unwrap();
    assert_eq!(back, BatchOrigin::Extracted { site: id("mine-a") });
}

/// `(number, name)` of every value of a named enum, checked to be declared in number order.
fn table<T: Copy + std::fmt::Display>(all: &[T], number: impl Fn(T) -> u8) -> Vec<(u32, String)> {
    all.iter()
        .enumerate()
        .map(|(position, value)| {
            assert_eq!(
                usize::from(number(*value)),
                position,
                "{value} is declared at position {position} with number {}: new values go at \
                 the end, with the next number, and numbers never change",
                number(*value)
            );
            (u32::from(number(*value)), value.to_string())
        })
        .collect()
}

#[test]
fn pinned_numbers_are_the_documented_ones_and_new_values_go_at_the_end() {
    let tables: Vec<(&str, Vec<(u32, String)>)> = vec![
        ("Role", table(Role::ALL, Role::number)),
        ("Form", table(Form::ALL, Form::number)),
        ("Process", table(Process::ALL, Process::number)),
        ("Element", table(Element::ALL, Element::number)),
        ("SiteKind", table(SiteKind::ALL, SiteKind::number)),
        ("Claim", table(Claim::ALL, Claim::number)),
        (
            "QuotaStage",
            table(
                lodestone::model::material::QuotaStage::ALL,
                lodestone::model::material::QuotaStage::number,
            ),
        ),
        (
            "RetireReason",
            table(RetireReason::ALL, RetireReason::number),
        ),
        (
            "BatchStatus",
            BATCH_STATUS_NUMBERS
                .iter()
                .map(|(n, s)| (*n, (*s).to_owned()))
                .collect(),
        ),
        (
            "BatchOrigin",
            BATCH_ORIGIN_NUMBERS
                .iter()
                .map(|(n, s)| (*n, (*s).to_owned()))
                .collect(),
        ),
    ];
    for (name, rows) in &tables {
        for (position, (number, _)) in rows.iter().enumerate() {
            assert_eq!(
                *number as usize, position,
                "{name}: numbers run 0, 1, 2, ..."
            );
        }
        // The documented table, verbatim: `| Role | 0 `authority`, 1 `miner`, ... |`.
        let cells: Vec<String> = rows.iter().map(|(n, s)| format!("{n} `{s}`")).collect();
        let row = format!("| `{name}` | {} |", cells.join(", "));
        assert!(
            FORMAT_MD.contains(&row),
            "docs/FORMAT.md lacks the pinned numbers of {name}:\n{row}"
        );
    }
    // The data-carrying enums' numbers are what their records use.
    assert_eq!(BatchStatus::Consumed.number(), 2);
    assert_eq!(transformed().number(), 1);
}
