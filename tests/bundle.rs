//! Provenance bundles (DESIGN.md §6, issue 4): a bundle for a scenario magnet, fetched from a
//! real server, verifies offline — in the library, with `lodestone verify-bundle`, and through
//! `POST /v1/verify` — and the same bundle with ONE byte changed anywhere is rejected with the
//! failure located: every byte of every entry's leaf and of every proof hash (`entry <index>`),
//! every byte of the checkpoint text (`checkpoint`), and a sample of the file's raw bytes
//! (`bundle` when it no longer parses). Removing an entry is rejected too.

use crate::support;

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use lodestone::audit::bundle::{verify_bundle, verify_bundle_json, Bundle, BundleReport};
use lodestone::http::{self, AppState};
use lodestone::log::note::{NoteSigner, NoteVerifier};
use lodestone::model::entry::Entry;
use lodestone::model::envelope::Envelope;
use lodestone::model::event::{Event, EventBody};
use lodestone::model::ids::{ActorId, BatchId, Timestamp};
use lodestone::model::keys::SecretKeyFile;
use lodestone::scenario::Scenario;
use lodestone::service::{DataDir, InitOptions, LogService};
use lodestone::store::read_secret_file;
use serde_json::{json, Value};
use support::{flip, get_bytes, post_json, run};

/// A ledger with the seed scenario, served in-process on 127.0.0.1:0.
struct Fixture {
    dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    service: Option<LogService>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    url: String,
    /// The log's verifier key, text form (`log.pub`).
    key_text: String,
    verifier: NoteVerifier,
    authority: ActorId,
    authority_key: SigningKey,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("ledger"));
        LogService::init(&data, &InitOptions::default()).unwrap();
        let service = open_after_init(&data);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(http::serve(listener, AppState::new(&service), async {
            let _ = stopped.await;
        }));

        // Load the scenario through the real write path, signed by this ledger's authority.
        let (file, authority_key) =
            SecretKeyFile::parse(&read_secret_file(&data.authority_key()).unwrap()).unwrap();
        let authority: ActorId = file.actor.unwrap().parse().unwrap();
        // The scenario moved to end now: the ledger was created a moment ago, and events may
        // be dated at most its backfill window before their signer's registration.
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        let envelopes = Scenario::builtin()
            .unwrap()
            .rebased(&Timestamp::from_unix_millis(now_ms - now_ms % 1000).unwrap())
            .unwrap()
            .envelopes(&authority, &authority_key)
            .unwrap();
        let body =
            json!({"envelopes": envelopes.iter().map(|e| e.to_json_value()).collect::<Vec<_>>()});
        let (status, answer) = post_json(
            &format!("{url}/v1/entries:batch"),
            &serde_json::to_vec(&body).unwrap(),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["rejected"], 0, "{answer}");
        assert_eq!(answer["accepted"], envelopes.len());

        let key_text = support::log_key(data.root());
        let verifier = NoteVerifier::from_text(&key_text).unwrap();
        Fixture {
            dir,
            runtime: Some(runtime),
            service: Some(service),
            stop: Some(stop),
            url,
            key_text,
            verifier,
            authority,
            authority_key,
        }
    }

    /// Appends one more entry (a registration signed by the authority): the log grows.
    fn append_registration(&self, subject: &str) {
        let event = json!({"kind": "register_actor", "id": format!("reg-{subject}"),
            "actor": self.authority.to_string(), "log": "lodestone.example/rare-earths",
            "occurred_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "subject": subject, "name": subject, "country": "DE", "roles": ["trader"],
            "sites": [],
            "public_keys": [B64.encode(SigningKey::from_bytes(&[3; 32]).verifying_key().as_bytes())]});
        let envelope =
            Envelope::sign(serde_json::to_vec(&event).unwrap(), &[&self.authority_key]).unwrap();
        let (status, receipt) = post_json(&format!("{}/v1/entries", self.url), &envelope.to_json());
        assert_eq!(status, 201, "{receipt}");
    }

    /// The bundle the server builds for `batch`, as the bytes it sends.
    fn bundle_bytes(&self, batch: &BatchId) -> Vec<u8> {
        get_bytes(&format!("{}/v1/batches/{batch}/bundle", self.url))
    }

    /// `lodestone verify-bundle FILE --log-key KEY --json` on `bytes`: exit code and report.
    fn verify_cli(&self, bytes: &[u8]) -> (Option<i32>, Value) {
        let path = self.dir.path().join("candidate.bundle.json");
        std::fs::write(&path, bytes).unwrap();
        let out = run(&[
            "verify-bundle",
            path.to_str().unwrap(),
            "--log-key",
            &self.key_text,
            "--json",
        ]);
        assert!(!out.stderr.contains("panicked"), "{}", out.dump());
        let report = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "verify-bundle --json printed no JSON ({e}):\n{}",
                out.dump()
            )
        });
        (out.code, report)
    }

    /// `POST /v1/verify` with `bytes`: the report.
    fn verify_http(&self, bytes: &[u8]) -> Value {
        let (status, report) = post_json(&format!("{}/v1/verify", self.url), bytes);
        assert_eq!(status, 200, "{report}");
        report
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        if let Some(service) = self.service.take() {
            service.shutdown();
        }
    }
}

/// `LogService::open` right after `LogService::init`, waiting while the handle `init` just
/// dropped still locks the database (the race `demo` has too: see the ignored test in
/// tests/demo.rs).
fn open_after_init(data: &DataDir) -> LogService {
    for _ in 0..80 {
        match LogService::open(data) {
            Ok(service) => return service,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(e) => panic!("open: {e}"),
        }
    }
    panic!("the ledger stayed locked");
}

fn gm_magnet() -> BatchId {
    Scenario::featured_batches()
        .into_iter()
        .find(|(label, _)| *label == "gm-magnet")
        .expect("featured GM magnet")
        .1
}

/// Requires a rejection whose failures are all located at `location`.
#[track_caller]
fn assert_rejected_at(report: &BundleReport, location: &str, what: &str) {
    assert!(!report.verified, "{what}: accepted");
    assert!(
        !report.failures.is_empty(),
        "{what}: rejected without a failure"
    );
    for failure in &report.failures {
        assert_eq!(
            failure.location, location,
            "{what}: located at {:?} ({}), expected {location:?}",
            failure.location, failure.problem
        );
    }
    assert!(
        report.origins.is_none(),
        "{what}: a rejected bundle reports no origins"
    );
}

/// Requires a rejection in the CLI (exit 1) and over HTTP, located at `location`.
#[track_caller]
fn assert_rejected_everywhere(fx: &Fixture, bytes: &[u8], location: &str, what: &str) {
    let (code, report) = fx.verify_cli(bytes);
    assert_eq!(code, Some(1), "{what}: verify-bundle exit code; {report}");
    assert_eq!(report["verified"], false, "{what}: {report}");
    assert_eq!(
        report["failures"][0]["location"], location,
        "{what}: {report}"
    );
    let report = fx.verify_http(bytes);
    assert_eq!(report["verified"], false, "{what}: {report}");
    assert_eq!(
        report["failures"][0]["location"], location,
        "{what}: {report}"
    );
}

fn to_json(bundle: &Bundle) -> Vec<u8> {
    serde_json::to_vec(bundle).unwrap()
}

#[test]
fn scenario_bundles_verify_offline_in_the_cli_and_over_http() {
    let fx = Fixture::new();
    for (label, batch) in Scenario::featured_batches() {
        let bytes = fx.bundle_bytes(&batch);
        let report = verify_bundle_json(&bytes, &fx.verifier);
        assert!(report.verified, "{label}: {:#?}", report.failures);
        assert!(report.failures.is_empty());
        let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(bundle.batch, batch);
        assert_eq!(report.entries_proven, bundle.entries.len(), "{label}");
        assert_eq!(bundle.entries[0].index, 0, "{label}: genesis is bundled");
        let origins = report.origins.as_ref().expect("origin shares");
        // The post-consumer oxide (issue 12) is all recycled: no mined origins.
        if label != "post-consumer-oxide" {
            assert!(!origins.origins_by_country.is_empty(), "{label}");
        }
        assert!(
            !report.cannot_prove.is_empty(),
            "{label}: the limits are stated"
        );
    }

    let batch = gm_magnet();
    let bytes = fx.bundle_bytes(&batch);
    let library = verify_bundle_json(&bytes, &fx.verifier);
    let origins = library.origins.as_ref().unwrap();
    assert_eq!(origins.origins_by_country.len(), 1);
    assert_eq!(origins.origins_by_country[0].country.to_string(), "US");

    // The CLI: exit 0, the same report as the library; the text names the origin.
    let (code, cli) = fx.verify_cli(&bytes);
    assert_eq!(code, Some(0), "{cli}");
    assert_eq!(cli, serde_json::to_value(&library).unwrap());
    let path = fx.dir.path().join("magnet.bundle.json");
    std::fs::write(&path, &bytes).unwrap();
    let text = support::run_ok(&[
        "verify-bundle",
        path.to_str().unwrap(),
        "--log-key",
        &fx.key_text,
    ]);
    assert!(text.starts_with("bundle: OK"), "{text}");
    assert!(text.contains("country US: "), "{text}");
    assert!(text.contains("what this bundle cannot prove"), "{text}");

    // The HTTP verifier: the same report.
    let http = fx.verify_http(&bytes);
    assert_eq!(http, serde_json::to_value(&library).unwrap());

    // With another key of the same name nothing verifies, and the checkpoint is blamed.
    let impostor = NoteSigner::new(
        library.origin.as_deref().unwrap(),
        SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap()
    .verifier();
    assert_rejected_at(
        &verify_bundle_json(&bytes, &impostor),
        "checkpoint",
        "another key",
    );
}

#[test]
fn one_byte_changed_in_any_entry_leaf_is_rejected_at_that_entry() {
    let fx = Fixture::new();
    let bytes = fx.bundle_bytes(&gm_magnet());
    let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
    let mut tried = 0;
    for (k, entry) in bundle.entries.iter().enumerate() {
        let leaf = B64.decode(&entry.leaf).unwrap();
        let location = format!("entry {}", entry.index);
        for at in 0..leaf.len() {
            let mut tampered = bundle.clone();
            tampered.entries[k].leaf = B64.encode(flip(&leaf, at));
            let report = verify_bundle(&tampered, &fx.verifier);
            assert_rejected_at(&report, &location, &format!("{location}, leaf byte {at}"));
            tried += 1;
        }
        // Through the CLI and HTTP for one byte in the middle of each entry's event payload.
        let mut tampered = bundle.clone();
        tampered.entries[k].leaf = B64.encode(flip(&leaf, leaf.len() / 2));
        assert_rejected_everywhere(&fx, &to_json(&tampered), &location, &location);
    }
    assert!(tried > 1_000, "only {tried} leaf bytes");
}

#[test]
fn one_byte_changed_in_any_proof_hash_is_rejected_at_that_entry() {
    let fx = Fixture::new();
    let bytes = fx.bundle_bytes(&gm_magnet());
    let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
    for (k, entry) in bundle.entries.iter().enumerate() {
        let location = format!("entry {}", entry.index);
        assert!(!entry.proof.is_empty(), "{location} has a proof");
        for (p, _) in entry.proof.iter().enumerate() {
            for at in 0..32 {
                let mut tampered = bundle.clone();
                tampered.entries[k].proof[p].0[at] ^= 0x01;
                let report = verify_bundle(&tampered, &fx.verifier);
                assert_rejected_at(
                    &report,
                    &location,
                    &format!("{location}, proof {p} byte {at}"),
                );
            }
        }
        // A proof hash dropped, or one added.
        let mut short = bundle.clone();
        short.entries[k].proof.pop();
        assert_rejected_at(
            &verify_bundle(&short, &fx.verifier),
            &location,
            "short proof",
        );
        let mut long = bundle.clone();
        long.entries[k].proof.push(entry.proof[0]);
        assert_rejected_at(&verify_bundle(&long, &fx.verifier), &location, "long proof");

        let mut tampered = bundle.clone();
        tampered.entries[k].proof[0].0[0] ^= 0x80;
        assert_rejected_everywhere(&fx, &to_json(&tampered), &location, &location);
    }
}

#[test]
fn one_byte_changed_in_the_checkpoint_is_rejected_at_the_checkpoint() {
    let fx = Fixture::new();
    let bytes = fx.bundle_bytes(&gm_magnet());
    let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
    let text = bundle.checkpoint.as_bytes().to_vec();
    let mut tried = 0;
    for at in 0..text.len() {
        // The dash of the signature line is U+2014 (three bytes); a change there that is not
        // UTF-8 cannot be a JSON string — the raw-file test covers those bytes.
        let Ok(changed) = String::from_utf8(flip(&text, at)) else {
            continue;
        };
        let mut tampered = bundle.clone();
        tampered.checkpoint = changed;
        let report = verify_bundle(&tampered, &fx.verifier);
        assert_rejected_at(&report, "checkpoint", &format!("checkpoint byte {at}"));
        tried += 1;
        if at % 40 == 0 {
            assert_rejected_everywhere(&fx, &to_json(&tampered), "checkpoint", "checkpoint");
        }
    }
    assert!(
        tried + 3 >= text.len(),
        "only {tried} of {} bytes",
        text.len()
    );

    // A genuine, newer checkpoint of the same log swapped in: it verifies, but the proofs lead
    // to the old root, so every entry is blamed.
    fx.append_registration("late-comer");
    let (_, log) = support::get_json(&format!("{}/v1/log", fx.url));
    let newer = log["checkpoint"].as_str().unwrap().to_owned();
    assert_ne!(newer, bundle.checkpoint);
    let mut swapped = bundle.clone();
    swapped.checkpoint = newer;
    let report = verify_bundle(&swapped, &fx.verifier);
    assert!(!report.verified);
    assert_eq!(
        report.failures.len(),
        bundle.entries.len(),
        "{:#?}",
        report.failures
    );
    assert!(report
        .failures
        .iter()
        .all(|f| f.location.starts_with("entry ")));
}

#[test]
fn one_byte_changed_anywhere_in_the_file_is_rejected_and_located() {
    let fx = Fixture::new();
    let bytes = fx.bundle_bytes(&gm_magnet());
    let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
    let indexes: BTreeSet<u64> = bundle.entries.iter().map(|e| e.index).collect();
    // Every byte of the file's head (format, batch, checkpoint) and a stride through the rest.
    let head = bytes
        .windows(b"\"entries\"".len())
        .position(|w| w == b"\"entries\"")
        .unwrap();
    let positions: Vec<usize> = (0..head).chain((head..bytes.len()).step_by(7)).collect();
    let mut located = std::collections::BTreeMap::<String, usize>::new();
    for &at in &positions {
        let tampered = flip(&bytes, at);
        let report = verify_bundle_json(&tampered, &fx.verifier);
        let what = format!(
            "raw byte {at} ({:?} -> {:?})",
            bytes[at] as char, tampered[at] as char
        );
        assert!(!report.verified, "{what}: accepted");
        assert!(!report.failures.is_empty(), "{what}");
        let location = &report.failures[0].location;
        let ok = match location.strip_prefix("entry ") {
            // An entry named by the original bundle, or the index the change just wrote.
            Some(n) => n.parse::<u64>().is_ok_and(|n| {
                indexes.contains(&n)
                    || String::from_utf8_lossy(&tampered).contains(&format!("\"index\":{n},"))
            }),
            None => location == "bundle" || location == "checkpoint",
        };
        assert!(
            ok,
            "{what}: located at {location:?}: {}",
            report.failures[0].problem
        );
        let kind = location.split(' ').next().unwrap().to_owned();
        *located.entry(kind).or_default() += 1;
    }
    for kind in ["bundle", "checkpoint", "entry"] {
        assert!(
            located.contains_key(kind),
            "no change was located at {kind}: {located:?}"
        );
    }
    // A sample through the CLI and HTTP: rejected, exit 1.
    for &at in positions.iter().step_by(positions.len() / 8) {
        let tampered = flip(&bytes, at);
        let (code, report) = fx.verify_cli(&tampered);
        assert_eq!(code, Some(1), "raw byte {at}: {report}");
        assert_eq!(report["verified"], false);
        assert_eq!(
            fx.verify_http(&tampered)["verified"],
            false,
            "raw byte {at}"
        );
    }
    // Unparseable files are blamed on the bundle.
    for broken in [
        &bytes[..bytes.len() / 2],
        b"",
        b"[]",
        b"{\"format\":\"lodestone-bundle/v1\"}",
    ] {
        let report = verify_bundle_json(broken, &fx.verifier);
        assert_rejected_at(&report, "bundle", "unparseable");
        assert_rejected_everywhere(&fx, broken, "bundle", "unparseable");
    }
}

/// What an entry of the GM magnet's bundle is to the magnet.
enum Role {
    /// The magnet's history rests on it: genesis, a registration of a signer, a creation,
    /// a shipment or receipt along the chain. Removing it must be rejected.
    Foundation,
    /// A certificate on one of the batches.
    Certificate,
    /// A transform that used a batch of the chain but made nothing the magnet came from (a
    /// later use of the magnet, a sibling product of its metal), or a batch's retirement.
    LaterUse,
}

fn role(entry: &lodestone::audit::bundle::BundleEntry, upstream: &BTreeSet<String>) -> Role {
    let bytes = B64.decode(&entry.leaf).unwrap();
    let entry = Entry::decode(&bytes).unwrap();
    match Event::from_json(&entry.envelope.payload).unwrap().body {
        EventBody::Certify(_) => Role::Certificate,
        EventBody::Retire(_) => Role::LaterUse,
        EventBody::Transform(t)
            if !t
                .outputs
                .iter()
                .any(|o| upstream.contains(o.batch.as_str())) =>
        {
            Role::LaterUse
        }
        _ => Role::Foundation,
    }
}

/// The origin report without `remaining_g` (what is still held: not provable from a bundle).
fn origins_but_remaining(report: &BundleReport) -> Value {
    let mut origins = serde_json::to_value(&report.origins).unwrap();
    origins.as_object_mut().unwrap().remove("remaining_g");
    origins
}

#[test]
fn removing_an_entry_the_provenance_rests_on_is_rejected() {
    let fx = Fixture::new();
    for (label, batch) in Scenario::featured_batches() {
        let bundle: Bundle = serde_json::from_slice(&fx.bundle_bytes(&batch)).unwrap();
        let (_, provenance) =
            support::get_json(&format!("{}/v1/batches/{batch}/provenance", fx.url));
        let upstream: BTreeSet<String> = provenance["dag"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["batch"].as_str().unwrap().to_owned())
            .collect();
        assert!(upstream.contains(batch.as_str()), "{label}");
        let whole = verify_bundle(&bundle, &fx.verifier);
        assert!(whole.verified, "{label}");
        let mut foundations = 0;
        for k in 0..bundle.entries.len() {
            let mut tampered = bundle.clone();
            let removed = tampered.entries.remove(k);
            let report = verify_bundle(&tampered, &fx.verifier);
            match role(&removed, &upstream) {
                Role::Foundation => {
                    foundations += 1;
                    assert!(
                        !report.verified,
                        "{label}: removing entry {} went unnoticed",
                        removed.index
                    );
                    if k == 1 && label == "gm-magnet" {
                        assert_rejected_everywhere(
                            &fx,
                            &to_json(&tampered),
                            &report.failures[0].location,
                            "entry removed",
                        );
                    }
                }
                // A bundle cannot prove it is complete: dropping a later use changes only the
                // masses shown as still held, which every report says it cannot prove; the
                // origin shares it does prove stay the same.
                Role::LaterUse => {
                    assert!(report.verified, "{label}: entry {}", removed.index);
                    assert_eq!(
                        origins_but_remaining(&report),
                        origins_but_remaining(&whole),
                        "{label}: dropping entry {} changed the origins",
                        removed.index
                    );
                    assert!(report
                        .cannot_prove
                        .iter()
                        .any(|l| l.contains("masses still held")));
                }
                // Certificates: see the ignored test below.
                Role::Certificate => {}
            }
        }
        assert!(
            foundations >= 8,
            "{label}: only {foundations} foundation entries"
        );
    }

    let bundle: Bundle = serde_json::from_slice(&fx.bundle_bytes(&gm_magnet())).unwrap();
    let mut swapped = bundle.clone();
    swapped.entries.swap(1, 2);
    assert_rejected_at(
        &verify_bundle(&swapped, &fx.verifier),
        &format!("entry {}", bundle.entries[1].index),
        "reordered",
    );
    let mut duplicated = bundle.clone();
    duplicated.entries.insert(2, bundle.entries[1].clone());
    assert!(
        !verify_bundle(&duplicated, &fx.verifier).verified,
        "duplicated"
    );
    let mut emptied = bundle.clone();
    emptied.entries.clear();
    assert_rejected_at(
        &verify_bundle(&emptied, &fx.verifier),
        "bundle",
        "no entries",
    );
}

/// BUG (src/audit/bundle.rs:41-46 `LIMITS`, and `verify_bundle` at src/audit/bundle.rs:302):
/// a certificate entry can be dropped from a bundle and the bundle still verifies, with the
/// same report (here the origin audit of the magnet's NdPr oxide, entry 30 of the scenario; the
/// report does not list the certificates it carries at all). A bundle cannot prove it is
/// complete (nothing in the log commits to a batch's history), so the report must at least say
/// so: add to `LIMITS` something like "that no entry about these batches was left out: a
/// certificate or a later use may be missing; the server's `/v1/batches/{id}` history or the
/// full audit shows every entry" — and list the proven certificates in `BundleReport`.
/// Remove the ignore once fixed.
#[test]

fn dropping_a_certificate_is_rejected_or_stated_as_a_limit() {
    let fx = Fixture::new();
    let batch = gm_magnet();
    let bundle: Bundle = serde_json::from_slice(&fx.bundle_bytes(&batch)).unwrap();
    let upstream = BTreeSet::new();
    let certificates: Vec<usize> = (0..bundle.entries.len())
        .filter(|&k| matches!(role(&bundle.entries[k], &upstream), Role::Certificate))
        .collect();
    assert!(
        !certificates.is_empty(),
        "the GM magnet's chain has a certificate"
    );
    for k in certificates {
        let mut tampered = bundle.clone();
        let removed = tampered.entries.remove(k);
        let report = verify_bundle(&tampered, &fx.verifier);
        assert!(
            !report.verified || report.cannot_prove.iter().any(|l| l.contains("certific")),
            "certificate entry {} dropped: the bundle verifies and no limit says it could be \
             incomplete: {:#?}",
            removed.index,
            report.cannot_prove
        );
    }
}

/// BUG (src/audit/bundle.rs:417-422 `outside`): when an entry the provenance rests on is
/// removed — here the extraction of the GM magnet's ore (entry 14) — every later transform that
/// needs the missing batch is filed under `entries_outside_scope` ("not part of this batch's
/// provenance", which is false: they made the magnet's ancestors), and the failure surfaces far
/// downstream (entry 30, or only `bundle: provenance incomplete` when no later entry trips on
/// it). `outside` treats ANY unknown input of a transform as out of scope; it should do so only
/// when none of the transform's outputs is an ancestor of the bundle's batch (ancestors follow
/// from the bundled transforms' inputs and outputs), and otherwise fail at that entry:
/// "entry 18: input MP-ORE-2026-0001 is not created by any bundled entry". Remove the ignore
/// once fixed.
#[test]

fn a_missing_creation_is_located_at_the_first_entry_that_needs_it() {
    let fx = Fixture::new();
    let bundle: Bundle = serde_json::from_slice(&fx.bundle_bytes(&gm_magnet())).unwrap();
    // The first extraction in the bundle, and the first transform that consumes its batch.
    let decoded: Vec<(u64, Event)> = bundle
        .entries
        .iter()
        .map(|e| {
            let entry = Entry::decode(&B64.decode(&e.leaf).unwrap()).unwrap();
            (e.index, Event::from_json(&entry.envelope.payload).unwrap())
        })
        .collect();
    let (extract_index, ore) = decoded
        .iter()
        .find_map(|(i, e)| match &e.body {
            EventBody::Extract(x) => Some((*i, x.batch.clone())),
            _ => None,
        })
        .expect("an extraction");
    let consumer = decoded
        .iter()
        .find_map(|(i, e)| match &e.body {
            EventBody::Transform(t) if t.inputs.iter().any(|input| input.batch == ore) => Some(*i),
            _ => None,
        })
        .expect("a transform of the ore");
    let mut tampered = bundle.clone();
    tampered.entries.retain(|e| e.index != extract_index);
    let report = verify_bundle(&tampered, &fx.verifier);
    assert!(!report.verified);
    assert!(
        report.entries_outside_scope.is_empty(),
        "upstream transforms called out of scope: {:#?}",
        report.entries_outside_scope
    );
    assert_eq!(
        report.failures[0].location,
        format!("entry {consumer}"),
        "{:#?}",
        report.failures
    );
}

/// Issue 12: `verify-bundle --compliance` recomputes the server's verdict from the proven
/// entries alone, `lodestone report` prints it, and a tampered bundle gets no verdict at all.
#[test]
fn the_compliance_verdict_is_recomputed_offline_and_tampering_cannot_change_it() {
    let fx = Fixture::new();
    let batch: BatchId = "SE-MAG-GBD-2026-0001".parse().unwrap();
    let bytes = fx.bundle_bytes(&batch);
    let path = fx.dir.path().join("gbd.bundle.json");
    std::fs::write(&path, &bytes).unwrap();
    let offline = |policy: &str, file: &std::path::Path| {
        let out = run(&[
            "verify-bundle",
            file.to_str().unwrap(),
            "--log-key",
            &fx.key_text,
            "--compliance",
            policy,
            "--json",
        ]);
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", out.dump()));
        (out.code, report)
    };
    for policy in ["dfars-2027", "dfars-2026", "friend-shore", "crma-recycled"] {
        let (code, report) = offline(policy, &path);
        assert_eq!(code, Some(0), "{report}");
        let served: Value = serde_json::from_slice(&get_bytes(&format!(
            "{}/v1/batches/{batch}/compliance?policy={policy}",
            fx.url
        )))
        .unwrap();
        assert_eq!(report["compliance"], served["verdicts"][0], "{policy}");
        assert_eq!(report["elements"], served["elements"], "{policy}");
    }
    let (_, report) = offline("dfars-2027", &path);
    assert_eq!(report["compliance"]["verdict"], "fail");
    let (_, report) = offline("dfars-2026", &path);
    assert_eq!(report["compliance"]["verdict"], "pass");

    // Tampering: the Ganzhou separation entry is what fails dfars-2027. Altering its leaf, or
    // leaving it out, makes the bundle fail — and a failed bundle carries no verdict.
    let bundle: Bundle = serde_json::from_slice(&bytes).unwrap();
    let position = bundle
        .entries
        .iter()
        .position(|item| {
            let leaf = B64.decode(&item.leaf).unwrap();
            let entry = Entry::decode(&leaf).unwrap();
            let event = Event::from_json(&entry.envelope.payload).unwrap();
            event.id.as_ref() == "ev-creg-sep-0002"
        })
        .expect("the Dy separation is bundled");
    let mut altered = bundle.clone();
    let mut leaf = B64.decode(&altered.entries[position].leaf).unwrap();
    let text = String::from_utf8_lossy(&leaf).into_owned();
    let at = text
        .find("ganzhou-separation")
        .expect("the site is in the payload");
    leaf[at] = b'x';
    altered.entries[position].leaf = B64.encode(&leaf);
    let removed = {
        let mut b = bundle.clone();
        b.entries.remove(position);
        b
    };
    for (what, candidate) in [("altered", altered), ("removed", removed)] {
        let file = fx.dir.path().join(format!("{what}.bundle.json"));
        std::fs::write(&file, to_json(&candidate)).unwrap();
        let (code, report) = offline("dfars-2027", &file);
        assert_eq!(code, Some(1), "{what}: {report}");
        assert_eq!(report["verified"], false, "{what}");
        assert!(
            report.get("compliance").is_none(),
            "{what}: a verdict from a failed bundle: {report}"
        );
    }

    // `lodestone report`: the same verdicts from the server's bundle, as CSV and Markdown.
    let out = run(&[
        "report",
        batch.as_ref(),
        "--server",
        &fx.url,
        "--log-key",
        &fx.key_text,
        "--policy",
        "dfars-2026",
        "--format",
        "csv",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stdout.starts_with("policy,batch,verdict,outcome,stage"),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout
            .contains("dfars-2026,SE-MAG-GBD-2026-0001,pass,pass"),
        "{}",
        out.dump()
    );
    let out = run(&[
        "report",
        batch.as_ref(),
        "--server",
        &fx.url,
        "--log-key",
        &fx.key_text,
        "--policy",
        "dfars-2027",
        "--format",
        "markdown",
    ]);
    assert_eq!(
        out.code,
        Some(1),
        "a failing verdict exits 1: {}",
        out.dump()
    );
    assert!(
        out.stdout
            .contains("## dfars-2027 — SE-MAG-GBD-2026-0001: **fail**"),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout
            .contains("| fail | processing | ganzhou-separation | china-rare-earth-group | CN |"),
        "{}",
        out.dump()
    );
    let out = run(&[
        "report",
        batch.as_ref(),
        "--server",
        &fx.url,
        "--policy",
        "friend-shore",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let verdicts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdicts[0]["verdict"], "pass");
    assert!(
        out.stderr.contains("pass --log-key to pin it"),
        "{}",
        out.dump()
    );
}
