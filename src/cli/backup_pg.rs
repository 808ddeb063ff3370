//! `lodestone backup --store postgres://…`: a consistent copy of a ledger kept in PostgreSQL,
//! written as an embedded data directory (keys, layout, log segments) that `serve --data`
//! opens as it is, or that `recover --store` loads into another database.
//!
//! The copy goes block by block, each with the checkpoint the log signed at its end, so every
//! entry keeps the checkpoint that covered it; each block's entries are checked against the
//! tree as they are read, and the state is rebuilt from them by the ledger's rules.

use std::path::Path;

use anyhow::{bail, Context as _};

use crate::log::hash::leaf_hash;
use crate::model::entry::Entry;
use crate::service::DataDir;
use crate::store::postgres::{redacted, PgLedger};
use crate::store::{Block, Head, LedgerStore as _, Store};

/// Copies the ledger whose keys are in `data` and log in `url` to the new directory `out`;
/// returns the number of entries.
pub fn backup(data: &Path, url: &str, out: &Path) -> anyhow::Result<u64> {
    let source = PgLedger::open_read_only(url)
        .with_context(|| format!("cannot read the ledger in {}", redacted(url)))?;
    if out.exists() {
        bail!("{} exists: a backup goes to a new directory", out.display());
    }
    let keys = DataDir::new(data);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))?;
    }
    let target = DataDir::new(out);
    for (from, to, mode) in [
        (keys.log_pub(), target.log_pub(), 0o644),
        (keys.log_key(), target.log_key(), 0o600),
        (keys.authority_key(), target.authority_key(), 0o600),
    ] {
        if from.exists() {
            let bytes =
                std::fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
            crate::store::files::write_atomic(&to, &bytes, mode)
                .with_context(|| format!("cannot write {}", to.display()))?;
        }
    }
    let copy = Store::open(out).with_context(|| format!("cannot create {}", out.display()))?;
    let Some(end) = source.head()? else {
        return Ok(0);
    };
    let mut head = Head::empty();
    for (size, note) in source.block_ends(end.size)? {
        let start = head.size;
        let mut block = Block::default();
        for (at, bytes) in (head.size..).zip(source.entries(head.size, size)?) {
            let entry = Entry::decode(&bytes).with_context(|| format!("entry {at}"))?;
            let leaf = leaf_hash(&bytes);
            head.frontier.append(leaf, &mut block.nodes);
            head.last_leaf = leaf;
            head.last_logged_at_ms = entry.logged_at_ms;
            block.entries.push((at, bytes));
        }
        if block.entries.len() as u64 != size - start {
            bail!(
                "the block that ends at {size} holds {} entries of {}",
                block.entries.len(),
                size - start
            );
        }
        head.size = size;
        head.root = head.frontier.root();
        head.checkpoint = note;
        copy.import_block(&block, &head)
            .with_context(|| format!("copying the block that ends at {size}"))?;
    }
    if head != end {
        bail!(
            "the copy ends at size {} with root {}, but the ledger's head is size {} root {}",
            head.size,
            head.root.to_base64(),
            end.size,
            end.root.to_base64()
        );
    }
    copy.flush()?;
    Ok(head.size)
}
