//! C2SP tlog-tiles with tile height 8: tile paths, which tiles a tree of a given size has,
//! entry bundles, and a [`HashReader`] over fetched tiles.
//!
//! # Hash tiles
//!
//! The tile at level `L`, index `N` and width `W` (1..=256) is the concatenation of the `W`
//! 32-byte hashes of the perfect nodes `NodeId { level: 8·L, index: 256·N + i }` for
//! `i in 0..W`: at level 0 the leaf hashes, at level `L` the roots of the full level-`(L−1)`
//! tiles. Full tiles are 256 hashes (8,192 bytes). The rightmost tile of each level is partial
//! (`W = floor(size / 256^L) mod 256`) unless that is 0. The Merkle levels between `8·L` and
//! `8·L + 7` are not stored: [`TileHashes`] recomputes them by hashing within the tile.
//!
//! # Entry bundles
//!
//! The bundle at index `N` holds leaves `256·N ..` in order, each as a big-endian `u16` length
//! followed by that many bytes; a bundle's `i`-th entry hashes (RFC 6962 `leaf_hash`) to the
//! `i`-th hash of level-0 tile `N`.
//!
//! # Paths
//!
//! `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`: `L` decimal 0..=63 without leading
//! zeros; `N` in groups of three digits, all but the last prefixed with `x`
//! (1234067 → `x001/x234/067`); `.p/<W>` only for partial tiles, `W` decimal 1..=255 without
//! leading zeros. [`TilePath::parse`] takes the whole path starting with `tile/` (what
//! [`TilePath::to_path`] writes); [`TilePath::parse_relative`] takes the part after `tile/`
//! (what a router's `/tile/{*rest}` wildcard captures). Both accept only the canonical form: a
//! path parses if and only if it is exactly what `to_path` would write for the parsed value.
//!
//! Pure computation: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use super::hash::{node_hash, Hash};
use super::tree::{read_each, HashReader, NodeId, TreeError};

/// Merkle levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile (or bundle): `2^TILE_HEIGHT`.
pub const TILE_WIDTH: u64 = 256;
/// Largest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest entry an entry bundle can hold (its length is a `u16`).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

const FULL: u16 = TILE_WIDTH as u16;

/// Why a tile path, tile or bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A path that is not a canonical tile or bundle path.
    #[error("malformed tile path {path:?}: {reason}")]
    MalformedPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Tile bytes that are not `32 × width` long.
    #[error("tile {path} must be {expected} bytes, got {got}")]
    WrongTileLength {
        /// The tile's path.
        path: String,
        /// `32 × width`.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An entry bundle path where a hash tile was expected.
    #[error("{path} is not a hash tile")]
    NotHashTile {
        /// The path given.
        path: String,
    },
    /// A tile that a tree of this size does not (yet) have.
    #[error("tile {path} is beyond a tree of size {size}")]
    BeyondTree {
        /// The tile's path.
        path: String,
        /// The tree size.
        size: u64,
    },
    /// An entry longer than 65,535 bytes.
    #[error("entry {index} is {len} bytes, more than the {max} a bundle can hold", max = MAX_ENTRY_SIZE)]
    EntryTooLarge {
        /// Position of the entry in the bundle.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// More than 256 entries for one bundle.
    #[error("{count} entries do not fit one bundle of {max}", max = TILE_WIDTH)]
    TooManyEntries {
        /// How many were given or found.
        count: usize,
    },
    /// A bundle that ends inside a length prefix or an entry.
    #[error("entry bundle truncated at byte {offset}")]
    TruncatedBundle {
        /// Where the incomplete prefix or entry starts.
        offset: usize,
    },
    /// Reading the hashes of a tile failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// A hash tile or an entry bundle, as named by its C2SP tlog-tiles path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TilePath {
    /// `tile/<level>/<index>[.p/<width>]`.
    Hashes {
        /// Tile level (Merkle level `8 × level`).
        level: u8,
        /// Tile index within the level.
        index: u64,
        /// 1..=256; 256 is a full tile.
        width: u16,
    },
    /// `tile/entries/<index>[.p/<width>]`.
    Entries {
        /// Bundle index.
        index: u64,
        /// 1..=256; 256 is a full bundle.
        width: u16,
    },
}

fn malformed(path: &str, reason: &'static str) -> TileError {
    TileError::MalformedPath {
        path: path.to_owned(),
        reason,
    }
}

/// Writes `index` as three-digit groups, all but the last prefixed with `x`.
fn format_index(mut index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    index /= 1000;
    while index > 0 {
        groups.push(format!("x{:03}", index % 1000));
        index /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Parses a decimal number of ASCII digits only (no sign), fitting `T`.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl TilePath {
    /// `(level, index, width)` of a hash tile; an entry bundle is [`TileError::NotHashTile`].
    pub fn hash_tile(&self) -> Result<(u8, u64, u16), TileError> {
        match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => Ok((level, index, width)),
            TilePath::Entries { .. } => Err(TileError::NotHashTile {
                path: self.to_path(),
            }),
        }
    }

    /// Parses a whole path `tile/...` (see the module doc).
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| malformed(path, "does not start with tile/"))?;
        Self::parse_relative(rest).map_err(|_| malformed(path, "not a canonical tile path"))
    }

    /// Parses the part of a path after `tile/`: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`.
    pub fn parse_relative(rest: &str) -> Result<Self, TileError> {
        let bad = |reason| malformed(rest, reason);
        let mut parts: Vec<&str> = rest.split('/').collect();
        if parts.len() < 2 {
            return Err(bad("too few path elements"));
        }
        let kind = parts.remove(0);

        // `.p/<W>`: the second-to-last element carries the `.p` suffix.
        let mut width = FULL;
        if parts.len() >= 2 && parts[parts.len() - 2].ends_with(".p") {
            let w = parts.pop().unwrap_or_default();
            width = parse_decimal::<u16>(w)
                .filter(|w| (1..FULL).contains(w))
                .ok_or_else(|| bad("partial width is not 1..=255"))?;
            let last = parts.len() - 1;
            parts[last] = parts[last].strip_suffix(".p").unwrap_or(parts[last]);
        }

        let mut index: u64 = 0;
        for (i, group) in parts.iter().enumerate() {
            let digits = if i + 1 < parts.len() {
                group
                    .strip_prefix('x')
                    .ok_or_else(|| bad("index group without x"))?
            } else {
                group
            };
            if digits.len() != 3 {
                return Err(bad("index group is not three digits"));
            }
            let value =
                parse_decimal::<u64>(digits).ok_or_else(|| bad("index group is not digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(value))
                .ok_or_else(|| bad("index overflows u64"))?;
        }

        let tile = if kind == "entries" {
            TilePath::Entries { index, width }
        } else {
            let level = parse_decimal::<u8>(kind)
                .filter(|l| *l <= MAX_TILE_LEVEL)
                .ok_or_else(|| bad("level is not 0..=63"))?;
            TilePath::Hashes {
                level,
                index,
                width,
            }
        };
        // Leading zeros in the level or width, and superfluous `x000` groups, parse to a value
        // whose canonical path differs: reject them.
        if tile.relative_path() != rest {
            return Err(bad("not canonical"));
        }
        Ok(tile)
    }

    fn relative_path(&self) -> String {
        let (head, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let mut path = format!("{head}/{}", format_index(index));
        if width < FULL {
            path.push_str(&format!(".p/{width}"));
        }
        path
    }

    /// The canonical path, e.g. `tile/0/x001/234.p/7` or `tile/entries/000`.
    pub fn to_path(&self) -> String {
        format!("tile/{}", self.relative_path())
    }

    /// The tile or bundle index.
    pub fn index(&self) -> u64 {
        match *self {
            TilePath::Hashes { index, .. } | TilePath::Entries { index, .. } => index,
        }
    }

    /// The width (number of hashes or entries), 1..=256.
    pub fn width(&self) -> u16 {
        match *self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => width,
        }
    }

    /// Whether every hash (or entry) of this tile exists in a tree of `size` leaves, i.e.
    /// whether a log of that size can serve it.
    pub fn is_within(&self, size: u64) -> bool {
        let (merkle_level, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (u32::from(level) * u32::from(TILE_HEIGHT), index, width),
            TilePath::Entries { index, width } => (0, index, width),
        };
        if merkle_level >= 64 || width == 0 || width > FULL {
            return false;
        }
        let end = u128::from(index) * u128::from(TILE_WIDTH) + u128::from(width);
        end <= u128::from(size >> merkle_level)
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_path())
    }
}

/// The nodes whose hashes make up hash tile (`level`, `index`, `width`): Merkle level
/// `8 × level`, indexes `256 × index .. 256 × index + width`. Empty for a tile that cannot exist
/// in a tree of at most `u64::MAX` leaves (Merkle level ≥ 64 or index overflow).
pub fn tile_node_ids(level: u8, index: u64, width: u16) -> impl Iterator<Item = NodeId> {
    let merkle_level = level.checked_mul(TILE_HEIGHT).filter(|l| *l < 64);
    let start = index.checked_mul(TILE_WIDTH);
    let (merkle_level, start, count) = match (merkle_level, start) {
        (Some(l), Some(s)) => (l, s, u64::from(width.min(FULL))),
        _ => (0, 0, 0),
    };
    (0..count).map(move |i| NodeId::new(merkle_level, start + i))
}

/// Tiles of one level (`merkle_level`) for `count` nodes: full ones, then a partial one.
fn tiles_of_level(count: u64, mut make: impl FnMut(u64, u16) -> TilePath) -> Vec<TilePath> {
    let full = count / TILE_WIDTH;
    let mut tiles: Vec<TilePath> = (0..full).map(|i| make(i, FULL)).collect();
    let partial = (count % TILE_WIDTH) as u16;
    if partial > 0 {
        tiles.push(make(full, partial));
    }
    tiles
}

/// Every hash tile of a tree of `size` leaves, level 0 first, each level left to right, the
/// rightmost partial when the level's node count is not a multiple of 256.
pub fn hash_tiles_for_size(size: u64) -> Vec<TilePath> {
    let mut tiles = Vec::new();
    for level in 0..=(63 / TILE_HEIGHT) {
        let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
        if count == 0 {
            break;
        }
        tiles.extend(tiles_of_level(count, |index, width| TilePath::Hashes {
            level,
            index,
            width,
        }));
    }
    tiles
}

/// Every entry bundle of a tree of `size` leaves, the last one partial when `size` is not a
/// multiple of 256.
pub fn entry_bundles_for_size(size: u64) -> Vec<TilePath> {
    tiles_of_level(size, |index, width| TilePath::Entries { index, width })
}

/// Everything a client fetches to mirror a tree of `size` leaves: [`hash_tiles_for_size`]
/// followed by [`entry_bundles_for_size`].
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    let mut tiles = hash_tiles_for_size(size);
    tiles.extend(entry_bundles_for_size(size));
    tiles
}

/// The bytes of hash tile `tile` of a tree of `size` leaves, read from storage in one call.
pub fn read_hash_tile(
    tile: TilePath,
    size: u64,
    reader: &impl HashReader,
) -> Result<Vec<u8>, TileError> {
    let (level, index, width) = tile.hash_tile()?;
    if !tile.is_within(size) {
        return Err(TileError::BeyondTree {
            path: tile.to_path(),
            size,
        });
    }
    let ids: Vec<NodeId> = tile_node_ids(level, index, width).collect();
    let hashes = reader.read_hashes(&ids)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::WrongHashCount {
            requested: ids.len(),
            returned: hashes.len(),
        }
        .into());
    }
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Encodes an entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.len() > TILE_WIDTH as usize {
        return Err(TileError::TooManyEntries {
            count: entries.len(),
        });
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (index, entry) in entries.iter().enumerate() {
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Decodes an entry bundle. The caller checks that the number of entries is the width its
/// path names.
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        if entries.len() == TILE_WIDTH as usize {
            return Err(TileError::TooManyEntries {
                count: entries.len() + 1,
            });
        }
        let prefix = bytes
            .get(offset..offset + 2)
            .ok_or(TileError::TruncatedBundle { offset })?;
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let entry = bytes
            .get(offset + 2..offset + 2 + len)
            .ok_or(TileError::TruncatedBundle { offset })?;
        entries.push(entry.to_vec());
        offset += 2 + len;
    }
    Ok(entries)
}

/// A [`HashReader`] over hash tiles a client fetched: answers any perfect node covered by them,
/// so that roots and proofs can be recomputed from tiles alone.
///
/// Node `(l, i)` is read from the tile at level `l / 8`: it is the root of the `2^(l mod 8)`
/// tile hashes starting at position `(i << (l mod 8)) mod 256` of tile `(i << (l mod 8)) / 256`,
/// hashed pairwise up `l mod 8` levels. When several widths of one tile are inserted the widest
/// is kept. Tiles are not authenticated here: a verifier trusts what it computes from them only
/// once the root matches a signed checkpoint.
#[derive(Clone, Debug, Default)]
pub struct TileHashes {
    tiles: BTreeMap<(u8, u64), Vec<Hash>>,
}

impl TileHashes {
    /// No tiles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a reader from `(path, bytes)` pairs of hash tiles.
    pub fn from_tiles<'a>(
        tiles: impl IntoIterator<Item = (TilePath, &'a [u8])>,
    ) -> Result<Self, TileError> {
        let mut reader = Self::new();
        for (tile, bytes) in tiles {
            reader.insert(tile, bytes)?;
        }
        Ok(reader)
    }

    /// Adds one hash tile, checking its length is `32 × width`.
    pub fn insert(&mut self, tile: TilePath, bytes: &[u8]) -> Result<(), TileError> {
        let (level, index, width) = tile.hash_tile()?;
        let expected = usize::from(width) * Hash::LEN;
        if bytes.len() != expected {
            return Err(TileError::WrongTileLength {
                path: tile.to_path(),
                expected,
                got: bytes.len(),
            });
        }
        let hashes: Vec<Hash> = bytes
            .chunks_exact(Hash::LEN)
            .filter_map(|c| Hash::from_slice(c).ok())
            .collect();
        let slot = self.tiles.entry((level, index)).or_default();
        if hashes.len() > slot.len() {
            *slot = hashes;
        }
        Ok(())
    }

    /// Number of distinct tiles held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no tile is held.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    fn node(&self, id: NodeId) -> Option<Hash> {
        if id.level >= 64 {
            return None;
        }
        let sub = u32::from(id.level % TILE_HEIGHT);
        let tile_level = id.level / TILE_HEIGHT;
        if id.index > u64::MAX >> sub {
            return None;
        }
        let first = id.index << sub;
        let offset = usize::try_from(first % TILE_WIDTH).ok()?;
        let hashes = self.tiles.get(&(tile_level, first / TILE_WIDTH))?;
        let mut layer = hashes.get(offset..offset + (1usize << sub))?.to_vec();
        while layer.len() > 1 {
            layer = layer
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        layer.first().copied()
    }
}

impl HashReader for TileHashes {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        read_each(ids, |id| self.node(id))
    }
}

#[cfg(test)]
mod tests;
