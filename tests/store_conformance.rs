//! The storage conformance suite (`lodestone::store::conformance`) against every backend: the
//! embedded one on a real directory, and the in-memory one that the fault tests use.

use std::path::PathBuf;

use lodestone::store::conformance::{self, Backend};
use lodestone::store::files::Faults;
use lodestone::store::{MemoryParts, Store};

struct Embedded {
    dir: PathBuf,
}

impl Backend for Embedded {
    fn fresh(&self) -> Store {
        Store::open(&self.dir).expect("a new embedded store opens")
    }
    fn reopen(&self) -> Store {
        Store::open(&self.dir).expect("the embedded store reopens")
    }
}

struct Memory {
    parts: std::sync::Mutex<Option<MemoryParts>>,
}

impl Backend for Memory {
    fn fresh(&self) -> Store {
        let (store, parts) =
            Store::memory("lodestone.example/rare-earths", &Faults::new()).expect("a memory store");
        *self.parts.lock().unwrap() = Some(parts);
        store
    }
    fn reopen(&self) -> Store {
        self.parts
            .lock()
            .unwrap()
            .as_ref()
            .expect("fresh first")
            .reopen()
            .expect("the memory store reopens")
    }
}

#[test]
fn embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&Embedded {
        dir: dir.path().join("ledger"),
    });
}

#[test]
fn memory_store_conforms() {
    conformance::run(&Memory {
        parts: std::sync::Mutex::new(None),
    });
}

#[test]
fn memory_store_conforms_after_power_loss_with_state_rebuilt() {
    // The state is flushed only in the background: after a power loss the reopened store must
    // replay the log into it and still pass every check.
    let memory = Memory {
        parts: std::sync::Mutex::new(None),
    };
    conformance::run(&memory);
    let parts = memory.parts.lock().unwrap().clone().unwrap();
    let before = parts.reopen().unwrap().head().unwrap();
    parts.power_loss();
    let store = parts.reopen().unwrap();
    assert_eq!(store.head().unwrap(), before, "every synced block survives");
    conformance::check_contents(&store, before.unwrap().size);
}
