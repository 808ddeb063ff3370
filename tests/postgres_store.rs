//! The PostgreSQL ledger store (`lodestone::store::postgres`) against a real server (see
//! `tests/support/pg.rs`): the storage conformance suite exactly as the embedded store runs it,
//! a schema from a newer version refused, one writer per database, and readers that never
//! write.

use crate::support;

use std::time::{Duration, Instant};

use lodestone::ledger::StateView as _;
use lodestone::model::envelope::Envelope;
use lodestone::model::event::Event;
use lodestone::model::ids::ActorId;
use lodestone::model::keys::SecretKeyFile;
use lodestone::sequencer::{Receipt, SequencerError, SequencerHandle, Submission};
use lodestone::service::{DataDir, InitOptions, LogService};
use lodestone::store::conformance::{self, Backend};
use lodestone::store::postgres::PgLedger;
use lodestone::store::{Store, StoreError};
use lodestone::synth::{SyntheticEvent, World, WorldSize};
use support::pg;

struct Postgres {
    url: String,
}

impl Backend for Postgres {
    fn fresh(&self) -> Store {
        Store::postgres(&self.url).expect("a new PostgreSQL store opens")
    }
    fn reopen(&self) -> Store {
        Store::postgres(&self.url).expect("the PostgreSQL store reopens")
    }
}

fn error_of(result: Result<Store, StoreError>) -> String {
    match result {
        Ok(_) => panic!("the store opened, but it should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn postgres_store_conforms() {
    let url = pg::database("conformance");
    conformance::run(&Postgres { url: url.clone() });
    // A reader sees everything the writer committed.
    let reader = Store::postgres_read_only(&url).expect("a reader opens");
    let head = reader.head().unwrap().expect("a head");
    conformance::check_contents(&reader, head.size);
}

#[test]
fn schema_from_a_newer_version_is_refused() {
    let url = pg::database("schema");
    drop(Store::postgres(&url).expect("a new store creates the schema"));
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let version: i32 = client
        .query_one("SELECT max(version) FROM lodestone_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, lodestone::store::postgres::schema::SCHEMA_VERSION);
    client
        .execute("INSERT INTO lodestone_schema (version) VALUES (99)", &[])
        .unwrap();
    for message in [
        error_of(Store::postgres(&url)),
        error_of(Store::postgres_read_only(&url)),
    ] {
        assert!(
            message.contains("schema is version 99")
                && message.contains("newer lodestone")
                && message.contains("reads version 1"),
            "{message}"
        );
    }
    // Nothing was changed by the refusals.
    let versions: i64 = client
        .query_one("SELECT count(*) FROM lodestone_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 2);
}

#[test]
fn a_database_without_a_ledger_is_not_read() {
    let url = pg::database("empty");
    let message = error_of(Store::postgres_read_only(&url));
    assert!(message.contains("not a Lodestone ledger"), "{message}");
}

#[test]
fn a_second_writer_is_refused_naming_the_first() {
    let url = pg::database("writers");
    let first = Store::postgres(&url).expect("the first writer opens");
    let started = std::time::Instant::now();
    let message = error_of(Store::postgres(&url));
    assert!(
        message.contains("another writer holds the ledger")
            && message.contains(&format!("lodestone {}@", std::process::id()))
            && message.contains("server backend pid"),
        "{message}"
    );
    assert!(started.elapsed() >= lodestone::store::LOCK_WAIT);
    // Readers are not writers: they open beside it.
    drop(Store::postgres_read_only(&url).expect("a reader opens beside the writer"));
    drop(first);
    // Once the first writer is gone, the next one opens (the lock goes with its session).
    drop(Store::postgres(&url).expect("a writer opens after the first one closed"));
}

#[test]
fn a_reader_refuses_writes_and_follows_the_writer() {
    let url = pg::database("reader");
    let store = Store::postgres(&url).unwrap();
    let reader = Store::postgres_read_only(&url).unwrap();
    assert_eq!(reader.head().unwrap(), None);
    // Its health is whether it can read; writes are refused all the same (below).
    assert_eq!(reader.health(), lodestone::store::Health::Ready);
    let sequencer = conformance::start(&store);
    let (_, authority) = conformance::suite_keys();
    let submissions = conformance::scenario_submissions(&authority);
    let receipts = sequencer
        .handle()
        .submit_blocking(submissions[..3].to_vec());
    sequencer.shutdown();
    for receipt in &receipts {
        conformance::check_receipt(&reader, receipt.as_ref().unwrap());
    }
    assert_eq!(reader.head().unwrap(), store.head().unwrap());
    let head = reader.head().unwrap().unwrap();
    let block = lodestone::store::Block {
        entries: vec![(head.size, b"x".to_vec())],
        ..Default::default()
    };
    let refused = reader.commit_block(&block, &head).unwrap_err();
    assert!(refused.is_read_only(), "{refused}");
    assert_eq!(
        reader.head().unwrap().unwrap().size,
        3,
        "nothing was written"
    );
}

/// A PostgreSQL ledger in a new database with the synthetic world of `seed`: its data
/// directory, the world, and the registrations followed by `events` signed events of lane 0
/// (those events too, for their ids).
struct WorldLedger {
    _dir: tempfile::TempDir,
    url: String,
    data: DataDir,
    world: World,
    envelopes: Vec<Envelope>,
    events: Vec<SyntheticEvent>,
}

impl WorldLedger {
    fn new(label: &str, seed: u64, events: usize) -> WorldLedger {
        let url = pg::database(label);
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("keys")).with_store(Some(url.clone()));
        LogService::init(&data, &InitOptions::default()).unwrap();
        let (file, key) =
            SecretKeyFile::parse(&std::fs::read_to_string(data.authority_key()).unwrap()).unwrap();
        let authority = ActorId::new(file.actor.unwrap()).unwrap();
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
        let world = World::new(seed, WorldSize::default()).starting_at(now - 60 * 86_400_000);
        let mut envelopes = world.registrations(&authority, &key);
        let events: Vec<SyntheticEvent> = world.lane(0).take(events).collect();
        envelopes.extend(world.sign_all(&events));
        WorldLedger {
            _dir: dir,
            url,
            data,
            world,
            envelopes,
            events,
        }
    }

    /// The next `n` events of lane 0, signed.
    fn more(&self, n: usize) -> Vec<Envelope> {
        let events: Vec<SyntheticEvent> =
            self.world.lane(0).skip(self.events.len()).take(n).collect();
        self.world.sign_all(&events)
    }
}

fn submissions(envelopes: &[Envelope]) -> Vec<Submission> {
    envelopes
        .iter()
        .map(|envelope| Submission {
            envelope: envelope.clone(),
            event: Event::from_json(&envelope.payload).unwrap(),
        })
        .collect()
}

/// Submits `envelopes` and checks that every one gets a receipt, a fresh one
/// (`duplicate: false`) or a retry's (`true`).
fn submit_all(handle: &SequencerHandle, envelopes: &[Envelope], duplicate: bool) {
    let outcomes: Vec<Result<Receipt, SequencerError>> =
        handle.submit_blocking(submissions(envelopes));
    for outcome in &outcomes {
        let receipt = outcome.as_ref().expect("a receipt");
        assert_eq!(receipt.duplicate, duplicate, "{receipt:?}");
    }
}

/// The writer answers most absent records from its key filter, built by a scan when it opens:
/// after a restart, every record stored before must still be found (a Bloom filter may not
/// forget a key), so a retry is a duplicate and not a second entry.
#[test]
fn a_reopened_writer_finds_every_stored_record_and_takes_retries_as_duplicates() {
    let ledger = WorldLedger::new("reopen", 0x5eed, 300);
    let service = LogService::open(&ledger.data).unwrap();
    submit_all(&service.handle(), &ledger.envelopes, false);
    let size = service.handle().head().size;
    drop(service);

    // Every stored record is found once the filter is built, with no cache to help.
    let store = PgLedger::open(&ledger.url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.key_filter_ready() {
        assert!(Instant::now() < deadline, "the key filter was never built");
        std::thread::sleep(Duration::from_millis(20));
    }
    for event in &ledger.events {
        let (actor, id) = (&event.event.actor, &event.event.id);
        assert!(
            store.event(actor, id).unwrap().is_some(),
            "event {id} of {actor} lost"
        );
    }
    let (actor, missing) = (
        &ledger.events[0].event.actor,
        "no-such-event".parse().unwrap(),
    );
    assert!(store.event(actor, &missing).unwrap().is_none());
    drop(store);

    // Through the sequencer, a retry of everything is answered as duplicates: nothing appended.
    let service = LogService::open(&ledger.data).unwrap();
    submit_all(&service.handle(), &ledger.envelopes, true);
    assert_eq!(service.handle().head().size, size);
}

/// The writer's session is killed under it (a database restart, a failover, an operator's
/// `pg_terminate_backend`): it takes the lock again and starts its caches over; nothing
/// acknowledged is lost, a retry is still a duplicate, and new events are appended.
#[test]
fn a_writer_whose_session_is_killed_reconnects_and_never_appends_a_retry_twice() {
    let ledger = WorldLedger::new("killed", 0x5eee, 100);
    let service = LogService::open(&ledger.data).unwrap();
    let handle = service.handle();
    submit_all(&handle, &ledger.envelopes, false);
    let size = handle.head().size;

    // Kill the writer's session: the one holding the advisory lock.
    let mut admin = postgres::Client::connect(&ledger.url, postgres::NoTls).unwrap();
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
             WHERE locktype = 'advisory' AND database = \
             (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the writer's session holds the lock");

    // The next writes may be refused while it reconnects; it then takes them. Retries of the
    // first events are duplicates whatever happened, and nothing is appended twice.
    let next = ledger.more(50);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outcomes = handle.submit_blocking(submissions(&next));
        if outcomes.iter().all(Result::is_ok) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never came back: {outcomes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    submit_all(&handle, &ledger.envelopes, true);
    assert_eq!(handle.head().size, size + next.len() as u64);
}
