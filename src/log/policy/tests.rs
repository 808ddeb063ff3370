use super::*;
use crate::log::cosignature::CosignatureSigner;
use crate::log::note::NoteSigner;
use ed25519_dalek::SigningKey;

const EXAMPLE: &str = include_str!("../../../fixtures/vectors/c2sp/policy-example.txt");

fn log_signer() -> NoteSigner {
    NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap()
}

fn witness(name: &str, seed: u8) -> CosignatureSigner {
    CosignatureSigner::new(
        &format!("{name}.example"),
        SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

const WITNESSES: [&str; 6] = ["X1", "X2", "X3", "Y1", "Y2", "Y3"];

/// The spec's example with its elided `<vkey>`s filled in with real keys.
fn example() -> (String, Vec<CosignatureSigner>) {
    let signers: Vec<CosignatureSigner> = WITNESSES
        .iter()
        .enumerate()
        .map(|(i, n)| witness(n, 10 + i as u8))
        .collect();
    let mut text = EXAMPLE.replacen("<vkey>", &log_signer().verifier().to_text(), 1);
    for s in &signers {
        text = text.replacen("<vkey>", &s.verifier().to_text(), 1);
    }
    (text, signers)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_spec_example_parses_and_its_quorum_is_two_x_and_one_y() {
    let (text, _) = example();
    let policy = Policy::parse(&text).unwrap();
    assert_eq!(policy.logs.len(), 1);
    assert_eq!(policy.witnesses.len(), 6);
    assert_eq!(policy.groups[0].threshold, 2);
    assert_eq!(policy.groups[1].threshold, 1);
    assert_eq!(policy.groups[2].threshold, 2);
    assert_eq!(policy.quorum, Quorum::Named("X-and-Y".into()));
    assert!(policy.satisfied_by(&set(&["X1", "X3", "Y2"])));
    assert!(!policy.satisfied_by(&set(&["X1", "Y1", "Y2", "Y3"])));
    assert!(!policy.satisfied_by(&set(&["X1", "X2", "X3"])));
    assert_eq!(
        policy.missing(&set(&["X1", "X2", "X3"])),
        ["Y1", "Y2", "Y3"]
    );
    assert!(!policy.satisfied_by(&set(&[])));
}

#[test]
fn checkpoints_are_checked_against_the_quorum() {
    let (text, signers) = example();
    let policy = Policy::parse(&text).unwrap();
    let log = log_signer();
    let cp = Checkpoint::new("example.com/log", 5, crate::log::empty_root()).unwrap();
    let body = cp.to_text();
    let cosign = |idx: &[usize]| {
        let mut note = cp.sign(&log);
        for &i in idx {
            note.push_str(
                &signers[i]
                    .cosign(&body, 1_700_000_000 + i as u64)
                    .unwrap()
                    .to_line(),
            );
        }
        note
    };
    let ok = policy.verify_checkpoint(&cosign(&[0, 2, 4])).unwrap();
    assert_eq!(ok.checkpoint, cp);
    assert_eq!(
        ok.cosigned,
        [
            ("X1".to_owned(), 1_700_000_000),
            ("X3".into(), 1_700_000_002),
            ("Y2".into(), 1_700_000_004)
        ]
    );
    match policy.verify_checkpoint(&cosign(&[0, 3])) {
        Err(PolicyCheckError::NoQuorum {
            cosigned, missing, ..
        }) => {
            assert_eq!(cosigned, ["X1", "Y1"]);
            assert_eq!(missing, ["X2", "X3", "Y2", "Y3"]);
        }
        other => panic!("{other:?}"),
    }
    // A known witness's cosignature that does not verify rejects the note.
    let mut forged = cosign(&[0, 1]);
    let other = Checkpoint::new("example.com/log", 6, crate::log::empty_root()).unwrap();
    forged.push_str(&signers[3].cosign(&other.to_text(), 1).unwrap().to_line());
    assert!(matches!(
        policy.verify_checkpoint(&forged),
        Err(PolicyCheckError::BadCosignature { witness, .. }) if witness == "Y1"
    ));
    // Unknown cosigners are ignored; an unknown log is refused.
    let mut extra = cosign(&[0, 1, 5]);
    extra.push_str(&witness("Z", 99).cosign(&body, 1).unwrap().to_line());
    assert!(policy.verify_checkpoint(&extra).is_ok());
    let stranger = NoteSigner::new("example.com/other", SigningKey::from_bytes(&[2; 32])).unwrap();
    let foreign = Checkpoint::new("example.com/other", 5, crate::log::empty_root()).unwrap();
    assert!(matches!(
        policy.verify_checkpoint(&foreign.sign(&stranger)),
        Err(PolicyCheckError::Log(_))
    ));
}

#[test]
fn quorum_none_needs_no_witness() {
    let text = format!(
        "# just the log\n  log {}\t\nquorum none\n",
        log_signer().verifier()
    );
    let policy = Policy::parse(&text).unwrap();
    let cp = Checkpoint::new("example.com/log", 1, crate::log::empty_root()).unwrap();
    assert!(policy.verify_checkpoint(&cp.sign(&log_signer())).is_ok());
}

#[test]
fn malformed_policies_are_refused() {
    let w = witness("w", 5).verifier().to_text();
    let v = witness("v", 6).verifier().to_text();
    let l = log_signer().verifier().to_text();
    let cases = [
        String::new(),
        format!("witness a {w}\n"),
        format!("witness a {w}\nquorum a\nquorum a\n"),
        format!("quorum a\nwitness a {w}\n"),
        format!("witness a {w}\nwitness a {v}\nquorum a\n"),
        format!("witness a {w}\nwitness b {w}\nquorum a\n"),
        format!("witness none {w}\nquorum none\n"),
        format!("witness a {w}\ngroup g 2 a\nquorum g\n"),
        format!("witness a {w}\ngroup g 0 a\nquorum g\n"),
        format!("witness a {w}\ngroup g any a a\nquorum g\n"),
        format!("witness a {w}\ngroup g any b\nquorum g\n"),
        format!("witness a {w}\ngroup g any\nquorum g\n"),
        format!("witness a {l}\nquorum a\n"),
        format!("log {w}\nquorum none\n"),
        format!("log {l}\nlog {l}\nquorum none\n"),
        format!("witness a {w}\nquorum a\nfrobnicate\n"),
        format!("witness a {w}\r\nquorum a\n"),
    ];
    for bad in cases {
        assert!(Policy::parse(&bad).is_err(), "{bad:?}");
    }
}
