//! Where the append path spends its time: the sequencer's stages (`crate::sequencer`) and the
//! write handler's receipt building (`crate::http`), redone one stage at a time with the same
//! library calls, on blocks of pre-signed synthetic events, over a closed ledger. Each stage is
//! timed alone, so the figures add up to the CPU time of one entry's trip through the server.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::http::{receipt, ReceiptBody};
use crate::ledger::signatures::{pre_verify, EnvelopeSignatures};
use crate::ledger::{self, EntryContext, Overlay, StateView};
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteSigner;
use crate::model::entry::Entry;
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::service::DataDir;
use crate::store::{read_secret_file, Block, Store};
use crate::synth::{SyntheticEvent, World};

/// The stages, in the order an entry meets them, and whether they run on all cores.
pub const STAGES: [(&str, bool); 10] = [
    ("parse request JSON (envelope, event)", false),
    ("batch-verify signatures (wall, all cores)", true),
    ("encode entry + envelope digest", false),
    (
        "validate + apply (ledger rules, uncached sled reads)",
        false,
    ),
    ("leaf hash + frontier", false),
    ("sign checkpoint (per block)", false),
    ("commit block: log append + fdatasync, state batch", false),
    (
        "build receipts (shared checkpoint, memoised proof reads)",
        false,
    ),
    ("serialise receipts to JSON", false),
    (
        "  of which per-element balance (inside validate + apply)",
        false,
    ),
];

/// Wall time per entry of each stage of [`STAGES`], microseconds, and the state (sled) keys
/// written per entry.
pub struct Breakdown {
    /// Per stage, microseconds per entry.
    pub micros: Vec<f64>,
    /// Entries per block.
    pub block: usize,
    /// Blocks measured.
    pub blocks: usize,
    /// State keys the block commits wrote, per entry (records and the applied size; the log's
    /// entries, nodes and checkpoint go to the segment files).
    pub keys_per_entry: f64,
}

/// Appends `blocks` blocks of `block` events from `lane` to the closed ledger in `dir`,
/// stage by stage.
pub fn measure(
    world: &World,
    dir: &DataDir,
    lane: u32,
    blocks: usize,
    block: usize,
) -> anyhow::Result<Breakdown> {
    let signer = NoteSigner::from_text(read_secret_file(&dir.log_key())?.trim())?;
    let store = Store::open(dir.root())?;
    let mut head = store.head()?.context("the ledger is empty")?;
    let mut lane = world.lane(lane);
    let mut spent = [Duration::ZERO; STAGES.len()];
    let mut keys = 0usize;
    let mut timed = |stage: usize, start: Instant| spent[stage] += start.elapsed();
    for _ in 0..blocks {
        let events: Vec<SyntheticEvent> = lane.by_ref().take(block).collect();
        let bodies: Vec<Vec<u8>> = world
            .sign_all(&events)
            .iter()
            .map(Envelope::to_json)
            .collect();

        let start = Instant::now();
        let parsed = bodies
            .iter()
            .map(|body| {
                let envelope = Envelope::from_json(body)?;
                let event = Event::from_json(&envelope.payload)?;
                Ok((envelope, event))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        timed(0, start);

        let start = Instant::now();
        let items: Vec<(&Envelope, &Event)> = parsed.iter().map(|(e, ev)| (e, ev)).collect();
        let verified = pre_verify(&items, |key_id| {
            store.key(key_id).ok().flatten().map(|r| r.public_key)
        });
        timed(1, start);

        let logged_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .max(head.last_logged_at_ms);
        let mut next = head.clone();
        let mut out = Block::default();
        let mut overlay = Overlay::new(&store);
        for ((envelope, event), verified) in parsed.iter().zip(&verified) {
            let start = Instant::now();
            let bytes = Entry {
                index: next.size,
                prev: next.last_leaf,
                logged_at_ms,
                envelope: envelope.clone(),
            }
            .encode()?;
            let ctx = EntryContext {
                index: next.size,
                logged_at_ms,
                envelope_digest: envelope.digest(),
            };
            timed(2, start);
            if let crate::model::event::EventBody::Transform(t) = &event.body {
                // The element balance alone (issue 12), on input records read beforehand: its
                // arithmetic, which `apply` below runs again as part of the rules.
                let inputs: Vec<_> = t
                    .inputs
                    .iter()
                    .filter_map(|i| overlay.batch(&i.batch).ok().flatten())
                    .collect();
                if inputs.len() == t.inputs.len() {
                    let start = Instant::now();
                    let _ = std::hint::black_box(ledger::element_balance(t, &inputs));
                    timed(9, start);
                }
            }
            let start = Instant::now();
            let signatures = EnvelopeSignatures::new(envelope, verified);
            ledger::apply(&mut overlay, &ctx, event, &signatures)
                .with_context(|| format!("synthetic event {} was refused", event.id))?;
            timed(3, start);
            let start = Instant::now();
            let leaf = leaf_hash(&bytes);
            next.frontier.append(leaf, &mut out.nodes);
            out.entries.push((next.size, bytes));
            next.last_leaf = leaf;
            next.size += 1;
            timed(4, start);
        }
        out.changes = overlay.into_changes();

        let start = Instant::now();
        next.root = next.frontier.root();
        next.last_logged_at_ms = logged_at_ms;
        next.checkpoint = Checkpoint {
            origin: signer.name().to_owned(),
            size: next.size,
            root: next.root,
            extensions: Vec::new(),
        }
        .sign(&signer);
        timed(5, start);

        let changes = &out.changes;
        keys += changes.actors.len()
            + changes.keys.len()
            + changes.sites.len()
            + changes.batches.len()
            + changes.events.len()
            + 1;
        let start = Instant::now();
        store.commit_block(&out, &next)?;
        timed(6, start);
        let first = head.size;
        head = next;

        let start = Instant::now();
        // As the write handler does it: the block's checkpoint parsed once, proof reads shared.
        let checkpoint = receipt::parse_own_checkpoint(&head.checkpoint)
            .map_err(|e| anyhow::anyhow!(e.detail))?;
        let ahead =
            receipt::ReceiptNodes::read(&store, (first..head.size).map(|i| (i, head.size)))?;
        let reader = receipt::MemoReader::new(&store, &ahead);
        let receipts = (first..head.size)
            .map(|index| {
                receipt::build_against(&reader, index, &head.checkpoint, &checkpoint)
                    .map_err(|e| anyhow::anyhow!(e.detail))
            })
            .collect::<anyhow::Result<Vec<ReceiptBody>>>()?;
        timed(7, start);
        let start = Instant::now();
        let json = serde_json::to_vec(&receipts)?;
        std::hint::black_box(json);
        timed(8, start);
    }
    let entries = (blocks * block) as f64;
    Ok(Breakdown {
        micros: spent
            .iter()
            .map(|d| d.as_secs_f64() * 1e6 / entries)
            .collect(),
        block,
        blocks,
        keys_per_entry: keys as f64 / entries,
    })
}
