//! Secret key files: written with mode 0600 (owner read/write only), synced to disk, and never
//! overwritten by accident.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::StoreError;

fn file_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `path` with mode 0600 and writes `contents`. Fails if the file already exists: a key
/// is never silently replaced.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, e))
}

/// Reads a secret file as text.
pub fn read_secret_file(path: &Path) -> Result<String, StoreError> {
    fs::read_to_string(path).map_err(|e| file_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn written_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/log.key");
        write_secret_file(&path, "secret\n").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_secret_file(&path).unwrap(), "secret\n");
        assert!(write_secret_file(&path, "other").is_err());
        assert_eq!(read_secret_file(&path).unwrap(), "secret\n");
    }
}
