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

/// Reads a secret file as text. A file that others than its owner may read (or write) is
/// refused with a message saying how to fix it: a key that leaked is no longer a key.
pub fn read_secret_file(path: &Path) -> Result<String, StoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path)
        .map_err(|e| file_error(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::File {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "secret key file has mode {mode:04o}, readable by others; run `chmod 600 {}` (and replace the key if others may have read it)",
                    path.display()
                ),
            ),
        });
    }
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

    #[test]
    fn world_readable_secret_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leaky.key");
        fs::write(&path, "secret").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let message = read_secret_file(&path).unwrap_err().to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains("0644"), "{message}");
    }
}
