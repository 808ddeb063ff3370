//! The file seam under the log segments: positioned reads and writes, `fdatasync`, truncation.
//!
//! The log's segment files are the only bytes whose durability decides what was acknowledged,
//! so everything the segment code does to them goes through [`LogFile`]. Two implementations:
//!
//! - [`FsFile`]: a real file. `sync` is `fdatasync(2)` (`File::sync_data`); a file created by
//!   [`FsDir::create_all`] has its directory synced too, so the new name survives a power loss.
//! - [`MemFile`]: bytes in memory with a durable copy, for tests. A shared [`Faults`] plan makes
//!   it fail the n-th write, fail a sync, tear a write (write a prefix, then fail), run out of
//!   space, and [`Faults::power_loss`] throws away everything not yet synced, exactly what a
//!   machine that loses power does to a file whose pages were written but not flushed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One append-mostly file of the log.
// A file's length is a position to write at, never tested for emptiness.
#[allow(clippy::len_without_is_empty)]
pub trait LogFile: Send + Sync {
    /// Current length in bytes (written, not necessarily synced).
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `bytes` at `offset`.
    fn write_all_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (durable only after the next [`sync`](Self::sync)).
    fn truncate(&self, len: u64) -> io::Result<()>;
}

impl<T: LogFile + ?Sized> LogFile for Box<T> {
    fn len(&self) -> io::Result<u64> {
        (**self).len()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn write_all_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        (**self).write_all_at(offset, bytes)
    }
    fn sync(&self) -> io::Result<()> {
        (**self).sync()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        (**self).truncate(len)
    }
}

/// A real file.
pub struct FsFile {
    file: File,
    path: PathBuf,
}

impl FsFile {
    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl LogFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }
    fn write_all_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        FileExt::write_all_at(&self.file, bytes, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

/// The directory of the log's segment files.
pub struct FsDir;

impl FsDir {
    /// Opens (creating where missing) each named file in `dir`, read-write, mode 0600. When
    /// anything was created, `dir` and its parent are synced so the names are durable.
    pub fn create_all(dir: &Path, names: &[&str]) -> io::Result<Vec<FsFile>> {
        let mut created = !dir.exists();
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(name);
            created |= !path.exists();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)?;
            files.push(FsFile { file, path });
        }
        if created {
            sync_dir(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(files)
    }

    /// Opens each named file read-only; an error if one is missing.
    pub fn open_all(dir: &Path, names: &[&str]) -> io::Result<Vec<FsFile>> {
        names
            .iter()
            .map(|name| {
                let path = dir.join(name);
                let file = File::open(&path)?;
                Ok(FsFile { file, path })
            })
            .collect()
    }
}

/// `fsync` of a directory: makes the names created or renamed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably: a temporary file beside it, synced, renamed
/// over `path`, and the directory synced. A crash leaves the old contents or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// What a [`MemFile`] does wrong, shared by every file of one in-memory log.
#[derive(Default)]
pub struct Faults {
    writes: AtomicU64,
    fail_write_at: AtomicU64,
    tear_write_at: AtomicU64,
    fail_syncs: AtomicBool,
    out_of_space: AtomicBool,
    /// Each file's bytes, so that a power loss can reach all of them.
    files: Mutex<Vec<Arc<Mutex<MemBytes>>>>,
}

impl Faults {
    /// A plan with no faults.
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    /// Fails the `n`-th write from now (1 = the next one), writing nothing.
    pub fn fail_write(&self, n: u64) {
        let at = self.writes.load(Ordering::SeqCst) + n;
        self.fail_write_at.store(at, Ordering::SeqCst);
    }

    /// Tears the `n`-th write from now: half of its bytes reach the file, then it fails.
    pub fn tear_write(&self, n: u64) {
        let at = self.writes.load(Ordering::SeqCst) + n;
        self.tear_write_at.store(at, Ordering::SeqCst);
    }

    /// Makes every sync fail (`true`) or work again (`false`).
    pub fn fail_syncs(&self, on: bool) {
        self.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// Makes every write fail with "no space left on device" (`true`), or stops that.
    pub fn out_of_space(&self, on: bool) {
        self.out_of_space.store(on, Ordering::SeqCst);
    }

    /// Whether the disk is "full".
    pub fn is_out_of_space(&self) -> bool {
        self.out_of_space.load(Ordering::SeqCst)
    }

    /// Simulates a power loss: every file goes back to what was last synced.
    pub fn power_loss(&self) {
        for file in self.files.lock().expect("faults lock").iter() {
            let mut bytes = file.lock().expect("file lock");
            bytes.current = bytes.durable.clone();
        }
    }

    /// Writes counted so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    fn before_write(&self) -> Result<WriteFault, io::Error> {
        if self.out_of_space.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (simulated)",
            ));
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_write_at.load(Ordering::SeqCst) == n {
            return Err(io::Error::other("write failed (simulated)"));
        }
        if self.tear_write_at.load(Ordering::SeqCst) == n {
            return Ok(WriteFault::Tear);
        }
        Ok(WriteFault::None)
    }
}

enum WriteFault {
    None,
    Tear,
}

#[derive(Default)]
struct MemBytes {
    current: Vec<u8>,
    durable: Vec<u8>,
}

/// A file in memory that obeys a [`Faults`] plan.
#[derive(Clone)]
pub struct MemFile {
    bytes: Arc<Mutex<MemBytes>>,
    faults: Arc<Faults>,
}

impl MemFile {
    /// A new empty file under `faults`.
    pub fn new(faults: &Arc<Faults>) -> MemFile {
        let bytes = Arc::new(Mutex::new(MemBytes::default()));
        faults
            .files
            .lock()
            .expect("faults lock")
            .push(Arc::clone(&bytes));
        MemFile {
            bytes,
            faults: Arc::clone(faults),
        }
    }

    /// Replaces the file's bytes (written and durable), for damage tests.
    pub fn set_bytes(&self, new: Vec<u8>) {
        let mut bytes = self.bytes.lock().expect("file lock");
        bytes.durable = new.clone();
        bytes.current = new;
    }

    /// The file's current bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("file lock").current.clone()
    }
}

impl LogFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.bytes.lock().expect("file lock").current.len() as u64)
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.bytes.lock().expect("file lock");
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start.checked_add(buf.len());
        match end.and_then(|end| bytes.current.get(start..end)) {
            Some(slice) => {
                buf.copy_from_slice(slice);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            )),
        }
    }
    fn write_all_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let fault = self.faults.before_write()?;
        let mut bytes = self.bytes.lock().expect("file lock");
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let data = match fault {
            WriteFault::None => data,
            WriteFault::Tear => &data[..data.len() / 2],
        };
        if bytes.current.len() < start + data.len() {
            bytes.current.resize(start + data.len(), 0);
        }
        bytes.current[start..start + data.len()].copy_from_slice(data);
        match fault {
            WriteFault::None => Ok(()),
            WriteFault::Tear => Err(io::Error::other("torn write (simulated)")),
        }
    }
    fn sync(&self) -> io::Result<()> {
        if self.faults.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::other("fdatasync failed (simulated)"));
        }
        let mut bytes = self.bytes.lock().expect("file lock");
        bytes.durable = bytes.current.clone();
        Ok(())
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut bytes = self.bytes.lock().expect("file lock");
        let len = usize::try_from(len).map_err(io::Error::other)?;
        bytes.current.resize(len, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_keeps_only_synced_bytes() {
        let faults = Faults::new();
        let file = MemFile::new(&faults);
        file.write_all_at(0, b"abc").unwrap();
        file.sync().unwrap();
        file.write_all_at(3, b"def").unwrap();
        assert_eq!(file.len().unwrap(), 6);
        faults.power_loss();
        assert_eq!(file.bytes(), b"abc");
    }

    #[test]
    fn torn_and_failed_writes() {
        let faults = Faults::new();
        let file = MemFile::new(&faults);
        faults.tear_write(1);
        assert!(file.write_all_at(0, b"abcd").is_err());
        assert_eq!(file.bytes(), b"ab");
        faults.fail_write(1);
        assert!(file.write_all_at(2, b"cd").is_err());
        assert_eq!(file.bytes(), b"ab");
        faults.out_of_space(true);
        let err = file.write_all_at(2, b"cd").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        faults.out_of_space(false);
        faults.fail_syncs(true);
        file.write_all_at(2, b"cd").unwrap();
        assert!(file.sync().is_err());
    }
}
