use super::*;

const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fn json(text: &str) -> Result<Event, EventError> {
    Event::from_json(text.as_bytes())
}

fn transform_json() -> String {
    r#"{"kind":"transform","id":"ev-mp-sep-1","actor":"mp-materials","log":"lodestone.example/rare-earths","occurred_at":"2026-03-01T08:00:00Z",
 "process":"separation","site":"mountain-pass",
 "inputs":[{"batch":"MP-CONC-2026-001","mass_g":8000000000}],
 "outputs":[{"batch":"MP-NDPR-2026-001","form":"oxide","mass_g":1200000000,"elements":["Pr","Nd"]}],
 "additives":[{"material":"iron","mass_g":0}]}"#
        .to_owned()
}

#[test]
fn parses_every_documented_kind() {
    let examples = [
        format!(r#"{{"kind":"genesis","id":"genesis","actor":"authority","occurred_at":"2026-01-01T00:00:00Z","origin":"lodestone.example/rare-earths","name":"Rare Earth Registry","country":"CH","public_key":"{KEY}","backfill_days":30}}"#),
        format!(r#"{{"kind":"register_actor","id":"reg-mp","actor":"authority","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","subject":"mp-materials","name":"MP Materials","country":"US","roles":["miner","separator","metallizer","magnet_maker"],"sites":[{{"id":"mountain-pass","name":"Mountain Pass mine","country":"US","kind":"mine"}}],"public_keys":["{KEY}"],"prefixes":["MP-"]}}"#),
        format!(r#"{{"kind":"update_actor","id":"upd-mp-1","actor":"authority","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","subject":"mp-materials","name":"MP Materials Corp.","roles":["miner","separator"],"add_public_keys":["{KEY}"],"add_prefixes":["MPM-","MPX-"]}}"#),
        format!(r#"{{"kind":"revoke_key","id":"rev-mp-1","actor":"authority","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","subject":"mp-materials","key_id":"{}","reason":"key compromised"}}"#, "ab".repeat(32)),
        r#"{"kind":"extract","id":"ev-mp-ore-1","actor":"mp-materials","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","site":"mountain-pass","batch":"MP-ORE-2026-001","form":"ore","mass_g":40000000000,"elements":["La","Ce","Pr","Nd"]}"#.to_owned(),
        transform_json(),
        r#"{"kind":"ship","id":"ev-ship-1","actor":"mp-materials","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"MP-MAG-2026-001","to":"general-motors"}"#.to_owned(),
        r#"{"kind":"receive","id":"ev-recv-1","actor":"general-motors","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"MP-MAG-2026-001","mass_g":999000}"#.to_owned(),
        format!(r#"{{"kind":"certify","id":"ev-cert-1","actor":"assay-lab","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"LYN-NDPR-2026-001","claim":"assay","statement":"Nd2O3+Pr6O11 purity 99.999%","document_sha256":"{}"}}"#, "0f".repeat(32)),
        r#"{"kind":"retire","id":"ev-ret-1","actor":"general-motors","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"GM-MOTOR-2026-001","reason":"consumed"}"#.to_owned(),
        r#"{"kind":"publish_controls","id":"pub-18","actor":"mofcom","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","rule":"mofcom-gac-2025-18","jurisdiction":"CN","source":"MOFCOM/GAC Announcement No. 18 of 2025","elements":["Sm","Tb","Dy"],"forms":["oxide","metal"],"magnet_elements":["Tb","Dy"],"effective_from":"2025-04-04T00:00:00Z"}"#.to_owned(),
        r#"{"kind":"suspend_controls","id":"pub-70","actor":"mofcom","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","jurisdiction":"CN","rule":"mofcom-2025-61","from":"2025-11-07T00:00:00Z","until":"2026-11-10T00:00:00Z","source":"MOFCOM Announcement No. 70 of 2025"}"#.to_owned(),
        r#"{"kind":"issue_licence","id":"lic-1","actor":"mofcom","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","licence":"MOFCOM-EL-2026-0001","exporter":"northern-rare-earth","consignee":"nidec","destination":"JP","elements":["Tb","Dy"],"forms":["magnet"],"quantity_g":500000,"valid_from":"2026-01-01T00:00:00Z","valid_until":"2027-01-01T00:00:00Z","end_use":"traction motors"}"#.to_owned(),
        r#"{"kind":"revoke_licence","id":"rev-1","actor":"mofcom","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","licence":"MOFCOM-EL-2026-0001","reason":"end use not confirmed"}"#.to_owned(),
        r#"{"kind":"set_quota","id":"q-2026","actor":"mofcom","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","subject":"northern-rare-earth","stage":"mining","year":2026,"quota_g":1000000,"source":"MIIT/MNR 2026"}"#.to_owned(),
    ];
    let mut kinds = Vec::new();
    for text in &examples {
        let event = json(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        kinds.push(event.kind_name());
        // Round trip: our own JSON parses back to the same event.
        let again = Event::from_json(&event.to_json()).unwrap();
        assert_eq!(again, event);
        let back: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, original, "to_json keeps every field");
    }
    assert_eq!(kinds, KIND_NAMES);
}

#[test]
fn to_json_starts_with_the_common_fields() {
    let event = json(&transform_json()).unwrap();
    let text = String::from_utf8(event.to_json()).unwrap();
    assert!(
        text.starts_with(
            r#"{"kind":"transform","id":"ev-mp-sep-1","actor":"mp-materials","log":"lodestone.example/rare-earths","occurred_at":"#
        ),
        "{text}"
    );
}

#[test]
fn rejects_unknown_fields_with_their_path() {
    let text = transform_json().replace(r#""process""#, r#""colour":"red","process""#);
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::UnknownField { path, .. } if path == "colour"),
        "{err}"
    );
    assert!(err.to_string().contains("expected one of"), "{err}");

    let text =
        transform_json().replace(r#""mass_g":8000000000"#, r#""mass_g":8000000000,"grade":1"#);
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::UnknownField { path, .. } if path == "inputs[0].grade"),
        "{err}"
    );
}

#[test]
fn rejects_unknown_kinds_and_missing_fields() {
    let err =
        json(r#"{"kind":"teleport","id":"x","actor":"ab","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z"}"#)
            .unwrap_err();
    assert!(
        matches!(&err, EventError::UnknownKind { kind } if kind == "teleport"),
        "{err}"
    );
    let err = json(r#"{"id":"x"}"#).unwrap_err();
    assert_eq!(
        err,
        EventError::MissingField {
            path: "kind".into()
        }
    );
    let err = json(
        r#"{"kind":"ship","id":"x","actor":"ab","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"B"}"#,
    )
    .unwrap_err();
    assert_eq!(err, EventError::MissingField { path: "to".into() });
}

#[test]
fn invalid_values_name_the_field() {
    let text = transform_json().replace(r#""mass_g":1200000000"#, r#""mass_g":-5"#);
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::InvalidField { path, .. } if path == "outputs[0].mass_g"),
        "{err}"
    );
    let text = transform_json().replace(r#""mass_g":1200000000"#, r#""mass_g":1.5"#);
    assert!(matches!(
        json(&text).unwrap_err(),
        EventError::InvalidField { .. }
    ));
    let text = transform_json().replace("mp-materials", "MP Materials");
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::InvalidField { path, .. } if path == "actor"),
        "{err}"
    );
    assert!(err.to_string().contains("actor id"), "{err}");
    let text = transform_json().replace("2026-03-01T08:00:00Z", "2026-03-01T08:00:00+01:00");
    assert!(
        matches!(json(&text).unwrap_err(), EventError::InvalidField { path, .. } if path == "occurred_at")
    );
    let text = transform_json().replace(r#"["Pr","Nd"]"#, r#"["Nd","Nd"]"#);
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::InvalidField { path, .. } if path == "outputs[0].elements[1]"),
        "{err}"
    );
}

#[test]
fn rejects_duplicate_keys_null_and_trailing_bytes() {
    let text = transform_json().replace(
        r#""process":"separation""#,
        r#""process":"separation","process":"split""#,
    );
    assert!(
        matches!(json(&text).unwrap_err(), EventError::Syntax { message, .. } if message.contains("duplicate field `process`"))
    );
    let text = transform_json().replace(r#""site":"mountain-pass""#, r#""site":null"#);
    assert!(
        matches!(json(&text).unwrap_err(), EventError::InvalidField { path, .. } if path == "site")
    );
    let text = transform_json() + " {}";
    assert!(matches!(
        json(&text).unwrap_err(),
        EventError::Syntax { .. }
    ));
    assert!(matches!(
        json("[1]").unwrap_err(),
        EventError::InvalidField { .. }
    ));
    assert!(matches!(json("").unwrap_err(), EventError::Syntax { .. }));
}

#[test]
fn enforces_limits() {
    let inputs = vec![r#"{"batch":"B","mass_g":1}"#; limits::MAX_ITEMS + 1].join(",");
    let text = transform_json().replace(
        r#"[{"batch":"MP-CONC-2026-001","mass_g":8000000000}]"#,
        &format!("[{inputs}]"),
    );
    assert!(matches!(
        json(&text).unwrap_err(),
        EventError::TooMany { max: 256, .. }
    ));
    let long = "x".repeat(281);
    let text = format!(
        r#"{{"kind":"certify","id":"c","actor":"lab","log":"lodestone.example/rare-earths","occurred_at":"2026-01-01T00:00:00Z","batch":"B","claim":"assay","statement":"{long}","document_sha256":"{}"}}"#,
        "0f".repeat(32)
    );
    assert!(matches!(
        json(&text).unwrap_err(),
        EventError::Length { max: 280, .. }
    ));
    let text = text.replace(&long, "");
    assert!(matches!(
        json(&text).unwrap_err(),
        EventError::Length { min: 1, .. }
    ));
}

#[test]
fn serde_deserialize_is_as_strict() {
    let err = serde_json::from_str::<Event>(
        &transform_json().replace(r#""process""#, r#""x":1,"process""#),
    );
    assert!(err.is_err());
    assert!(serde_json::from_str::<Event>(&transform_json()).is_ok());
}

#[test]
fn every_kind_but_genesis_names_its_log() {
    let text = transform_json().replace(r#""log":"lodestone.example/rare-earths","#, "");
    let err = json(&text).unwrap_err();
    assert!(
        matches!(&err, EventError::MissingField { path } if path == "log"),
        "{err}"
    );
    let genesis = format!(
        r#"{{"kind":"genesis","id":"g","actor":"authority","log":"x","occurred_at":"2026-01-01T00:00:00Z","origin":"x","name":"R","country":"CH","public_key":"{KEY}"}}"#
    );
    let err = json(&genesis).unwrap_err();
    assert!(
        matches!(&err, EventError::UnknownField { path, .. } if path == "log"),
        "{err}"
    );
    // An event built in code is held to the same rule.
    let mut event = json(&transform_json()).unwrap();
    event.log = None;
    assert!(matches!(
        event.check_limits(),
        Err(EventError::MissingField { .. })
    ));
}

#[test]
fn prefixes_are_checked_and_bounded() {
    let register = |prefixes: &str| {
        format!(
            r#"{{"kind":"register_actor","id":"r","actor":"authority","log":"l","occurred_at":"2026-01-01T00:00:00Z","subject":"mp","name":"MP","country":"US","roles":["miner"],"public_keys":["{KEY}"],"prefixes":{prefixes}}}"#
        )
    };
    let err = json(&register(r#"["MP-","MP-"]"#)).unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
    let err = json(&register(r#"["-MP"]"#)).unwrap_err();
    assert!(
        matches!(&err, EventError::InvalidField { path, .. } if path == "prefixes[0]"),
        "{err}"
    );
    let many: Vec<String> = (0..17).map(|i| format!("\"P{i}-\"")).collect();
    let err = json(&register(&format!("[{}]", many.join(",")))).unwrap_err();
    assert!(
        matches!(&err, EventError::TooMany { path, max: 16, .. } if path == "prefixes"),
        "{err}"
    );
}
