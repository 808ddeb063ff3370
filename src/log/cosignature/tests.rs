use super::*;
use crate::log::checkpoint::Checkpoint;
use crate::log::note::{open_note, NoteSigner};

const COSIGNED: &str = include_str!("../../../fixtures/vectors/c2sp/cosigned-checkpoint.txt");
const MESSAGE: &str = include_str!("../../../fixtures/vectors/c2sp/cosignature-v1-message.txt");
const RESPONSE: &str = include_str!("../../../fixtures/vectors/c2sp/add-checkpoint-response.txt");

fn signer(name: &str, seed: u8) -> CosignatureSigner {
    CosignatureSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
}

#[test]
fn the_spec_example_line_frames_a_timestamped_signature() {
    let line = COSIGNED.lines().last().unwrap();
    let cosig = Cosignature::parse_line(line).unwrap();
    assert_eq!(cosig.name, "witness.example.com/w1");
    assert_eq!(cosig.key_id, 0x8d66cf3f);
    // The spec's signed-message example shows `time 1679315147` for this checkpoint.
    assert_eq!(cosig.timestamp, 1679315147);
    assert_eq!(cosig.to_line(), format!("{line}\n"));
}

#[test]
fn the_signed_message_is_the_spec_example() {
    let body = COSIGNED.split("\n\n").next().unwrap().to_owned() + "\n";
    assert_eq!(signed_message(&body, 1679315147), MESSAGE.as_bytes());
}

#[test]
fn the_spec_response_lines_parse() {
    let names: Vec<String> = RESPONSE
        .lines()
        .map(|l| Cosignature::parse_line(l).unwrap().name)
        .collect();
    assert_eq!(
        names,
        [
            "witness.example/w1",
            "witness.example/w1",
            "witness.example/w2"
        ]
    );
}

#[test]
fn key_ids_use_type_0x04() {
    let s = signer("witness.example/w1", 3);
    let public = s.verifier();
    let mut h = Sha256::new();
    h.update(b"witness.example/w1\n\x04");
    h.update(public.verifying_key().as_bytes());
    let digest = h.finalize();
    let expected = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    assert_eq!(public.key_id(), expected);
    // Not the id a plain note key of the same name and key would have.
    let note = NoteSigner::new("witness.example/w1", SigningKey::from_bytes(&[3; 32])).unwrap();
    assert_ne!(note.key_id(), public.key_id());
    // The vkey says type 0x04 and round-trips; a 0x01 vkey is refused.
    let text = public.to_text();
    assert_eq!(
        B64.decode(text.rsplit('+').next().unwrap()).unwrap()[0],
        0x04
    );
    assert_eq!(CosignatureVerifier::from_text(&text).unwrap(), public);
    assert_eq!(
        CosignatureVerifier::from_text(&note.verifier().to_text()),
        Err(CosignatureError::WrongType { alg: 0x01 })
    );
    assert_eq!(
        CosignatureSigner::from_text(&s.to_text())
            .unwrap()
            .verifier(),
        public
    );
    assert!(!format!("{s:?}").contains(&s.to_text()[20..]));
}

#[test]
fn cosign_then_verify_over_a_real_checkpoint() {
    let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap();
    let cp = Checkpoint::new("example.com/log", 7, crate::log::empty_root()).unwrap();
    let note = cp.sign(&log);
    let w = signer("witness.example/w1", 2);
    let cosig = w.cosign(&cp.to_text(), 1_700_000_000).unwrap();
    assert_eq!(
        w.verifier().verify(&cp.to_text(), &cosig),
        Ok(1_700_000_000)
    );

    // Appended to the note, the line is ignored by a log-key verifier and parsed back.
    let full = format!("{note}{}", cosig.to_line());
    let opened = open_note(&full, &[&log.verifier()]).unwrap();
    let line = opened
        .signatures
        .iter()
        .find(|s| w.verifier().matches(s))
        .unwrap();
    assert_eq!(Cosignature::from_note_signature(line).unwrap(), cosig);

    // Another time, another checkpoint, another key: all refused.
    let mut later = cosig.clone();
    later.timestamp += 1;
    assert!(matches!(
        w.verifier().verify(&cp.to_text(), &later),
        Err(CosignatureError::InvalidSignature { .. })
    ));
    let other = Checkpoint::new("example.com/log", 8, crate::log::empty_root()).unwrap();
    assert!(w.verifier().verify(&other.to_text(), &cosig).is_err());
    assert!(matches!(
        signer("witness.example/w2", 2)
            .verifier()
            .verify(&cp.to_text(), &cosig),
        Err(CosignatureError::OtherKey { .. })
    ));
    assert_eq!(
        w.cosign(&cp.to_text(), 1 << 63),
        Err(CosignatureError::TimestampRange { timestamp: 1 << 63 })
    );
}

#[test]
fn malformed_lines_and_keys_are_refused() {
    for bad in [
        "",
        "— w1",
        "- w1 AAAA",
        "— w1 AAAA",
        "— w 1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==",
    ] {
        assert!(Cosignature::parse_line(bad).is_err(), "{bad:?}");
    }
    let good = signer("w1", 4).verifier().to_text();
    for bad in [
        good.replacen("+", "++", 1),
        good.replacen("w1+", "w2+", 1),
        format!("{good}A"),
        "w1+00000000".to_owned(),
    ] {
        assert!(CosignatureVerifier::from_text(&bad).is_err(), "{bad}");
    }
}
