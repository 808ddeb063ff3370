//! The kept fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' own bodies
//! (`lodestone::fuzzing`), on stable Rust: every input fuzzing found or was seeded with stays a
//! regression test. `.ci/fuzz.sh` runs the targets themselves for a short while.

use std::path::Path;

#[test]
fn every_kept_input_passes_its_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut ran = 0;
    for (name, target) in lodestone::fuzzing::TARGETS {
        let dir = corpus.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps a corpus)", dir.display()));
        let mut files = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
            files += 1;
        }
        assert!(files > 0, "{name} has an empty corpus");
        ran += files;
    }
    assert!(ran >= lodestone::fuzzing::TARGETS.len());
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in lodestone::fuzzing::TARGETS {
        let source = root.join(format!("fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("lodestone::fuzzing::{name}(")),
            "{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} in fuzz/Cargo.toml"
        );
    }
}
