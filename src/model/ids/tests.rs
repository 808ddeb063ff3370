use super::*;

#[test]
fn actor_and_site_syntax() {
    assert!(ActorId::new("mp-materials").is_ok());
    assert!(ActorId::new("a1").is_ok());
    assert!(matches!(
        ActorId::new("a"),
        Err(IdError::Length { min: 2, .. })
    ));
    assert!(matches!(ActorId::new(""), Err(IdError::Empty { .. })));
    assert!(matches!(
        ActorId::new("-ab"),
        Err(IdError::Character { position: 0, .. })
    ));
    assert!(matches!(
        ActorId::new("MP"),
        Err(IdError::Character { found: 'M', .. })
    ));
    assert!(ActorId::new("a".repeat(64)).is_ok());
    assert!(ActorId::new("a".repeat(65)).is_err());
    assert!(SiteId::new("mountain-pass").is_ok());
    assert!(SiteId::new("mountain_pass").is_err());
}

#[test]
fn batch_and_event_syntax() {
    assert!(BatchId::new("MP-ORE-2026-001").is_ok());
    assert!(BatchId::new("x").is_ok());
    assert!(BatchId::new("urn:lot/2026.01_a-b").is_ok());
    assert!(BatchId::new(".x").is_err());
    assert!(BatchId::new("a b").is_err());
    assert!(BatchId::new("a".repeat(128)).is_ok());
    assert!(BatchId::new("a".repeat(129)).is_err());
    assert!(EventId::new("ev-1").is_ok());
    assert!(EventId::new("é").is_err());
}

#[test]
fn long_values_are_truncated_in_errors() {
    let err = BatchId::new("a".repeat(1000)).unwrap_err();
    let IdError::Length { value, len, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(len, 1000);
    assert!(value.chars().count() <= IdError::SHOWN + 1);
}

#[test]
fn countries() {
    assert_eq!(ASSIGNED_COUNTRIES.split(' ').count(), 249);
    let codes: Vec<&str> = ASSIGNED_COUNTRIES.split(' ').collect();
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    assert!(codes.iter().all(|c| c.len() == 2 && is_assigned_country(c)));
    for absent in ["AA", "AB", "ZZ", "XK", "ZX", "MN0"] {
        assert!(!is_assigned_country(absent), "{absent}");
    }
    for ok in ["CN", "US", "AU", "MM", "MY", "JP", "VN", "CH"] {
        assert!(CountryCode::new(ok).is_ok(), "{ok}");
    }
    assert!(matches!(
        CountryCode::new("XK"),
        Err(IdError::UnassignedCountry { .. })
    ));
    assert!(CountryCode::new("us").is_err());
    assert!(CountryCode::new("USA").is_err());
}

#[test]
fn grams() {
    assert_eq!(Grams(2).checked_add(Grams(3)), Some(Grams(5)));
    assert_eq!(Grams(u64::MAX).checked_add(Grams(1)), None);
    assert_eq!(Grams(2).checked_sub(Grams(3)), None);
    assert_eq!(Grams::checked_sum([Grams(1), Grams(2)]), Some(Grams(3)));
    assert_eq!(Grams::checked_sum([Grams(u64::MAX), Grams(1)]), None);
    assert_eq!(serde_json::to_string(&Grams(7)).unwrap(), "7");
    assert_eq!(serde_json::from_str::<Grams>("7").unwrap(), Grams(7));
}

#[test]
fn timestamps() {
    let t = Timestamp::parse("2026-03-01T08:00:00Z").unwrap();
    assert_eq!(t.unix_millis(), 1_772_352_000_000);
    assert_eq!(t.to_string(), "2026-03-01T08:00:00Z");
    let f = Timestamp::parse("2026-03-01T08:00:00.25Z").unwrap();
    assert_eq!(f.unix_millis(), 1_772_352_000_250);
    assert!(t < f);
    assert_eq!(
        Timestamp::parse("1970-01-01T00:00:00Z")
            .unwrap()
            .unix_millis(),
        0
    );
    for bad in [
        "2026-03-01T08:00:00+00:00",
        "2026-03-01T08:00:00z",
        "2026-03-01t08:00:00Z",
        "2026-03-01 08:00:00Z",
        "2026-02-30T08:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-12-31T23:59:60Z",
        "2026-03-01T08:00:00.Z",
        "2026-03-01T08:00:00.1234567890Z",
        "1969-12-31T23:59:59Z",
        "2026-03-01T08:00Z",
        "",
    ] {
        assert!(Timestamp::parse(bad).is_err(), "{bad}");
    }
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, "\"2026-03-01T08:00:00Z\"");
    assert!(serde_json::from_str::<Timestamp>("\"2026-03-01T08:00:00+01:00\"").is_err());
    let made = Timestamp::from_unix_millis(1_772_352_000_250).unwrap();
    assert_eq!(made.as_str(), "2026-03-01T08:00:00.250Z");
}

#[test]
fn digests() {
    let hex = "ab".repeat(32);
    let d = DocumentDigest::parse(&hex).unwrap();
    assert_eq!(d.to_string(), hex);
    assert!(DocumentDigest::parse(&"AB".repeat(32)).is_err());
    assert!(DocumentDigest::parse("abc").is_err());
}

#[test]
fn serde_validates() {
    assert!(serde_json::from_str::<ActorId>("\"mp-materials\"").is_ok());
    let err = serde_json::from_str::<ActorId>("\"MP\"").unwrap_err();
    assert!(err.to_string().contains("actor id"), "{err}");
}
