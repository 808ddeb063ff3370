//! The machine's raw limits, measured in the same run as the ledger: Ed25519 batch
//! verification on all cores (what signature checking could cost at best) and sled batched
//! writes with one flush per block (what durable storage could cost at best).

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

use crate::synth::{SplitMix64, World};

use super::{median, rate};

/// Signatures per `verify_batch` call, as the sequencer does (`ledger::signatures`).
const CHUNK: usize = 64;

/// Ed25519 batch-verification rates.
pub struct VerifyRates {
    /// Signatures per second, rayon over chunks of 64, all cores.
    pub all_cores: f64,
    /// Signatures per second, chunks of 64, one core.
    pub one_core: f64,
    /// Signatures in the sample.
    pub sample: usize,
}

/// Measures batch verification over `count` real synthetic envelopes (PAE messages of the
/// ledger's own events, signed by the world's keys); median of five rounds.
pub fn batch_verify(world: &World, count: usize) -> VerifyRates {
    let events: Vec<_> = world.lane(9_000).take(count).collect();
    let envelopes = world.sign_all(&events);
    let checks: Vec<(Vec<u8>, Signature, VerifyingKey)> = envelopes
        .iter()
        .zip(&events)
        .map(|(envelope, event)| {
            let sig = Signature::from_slice(&envelope.signatures[0].sig).expect("64 bytes");
            let key = world.actors()[event.signer].key.verifying_key();
            (envelope.pae(), sig, key)
        })
        .collect();
    let verify = |chunk: &[(Vec<u8>, Signature, VerifyingKey)]| {
        let messages: Vec<&[u8]> = chunk.iter().map(|c| c.0.as_slice()).collect();
        let signatures: Vec<Signature> = chunk.iter().map(|c| c.1).collect();
        let keys: Vec<VerifyingKey> = chunk.iter().map(|c| c.2).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys)
            .expect("synthetic signatures verify");
    };
    let all_cores = median(
        (0..5)
            .map(|_| {
                let start = Instant::now();
                checks.par_chunks(CHUNK).for_each(verify);
                rate(checks.len(), start.elapsed())
            })
            .collect(),
    );
    let part = &checks[..(checks.len() / 4).max(CHUNK.min(checks.len()))];
    let one_core = median(
        (0..3)
            .map(|_| {
                let start = Instant::now();
                part.chunks(CHUNK).for_each(verify);
                rate(part.len(), start.elapsed())
            })
            .collect(),
    );
    VerifyRates {
        all_cores,
        one_core,
        sample: checks.len(),
    }
}

/// Bare sled write rates.
pub struct SledRates {
    /// Inserts per second, counting the flush of every block.
    pub inserts_per_sec: f64,
    /// Median time of one block (batch + flush), milliseconds.
    pub block_ms: f64,
    /// Median time of the flush alone, milliseconds.
    pub flush_ms: f64,
    /// Slowest flush, milliseconds.
    pub flush_max_ms: f64,
    /// Blocks written.
    pub blocks: usize,
}

/// Inserts per block, and value size: about one ledger entry.
pub const SLED_BLOCK: usize = 1_000;
const SLED_VALUE: usize = 600;

/// Writes `blocks` blocks of [`SLED_BLOCK`] inserts of 600 random bytes (big-endian counter
/// keys, like entry keys) into a bare sled database with the store's cache size, each block one
/// `apply_batch` and one `flush`.
pub fn sled_write(dir: &Path, blocks: usize) -> anyhow::Result<SledRates> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(128 * 1024 * 1024)
        .open()?;
    let mut rng = SplitMix64::new(600);
    let mut value = vec![0u8; SLED_VALUE];
    let mut block_times = Vec::with_capacity(blocks);
    let mut flush_times = Vec::with_capacity(blocks);
    let mut total = Duration::ZERO;
    for block in 0..blocks {
        let mut batch = sled::Batch::default();
        for i in 0..SLED_BLOCK {
            value
                .chunks_mut(8)
                .for_each(|c| c.copy_from_slice(&rng.next_u64().to_le_bytes()[..c.len()]));
            let key = ((block * SLED_BLOCK + i) as u64).to_be_bytes();
            batch.insert(&key[..], value.as_slice());
        }
        let start = Instant::now();
        db.apply_batch(batch)?;
        let flushing = Instant::now();
        db.flush()?;
        flush_times.push(flushing.elapsed().as_secs_f64() * 1e3);
        block_times.push(start.elapsed().as_secs_f64() * 1e3);
        total += start.elapsed();
    }
    Ok(SledRates {
        inserts_per_sec: rate(blocks * SLED_BLOCK, total),
        block_ms: median(block_times),
        flush_max_ms: flush_times.iter().copied().fold(0.0, f64::max),
        flush_ms: median(flush_times),
        blocks,
    })
}

/// Raw `fdatasync` rates: appends of one size, each followed by `fdatasync`, to one file.
pub struct SyncRates {
    /// 4 KiB appends synced per second.
    pub small_per_sec: f64,
    /// 1 MiB appends synced per second.
    pub large_per_sec: f64,
}

/// Measures append + `fdatasync` of 4 KiB (`small` times) and 1 MiB (`large` times) in `dir`:
/// the floor under every durable block commit.
pub fn fdatasync(dir: &Path, small: usize, large: usize) -> anyhow::Result<SyncRates> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fdatasync.bin");
    let run = |size: usize, count: usize| -> anyhow::Result<f64> {
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0x5au8; size];
        let start = Instant::now();
        for _ in 0..count {
            file.write_all(&chunk)?;
            file.sync_data()?;
        }
        Ok(rate(count, start.elapsed()))
    };
    let small_per_sec = run(4096, small)?;
    let large_per_sec = run(1 << 20, large)?;
    let _ = std::fs::remove_file(&path);
    Ok(SyncRates {
        small_per_sec,
        large_per_sec,
    })
}
