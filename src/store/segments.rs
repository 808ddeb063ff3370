//! The log itself, in four append-only segment files: the source of truth of a ledger.
//!
//! | file | record | per entry |
//! | --- | --- | --- |
//! | `entries` | the canonical bincode bytes of each entry, back to back | the leaf bytes |
//! | `offsets` | u64 LE: the end offset of entry *i* in `entries` | 8 bytes |
//! | `tree` | every perfect Merkle node, 32 bytes each, in post-order | ≈ 64 bytes |
//! | `checkpoints` | a 16-byte header (`LDCKPT01`, u32 LE slot size, 4 zero bytes), then one fixed-size slot per block: u64 LE tree size, u16 LE note length, the signed checkpoint note, zero padding | — |
//!
//! **Post-order tree.** Appending a leaf completes the leaf node and then every perfect node
//! above it whose right edge it is (RFC 9162 §2.1: the frontier merges). Writing them in exactly
//! that order makes the file append-only, and node (level *l*, index *i*) sits at position
//! `2(m−1) − popcount(m−1) + l` with `m = (i+1)·2^l`: the nodes of the first `m−1` leaves, then
//! the leaf and its *l* parents. A tree of *n* leaves holds `2n − popcount(n)` nodes.
//!
//! **Write order of a block** (see docs/DESIGN.md, "Storage"):
//! 1. `entries`, `offsets` and `tree` are written at their durable lengths and each is
//!    `fdatasync`ed (the three in parallel);
//! 2. only then the block's checkpoint slot is written to `checkpoints` and synced;
//! 3. only then is the block durable: readers see it, receipts may be given.
//!
//! So a checkpoint slot on disk always covers data that was synced before it. At open, the log's
//! size is the last checkpoint slot whose data is all present; bytes past it (a block that was
//! being written when the process died) are cut off. A checkpoint slot whose data is *missing*
//! means the data files lost synced bytes (a restored copy, a truncated file, a lying disk):
//! the log then opens read-only ([`Opened::behind`]) and never signs at those sizes again.
//!
//! After a failed write or sync the files are cut back to the durable lengths before anything
//! else is written, so a failed block leaves nothing behind and the next block starts exactly
//! where the last durable one ended.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::files::LogFile;
use super::StoreError;
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::tree::{peak_ids, Frontier, NodeId};
use crate::log::Hash;

/// File names, in the order [`Files::from_vec`] takes them.
pub const FILE_NAMES: [&str; 4] = ["entries", "offsets", "tree", "checkpoints"];

const HEADER_MAGIC: &[u8; 8] = b"LDCKPT01";
const HEADER_LEN: u64 = 16;
/// Slot bytes in front of the note: size (u64) and note length (u16).
const SLOT_PREFIX: u64 = 10;
/// Largest checkpoint slot a header may name.
const MAX_SLOT: u64 = 64 * 1024;
/// Largest entry the entry format allows (DESIGN.md §2.2).
const MAX_ENTRY_LEN: u64 = 65_535;

/// Nodes stored for a tree of `size` leaves.
pub fn nodes_for(size: u64) -> u64 {
    2 * size - u64::from(size.count_ones())
}

/// Post-order position of a perfect node (see the module docs).
pub fn node_position(id: NodeId) -> u64 {
    let m = (id.index + 1) << id.level;
    nodes_for(m - 1) + u64::from(id.level)
}

/// The slot size for a log whose checkpoints are signed by a key named like its origin.
pub fn slot_size_for(origin: &str) -> u32 {
    // origin, size (≤ 20 digits), base64 root (44), blank line, "— " + name + " " +
    // base64(4-byte key id + 64-byte signature) (92), newlines; rounded up generously.
    let note = 2 * origin.len() + 20 + 44 + 92 + 16;
    u32::try_from(SLOT_PREFIX as usize + note + 64).unwrap_or(u32::MAX)
}

/// The four files.
#[derive(Clone)]
pub struct Files<F> {
    /// Entry bytes.
    pub entries: F,
    /// End offsets.
    pub offsets: F,
    /// Post-order node hashes.
    pub tree: F,
    /// Checkpoint slots.
    pub checkpoints: F,
}

impl<F> Files<F> {
    /// From a vector in [`FILE_NAMES`] order.
    pub fn from_vec(files: Vec<F>) -> Option<Files<F>> {
        let mut it = files.into_iter();
        Some(Files {
            entries: it.next()?,
            offsets: it.next()?,
            tree: it.next()?,
            checkpoints: it.next()?,
        })
    }
}

/// Where the durable log ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tail {
    /// Entries.
    size: u64,
    /// Bytes of `entries`.
    entry_bytes: u64,
    /// Checkpoint slots.
    slots: u64,
}

impl Tail {
    fn tree_bytes(&self) -> u64 {
        nodes_for(self.size) * Hash::LEN as u64
    }
    fn checkpoint_bytes(&self, slot: u64) -> u64 {
        HEADER_LEN + self.slots * slot
    }
}

/// What [`Segments::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// Size of the durable log served (a block boundary with its checkpoint).
    pub size: u64,
    /// The checkpoint signed at `size`, if the log is not empty.
    pub checkpoint: Option<String>,
    /// Set when a checkpoint the log signed covers entries the files no longer hold: the latest
    /// signed checkpoint, which must never be contradicted.
    pub behind: Option<String>,
    /// Bytes past the durable end that were cut off (a block that never became durable).
    pub trimmed: bool,
    /// With `behind`: which file ends before the entries the latest checkpoint covers.
    pub short: Option<String>,
}

struct Writer {
    tail: Tail,
    /// A write failed and the files may hold bytes past `tail`: cut them before writing again.
    dirty: bool,
}

/// The segment files of one log.
pub struct Segments<F: LogFile> {
    files: Files<F>,
    slot: u64,
    writer: Mutex<Writer>,
    /// Durable tail, published for readers (entries, slots).
    size: AtomicU64,
    slots: AtomicU64,
    read_only: bool,
}

fn io_err(file: &'static str, op: &'static str) -> impl Fn(io::Error) -> StoreError {
    move |source| StoreError::Io { file, op, source }
}

fn damaged(file: &'static str, detail: String) -> StoreError {
    StoreError::Damaged { file, detail }
}

impl<F: LogFile> Segments<F> {
    /// Opens the log in `files`, creating its header when `slot_size` is given and the
    /// checkpoint file is empty. `read_only` opens never change a file.
    pub fn open(
        files: Files<F>,
        slot_size: Option<u32>,
        read_only: bool,
    ) -> Result<(Segments<F>, Opened), StoreError> {
        let header_len = files
            .checkpoints
            .len()
            .map_err(io_err("checkpoints", "stat"))?;
        if header_len < HEADER_LEN {
            // Only a log with no data at all is new. Data without its checkpoint file is a log
            // that lost its checkpoints: starting a new one would cut the data off.
            let data = files.entries.len().map_err(io_err("entries", "stat"))?
                + files.offsets.len().map_err(io_err("offsets", "stat"))?
                + files.tree.len().map_err(io_err("tree", "stat"))?;
            let new_log = !read_only && header_len == 0 && data == 0;
            let Some(slot) = slot_size.filter(|_| new_log) else {
                return Err(damaged(
                    "checkpoints",
                    format!(
                        "{header_len} bytes, shorter than its 16-byte header, while the other log files hold {data} bytes: \
                         the checkpoints were lost; restore the ledger from a backup or recover it from a mirror"
                    ),
                ));
            };
            let mut header = [0u8; HEADER_LEN as usize];
            header[..8].copy_from_slice(HEADER_MAGIC);
            header[8..12].copy_from_slice(&slot.to_le_bytes());
            files
                .checkpoints
                .write_all_at(0, &header)
                .map_err(io_err("checkpoints", "write"))?;
            files
                .checkpoints
                .sync()
                .map_err(io_err("checkpoints", "sync"))?;
        }
        let mut header = [0u8; HEADER_LEN as usize];
        files
            .checkpoints
            .read_exact_at(0, &mut header)
            .map_err(io_err("checkpoints", "read"))?;
        if &header[..8] != HEADER_MAGIC {
            return Err(damaged("checkpoints", "bad header magic".into()));
        }
        let slot = u64::from(u32::from_le_bytes(
            header[8..12].try_into().expect("4 bytes"),
        ));
        if !(SLOT_PREFIX + 64..=MAX_SLOT).contains(&slot) {
            return Err(damaged(
                "checkpoints",
                format!("header names a slot size of {slot} bytes"),
            ));
        }
        let segments = Segments {
            files,
            slot,
            writer: Mutex::new(Writer {
                tail: Tail::default(),
                dirty: false,
            }),
            size: AtomicU64::new(0),
            slots: AtomicU64::new(0),
            read_only,
        };
        let opened = segments.recover()?;
        Ok((segments, opened))
    }

    /// Finds the durable end (module docs) and, when writable, cuts off what lies past it.
    fn recover(&self) -> Result<Opened, StoreError> {
        let files = &self.files;
        let checkpoint_len = files
            .checkpoints
            .len()
            .map_err(io_err("checkpoints", "stat"))?;
        let slots = (checkpoint_len - HEADER_LEN) / self.slot;
        let data_size = self.data_coverage()?;
        let mut opened = Opened {
            size: 0,
            checkpoint: None,
            behind: None,
            trimmed: false,
            short: None,
        };
        let mut tail = Tail::default();
        // The newest slot whose data is all there.
        let mut j = slots;
        while j > 0 {
            let (size, note) = self.read_slot(j - 1)?;
            if size <= data_size {
                tail = Tail {
                    size,
                    entry_bytes: self.entry_end(size)?,
                    slots: j,
                };
                opened.size = size;
                opened.checkpoint = Some(note);
                break;
            }
            if opened.behind.is_none() {
                opened.short = Some(self.short_file(size)?);
                opened.behind = Some(note);
            }
            j -= 1;
        }
        if tail.size > 0 {
            let root = self.root_at(tail.size)?;
            let note = opened.checkpoint.as_deref().unwrap_or_default();
            let signed = checkpoint_root(note).ok_or_else(|| {
                damaged(
                    "checkpoints",
                    format!("the checkpoint at size {} does not parse", tail.size),
                )
            })?;
            if signed != root {
                return Err(damaged(
                    "tree",
                    format!(
                        "the tree's root at size {} is {}, but the checkpoint signed at that size (log file `checkpoints`, slot {}) says {}: one of the two files is damaged",
                        tail.size, root, tail.slots - 1, signed
                    ),
                ));
            }
        }
        let lengths = [
            (checkpoint_len, tail.checkpoint_bytes(self.slot)),
            (
                files.entries.len().map_err(io_err("entries", "stat"))?,
                tail.entry_bytes,
            ),
            (
                files.offsets.len().map_err(io_err("offsets", "stat"))?,
                tail.size * 8,
            ),
            (
                files.tree.len().map_err(io_err("tree", "stat"))?,
                tail.tree_bytes(),
            ),
        ];
        opened.trimmed = lengths.iter().any(|(have, keep)| have > keep);
        let mut writer = self.writer.lock().expect("segment writer lock");
        writer.tail = tail;
        if opened.trimmed && !self.read_only && opened.behind.is_none() {
            self.cut_back(&tail)?;
        }
        self.size.store(tail.size, Ordering::Release);
        self.slots.store(tail.slots, Ordering::Release);
        Ok(opened)
    }

    /// Entries fully present in `offsets`, `entries` and `tree`.
    fn data_coverage(&self) -> Result<u64, StoreError> {
        let files = &self.files;
        let mut size = files.offsets.len().map_err(io_err("offsets", "stat"))? / 8;
        let tree_nodes = files.tree.len().map_err(io_err("tree", "stat"))? / Hash::LEN as u64;
        while size > 0 && nodes_for(size) > tree_nodes {
            size -= 1;
        }
        let entry_bytes = files.entries.len().map_err(io_err("entries", "stat"))?;
        while size > 0 && self.offset(size - 1)? > entry_bytes {
            size -= 1;
        }
        Ok(size)
    }

    /// Which file ends before the first `size` entries (for the message of a log whose files
    /// lost entries a checkpoint covers).
    fn short_file(&self, size: u64) -> Result<String, StoreError> {
        let files = &self.files;
        let offsets = files.offsets.len().map_err(io_err("offsets", "stat"))? / 8;
        if offsets < size {
            return Ok(format!(
                "log file `offsets` ends after entry {}",
                offsets.saturating_sub(1)
            ));
        }
        let tree = files.tree.len().map_err(io_err("tree", "stat"))? / Hash::LEN as u64;
        if tree < nodes_for(size) {
            return Ok(format!(
                "log file `tree` holds {tree} of the {} nodes",
                nodes_for(size)
            ));
        }
        let entry_bytes = files.entries.len().map_err(io_err("entries", "stat"))?;
        let mut first = 0;
        while first < size && self.offset(first)? <= entry_bytes {
            first += 1;
        }
        Ok(format!(
            "log file `entries` ends at byte {entry_bytes}, before the end of entry {first} that `offsets` gives"
        ))
    }

    /// Cuts every file to `tail` and syncs them.
    fn cut_back(&self, tail: &Tail) -> Result<(), StoreError> {
        let files = &self.files;
        files
            .entries
            .truncate(tail.entry_bytes)
            .map_err(io_err("entries", "truncate"))?;
        files
            .offsets
            .truncate(tail.size * 8)
            .map_err(io_err("offsets", "truncate"))?;
        files
            .tree
            .truncate(tail.tree_bytes())
            .map_err(io_err("tree", "truncate"))?;
        files
            .checkpoints
            .truncate(tail.checkpoint_bytes(self.slot))
            .map_err(io_err("checkpoints", "truncate"))?;
        self.sync_all()
    }

    fn sync_all(&self) -> Result<(), StoreError> {
        let files = &self.files;
        let (a, b, c) = std::thread::scope(|s| {
            let a = s.spawn(|| files.entries.sync().map_err(io_err("entries", "sync")));
            let b = s.spawn(|| files.offsets.sync().map_err(io_err("offsets", "sync")));
            let c = files.tree.sync().map_err(io_err("tree", "sync"));
            (join(a), join(b), c)
        });
        a?;
        b?;
        c?;
        files
            .checkpoints
            .sync()
            .map_err(io_err("checkpoints", "sync"))
    }

    /// Durable number of entries.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Appends a block: its entries (`first` is the index of the first), its new tree nodes (the
    /// post-order run the frontier produced) and its signed checkpoint. Returns once all of it is
    /// synced; on error nothing of the block is durable and the files are (or will be, before the
    /// next append) cut back.
    pub fn append(
        &self,
        first: u64,
        entries: &[&[u8]],
        nodes: &[(NodeId, Hash)],
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                reason: "the log was opened read-only".into(),
            });
        }
        let mut writer = self.writer.lock().expect("segment writer lock");
        if writer.dirty {
            self.cut_back(&writer.tail)?;
            writer.dirty = false;
        }
        let tail = writer.tail;
        if first != tail.size {
            return Err(StoreError::Sequence {
                expected: tail.size,
                found: first,
            });
        }
        let (entry_bytes, offsets, end) = pack_entries(tail.entry_bytes, entries)?;
        let tree = pack_nodes(tail.size, nodes)?;
        let size = tail.size + entries.len() as u64;
        if nodes_for(size) * Hash::LEN as u64 != tail.tree_bytes() + tree.len() as u64 {
            return Err(StoreError::Sequence {
                expected: nodes_for(size),
                found: nodes_for(tail.size) + (tree.len() / Hash::LEN) as u64,
            });
        }
        let slot = self.pack_slot(size, checkpoint)?;
        writer.dirty = true;
        let files = &self.files;
        let (a, b, c) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                files
                    .entries
                    .write_all_at(tail.entry_bytes, &entry_bytes)
                    .map_err(io_err("entries", "write"))?;
                files.entries.sync().map_err(io_err("entries", "sync"))
            });
            let b = s.spawn(|| {
                files
                    .offsets
                    .write_all_at(tail.size * 8, &offsets)
                    .map_err(io_err("offsets", "write"))?;
                files.offsets.sync().map_err(io_err("offsets", "sync"))
            });
            let c = files
                .tree
                .write_all_at(tail.tree_bytes(), &tree)
                .map_err(io_err("tree", "write"))
                .and_then(|()| files.tree.sync().map_err(io_err("tree", "sync")));
            (join(a), join(b), c)
        });
        let data = a.and(b).and(c);
        let result = data.and_then(|()| {
            files
                .checkpoints
                .write_all_at(tail.checkpoint_bytes(self.slot), &slot)
                .map_err(io_err("checkpoints", "write"))?;
            files
                .checkpoints
                .sync()
                .map_err(io_err("checkpoints", "sync"))
        });
        if let Err(e) = result {
            // Cut the failed block off now if we can; otherwise before the next append.
            if self.cut_back(&tail).is_ok() {
                writer.dirty = false;
            }
            return Err(e);
        }
        writer.dirty = false;
        writer.tail = Tail {
            size,
            entry_bytes: end,
            slots: tail.slots + 1,
        };
        self.slots.store(writer.tail.slots, Ordering::Release);
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    /// Whether a failed append left bytes that still have to be cut off.
    pub fn is_dirty(&self) -> bool {
        self.writer.lock().expect("segment writer lock").dirty
    }

    /// Tries to cut off what a failed append left (also done before the next append).
    pub fn repair(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().expect("segment writer lock");
        if writer.dirty {
            self.cut_back(&writer.tail)?;
            writer.dirty = false;
        }
        Ok(())
    }

    fn pack_slot(&self, size: u64, note: &str) -> Result<Vec<u8>, StoreError> {
        let capacity = self.slot - SLOT_PREFIX;
        if note.len() as u64 > capacity {
            return Err(StoreError::CheckpointTooLong {
                len: note.len(),
                slot: capacity,
            });
        }
        let mut slot = Vec::with_capacity(self.slot as usize);
        slot.extend_from_slice(&size.to_le_bytes());
        slot.extend_from_slice(&(note.len() as u16).to_le_bytes());
        slot.extend_from_slice(note.as_bytes());
        slot.resize(self.slot as usize, 0);
        Ok(slot)
    }

    fn read_slot(&self, j: u64) -> Result<(u64, String), StoreError> {
        let mut slot = vec![0u8; self.slot as usize];
        self.files
            .checkpoints
            .read_exact_at(HEADER_LEN + j * self.slot, &mut slot)
            .map_err(io_err("checkpoints", "read"))?;
        let size = u64::from_le_bytes(slot[..8].try_into().expect("8 bytes"));
        let len = u64::from(u16::from_le_bytes(slot[8..10].try_into().expect("2 bytes")));
        let note = slot
            .get(SLOT_PREFIX as usize..(SLOT_PREFIX + len) as usize)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .filter(|note| note.ends_with('\n'))
            .ok_or_else(|| damaged("checkpoints", format!("slot {j} holds no checkpoint note")))?;
        // The size field decides which slot covers which entries; it must be the note's.
        if checkpoint_size(note) != Some(size) {
            return Err(damaged(
                "checkpoints",
                format!("slot {j} says size {size}, but its checkpoint note does not"),
            ));
        }
        Ok((size, note.to_owned()))
    }

    fn slot_size_at(&self, j: u64) -> Result<u64, StoreError> {
        let mut bytes = [0u8; 8];
        self.files
            .checkpoints
            .read_exact_at(HEADER_LEN + j * self.slot, &mut bytes)
            .map_err(io_err("checkpoints", "read"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// First durable slot whose size is `> bound` (binary search; slot sizes only grow).
    fn first_slot_above(&self, bound: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.slots.load(Ordering::Acquire));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slot_size_at(mid)? > bound {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// The checkpoint of the block that appended entry `index`.
    pub fn checkpoint_covering(&self, index: u64) -> Result<Option<String>, StoreError> {
        let j = self.first_slot_above(index)?;
        if j >= self.slots.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(Some(self.read_slot(j)?.1))
    }

    /// The checkpoint signed at exactly `size`.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        let Some(below) = size.checked_sub(1) else {
            return Ok(None);
        };
        match self.checkpoint_covering(below)? {
            Some(note) if checkpoint_size(&note) == Some(size) => Ok(Some(note)),
            _ => Ok(None),
        }
    }

    /// The latest durable checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        match self.slots.load(Ordering::Acquire) {
            0 => Ok(None),
            n => Ok(Some(self.read_slot(n - 1)?.1)),
        }
    }

    /// End offset of entry `index` in `entries` (read from `offsets`, unchecked).
    fn offset(&self, index: u64) -> Result<u64, StoreError> {
        let mut bytes = [0u8; 8];
        self.files
            .offsets
            .read_exact_at(index * 8, &mut bytes)
            .map_err(io_err("offsets", "read"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn entry_end(&self, size: u64) -> Result<u64, StoreError> {
        match size {
            0 => Ok(0),
            n => self.offset(n - 1),
        }
    }

    /// Node hashes by id; every id must lie inside the durable tree.
    pub fn hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let size = self.size();
        ids.iter()
            .map(|id| {
                if !id.exists_in(size) {
                    return Err(StoreError::Missing {
                        what: format!("tree node {}/{} at size {size}", id.level, id.index),
                    });
                }
                self.hash_at(node_position(*id))
            })
            .collect()
    }

    fn hash_at(&self, position: u64) -> Result<Hash, StoreError> {
        let mut bytes = [0u8; Hash::LEN];
        self.files
            .tree
            .read_exact_at(position * Hash::LEN as u64, &mut bytes)
            .map_err(io_err("tree", "read"))?;
        Ok(Hash(bytes))
    }

    /// Leaf hashes `start..start + width` (clipped to the durable size), one read.
    pub fn leaf_row(&self, start: u64, width: u64) -> Result<Vec<Hash>, StoreError> {
        let end = (start.saturating_add(width)).min(self.size());
        if start >= end {
            return Ok(Vec::new());
        }
        let first = node_position(NodeId::leaf(start));
        let last = node_position(NodeId::leaf(end - 1));
        let mut bytes = vec![0u8; ((last - first + 1) * Hash::LEN as u64) as usize];
        self.files
            .tree
            .read_exact_at(first * Hash::LEN as u64, &mut bytes)
            .map_err(io_err("tree", "read"))?;
        Ok((start..end)
            .map(|i| {
                let at = ((node_position(NodeId::leaf(i)) - first) * Hash::LEN as u64) as usize;
                Hash(bytes[at..at + Hash::LEN].try_into().expect("32 bytes"))
            })
            .collect())
    }

    /// Entries `start..end` (clipped to the durable size), each checked against its leaf hash:
    /// a damaged byte is reported with the entry it hits, never returned.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let entries = self.raw_entries(start, end)?;
        let leaves = self.leaf_row(start, entries.len() as u64)?;
        for (i, (entry, leaf)) in entries.iter().zip(&leaves).enumerate() {
            if leaf_hash(entry) != *leaf {
                return Err(StoreError::DamagedEntry {
                    index: start + i as u64,
                });
            }
        }
        Ok(entries)
    }

    /// Entries `start..end` as stored, unchecked (for auditors, who check them against the tree
    /// themselves and locate damage). Offsets that cannot frame an entry are still an error.
    pub fn raw_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let end = end.min(self.size());
        if start >= end {
            return Ok(Vec::new());
        }
        let mut raw = vec![0u8; ((end - start) * 8) as usize];
        self.files
            .offsets
            .read_exact_at(start * 8, &mut raw)
            .map_err(io_err("offsets", "read"))?;
        let ends: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let begin = self.entry_end(start)?;
        let mut previous = begin;
        for (i, &e) in ends.iter().enumerate() {
            if e < previous || e - previous > MAX_ENTRY_LEN {
                return Err(damaged(
                    "offsets",
                    format!(
                        "entry {}: offsets {previous}..{e} are not an entry",
                        start + i as u64
                    ),
                ));
            }
            previous = e;
        }
        let mut bytes = vec![0u8; (previous - begin) as usize];
        self.files
            .entries
            .read_exact_at(begin, &mut bytes)
            .map_err(io_err("entries", "read"))?;
        let mut out = Vec::with_capacity(ends.len());
        let mut at = 0usize;
        for &e in &ends {
            let next = (e - begin) as usize;
            out.push(bytes[at..next].to_vec());
            at = next;
        }
        Ok(out)
    }

    /// One entry, checked like [`entries`](Self::entries).
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries(index, index.saturating_add(1))?.pop())
    }

    /// The frontier (peaks) of the tree at `size`.
    pub fn frontier(&self, size: u64) -> Result<Frontier, StoreError> {
        let peaks = peak_ids(size)
            .into_iter()
            .map(|id| self.hash_at(node_position(id)))
            .collect::<Result<Vec<_>, _>>()?;
        Frontier::from_parts(size, peaks).map_err(|e| damaged("tree", e.to_string()))
    }

    /// The root at `size`, from the stored peaks.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        Ok(self.frontier(size)?.root())
    }

    /// Copies the durable log (a consistent prefix of each file, ending at a block boundary with
    /// its checkpoint) into `out`, syncing every file. Returns the size copied. Safe while the
    /// log is being appended to: durable prefixes never change.
    pub fn copy_to<G: LogFile>(&self, out: &Files<G>) -> Result<u64, StoreError> {
        let tail = self.writer.lock().expect("segment writer lock").tail;
        let copy = |from: &F, to: &G, name: &'static str, len: u64| -> Result<(), StoreError> {
            const CHUNK: u64 = 1 << 20;
            let mut at = 0;
            let mut buf = Vec::new();
            while at < len {
                let n = CHUNK.min(len - at);
                buf.resize(n as usize, 0);
                from.read_exact_at(at, &mut buf)
                    .map_err(io_err(name, "read"))?;
                to.write_all_at(at, &buf).map_err(io_err(name, "write"))?;
                at += n;
            }
            to.truncate(len).map_err(io_err(name, "truncate"))?;
            to.sync().map_err(io_err(name, "sync"))
        };
        copy(
            &self.files.entries,
            &out.entries,
            "entries",
            tail.entry_bytes,
        )?;
        copy(&self.files.offsets, &out.offsets, "offsets", tail.size * 8)?;
        copy(&self.files.tree, &out.tree, "tree", tail.tree_bytes())?;
        copy(
            &self.files.checkpoints,
            &out.checkpoints,
            "checkpoints",
            tail.checkpoint_bytes(self.slot),
        )?;
        Ok(tail.size)
    }

    /// Bytes the four files take.
    pub fn bytes(&self) -> u64 {
        [
            &self.files.entries,
            &self.files.offsets,
            &self.files.tree,
            &self.files.checkpoints,
        ]
        .iter()
        .map(|f| f.len().unwrap_or(0))
        .sum()
    }
}

fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, StoreError>>,
) -> Result<T, StoreError> {
    handle.join().unwrap_or_else(|_| {
        Err(StoreError::Io {
            file: "segments",
            op: "sync",
            source: io::Error::other("a sync thread panicked"),
        })
    })
}

/// The root a signed checkpoint note states.
pub fn checkpoint_root(note: &str) -> Option<Hash> {
    let body = note.split_once("\n\n")?.0;
    Checkpoint::parse(&format!("{body}\n")).ok().map(|c| c.root)
}

/// The size a signed checkpoint note states.
pub fn checkpoint_size(note: &str) -> Option<u64> {
    let body = note.split_once("\n\n")?.0;
    Checkpoint::parse(&format!("{body}\n")).ok().map(|c| c.size)
}

fn pack_entries(start: u64, entries: &[&[u8]]) -> Result<(Vec<u8>, Vec<u8>, u64), StoreError> {
    let mut bytes = Vec::with_capacity(entries.iter().map(|e| e.len()).sum());
    let mut offsets = Vec::with_capacity(entries.len() * 8);
    let mut end = start;
    for entry in entries {
        bytes.extend_from_slice(entry);
        end += entry.len() as u64;
        offsets.extend_from_slice(&end.to_le_bytes());
    }
    Ok((bytes, offsets, end))
}

/// The block's nodes as the post-order run that continues a tree of `size` leaves.
fn pack_nodes(size: u64, nodes: &[(NodeId, Hash)]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(nodes.len() * Hash::LEN);
    for (next, (id, hash)) in (nodes_for(size)..).zip(nodes) {
        let position = node_position(*id);
        if position != next {
            return Err(StoreError::Sequence {
                expected: next,
                found: position,
            });
        }
        out.extend_from_slice(&hash.0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::hash::node_hash;
    use crate::store::files::{Faults, MemFile};

    /// Root of a power-of-two run of leaves, recomputed.
    fn subtree_root(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let half = leaves.len() / 2;
        node_hash(
            &subtree_root(&leaves[..half]),
            &subtree_root(&leaves[half..]),
        )
    }

    #[test]
    fn positions_follow_the_frontier_order() {
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for i in 0..300u32 {
            frontier.append(leaf_hash(&i.to_be_bytes()), &mut nodes);
        }
        for (position, (id, _)) in nodes.iter().enumerate() {
            assert_eq!(node_position(*id), position as u64, "{id:?}");
        }
        assert_eq!(nodes.len() as u64, nodes_for(300));
    }

    fn mem_files(faults: &std::sync::Arc<Faults>) -> Files<MemFile> {
        Files {
            entries: MemFile::new(faults),
            offsets: MemFile::new(faults),
            tree: MemFile::new(faults),
            checkpoints: MemFile::new(faults),
        }
    }

    /// Appends `blocks` blocks of 3 entries each to `log`.
    fn append_blocks(log: &Segments<MemFile>, blocks: u8) {
        let mut frontier = Frontier::new();
        for block in 0..blocks {
            let entries: Vec<Vec<u8>> = (0..3u8).map(|i| vec![block, i, 7]).collect();
            let mut nodes = Vec::new();
            for e in &entries {
                frontier.append(leaf_hash(e), &mut nodes);
            }
            let note = format!(
                "o\n{}\n{}\n\n— o sig{block}\n",
                frontier.size(),
                frontier.root().to_base64()
            );
            let refs: Vec<&[u8]> = entries.iter().map(|e| e.as_slice()).collect();
            log.append(frontier.size() - 3, &refs, &nodes, &note)
                .unwrap();
        }
    }

    /// A slot whose size field disagrees with its note is damage in `checkpoints`, named so —
    /// not a root mismatch blamed on `tree`, nor a slot silently taken for another size.
    #[test]
    fn a_damaged_slot_size_is_named_as_checkpoint_damage() {
        for size in [2u64, 7, 1 << 40] {
            let faults = Faults::new();
            let files = mem_files(&faults);
            let checkpoints = files.checkpoints.clone();
            let (log, _) = Segments::open(files.clone(), Some(400), false).unwrap();
            append_blocks(&log, 2);
            drop(log);
            checkpoints
                .write_all_at(HEADER_LEN + 400, &size.to_le_bytes())
                .unwrap();
            checkpoints.sync().unwrap();
            match Segments::open(files, None, true) {
                Err(StoreError::Damaged { file, detail }) => {
                    assert_eq!(file, "checkpoints", "{detail}");
                    assert!(detail.contains("slot 1"), "{detail}");
                }
                Err(e) => panic!("size {size}: {e}"),
                Ok((_, opened)) => panic!("size {size}: opened {opened:?}"),
            }
        }
    }

    /// A log whose checkpoint file is lost (empty) is refused, never taken for a new log: a new
    /// log would start by cutting the others to nothing.
    #[test]
    fn a_lost_checkpoint_file_never_starts_a_new_log() {
        let faults = Faults::new();
        let files = mem_files(&faults);
        let (checkpoints, entries) = (files.checkpoints.clone(), files.entries.clone());
        let (log, _) = Segments::open(files.clone(), Some(400), false).unwrap();
        append_blocks(&log, 2);
        drop(log);
        checkpoints.truncate(0).unwrap();
        checkpoints.sync().unwrap();
        match Segments::open(files, Some(400), false) {
            Err(StoreError::Damaged { file, .. }) => assert_eq!(file, "checkpoints"),
            Err(e) => panic!("{e}"),
            Ok((_, opened)) => panic!("opened {opened:?}"),
        }
        assert_eq!(entries.len().unwrap(), 18, "the entries are untouched");
    }

    /// A log whose `entries` file lost the tail a checkpoint covers opens behind that checkpoint
    /// and names the short file and the first entry it lost.
    #[test]
    fn a_short_entries_file_is_named() {
        let faults = Faults::new();
        let files = mem_files(&faults);
        let entries = files.entries.clone();
        let (log, _) = Segments::open(files.clone(), Some(400), false).unwrap();
        append_blocks(&log, 2);
        drop(log);
        // Entries are 3 bytes each: cut entry 4 in half.
        entries.truncate(13).unwrap();
        entries.sync().unwrap();
        let (log, opened) = Segments::open(files, None, true).unwrap();
        assert_eq!((opened.size, log.size()), (3, 3));
        assert!(opened.behind.is_some());
        let short = opened.short.unwrap();
        assert!(
            short.contains("log file `entries`") && short.contains("entry 4"),
            "{short}"
        );
    }

    #[test]
    fn append_read_and_reopen() {
        let faults = Faults::new();
        let files = mem_files(&faults);
        let (log, opened) = Segments::open(files, Some(400), false).unwrap();
        assert_eq!(opened.size, 0);
        let mut frontier = Frontier::new();
        let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 5 + i as usize]).collect();
        let mut leaves = Vec::new();
        for (block, chunk) in entries.chunks(3).enumerate() {
            let mut nodes = Vec::new();
            for e in chunk {
                leaves.push(leaf_hash(e));
                frontier.append(leaf_hash(e), &mut nodes);
            }
            let note = format!(
                "o\n{}\n{}\n\n— o sig{block}\n",
                frontier.size(),
                frontier.root().to_base64()
            );
            let refs: Vec<&[u8]> = chunk.iter().map(|e| e.as_slice()).collect();
            log.append(frontier.size() - chunk.len() as u64, &refs, &nodes, &note)
                .unwrap();
        }
        assert_eq!(log.size(), 10);
        assert_eq!(log.entries(0, 10).unwrap(), entries);
        assert_eq!(
            log.root_at(10).unwrap(),
            node_hash(&subtree_root(&leaves[..8]), &subtree_root(&leaves[8..]))
        );
        assert!(log
            .checkpoint_covering(4)
            .unwrap()
            .unwrap()
            .starts_with("o\n6\n"));
        assert!(log.checkpoint_at(9).unwrap().unwrap().starts_with("o\n9\n"));
        assert_eq!(log.checkpoint_at(8).unwrap(), None);
    }
}
