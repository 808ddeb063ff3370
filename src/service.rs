//! A ledger on disk: the data directory layout, `init`, and opening a ledger with its sequencer
//! running. This is the composition root shared by `serve`, `demo`, the benchmark and the tests.
//!
//! ```text
//! <data>/                the data directory                                    (mode 0700)
//! <data>/LAYOUT          layout version
//! <data>/log/            the log's segment files (the source of truth)
//! <data>/state/          sled: the ledger state (rebuilt from the log when behind)
//! <data>/log.key         checkpoint signing key, C2SP signed-note text form   (mode 0600)
//! <data>/log.pub         checkpoint verifier key, `name+keyid+base64`          (public)
//! <data>/authority.key   the ledger authority's Ed25519 key file (JSON)        (mode 0600)
//! ```
//!
//! With `--store postgres://…` ([`DataDir::with_store`]) the directory holds only the keys and a
//! `STORE` file naming the database; the log and state are in PostgreSQL
//! ([`crate::store::postgres`]).
//!
//! `init` is atomic: the ledger is built in a temporary directory beside the target (keys,
//! layout, genesis entry, all synced) and renamed into place, so a crash leaves nothing or a
//! complete ledger. The genesis entry goes through the sequencer directly, never over HTTP.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rand_core::OsRng;

use crate::log::note::{NoteSigner, NoteVerifier};
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::keys::SecretKeyFile;
use crate::sequencer::{
    LogSigner, Receipt, Sequencer, SequencerError, SequencerHandle, Submission,
};
use crate::store::files::{sync_dir, write_atomic};
use crate::store::{read_secret_file, write_secret_file, CheckpointGuard, Store, StoreError};

/// Why a ledger could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// `init` on a directory that already holds a ledger.
    #[error("{dir} already holds a ledger (found {found})")]
    AlreadyInitialized {
        /// The data directory.
        dir: String,
        /// The file that shows it.
        found: String,
    },
    /// `open` on a directory without a ledger.
    #[error("{dir} holds no ledger: run `lodestone init --data {dir}` first")]
    NotInitialized {
        /// The data directory.
        dir: String,
    },
    /// Keys but no genesis entry: an `init` that did not finish (from a build before `init`
    /// was atomic). Serving it would let the first POSTed genesis take the registry.
    #[error("{dir} holds keys but no genesis entry (an interrupted `init`); it is not a ledger: remove it and run `lodestone init` again")]
    NoGenesis {
        /// The data directory.
        dir: String,
    },
    /// A key file is unreadable or malformed.
    #[error("key file {path}: {detail}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The origin or authority id given to `init` is not acceptable.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The genesis entry was refused.
    #[error("genesis entry refused: {0}")]
    Genesis(#[from] SequencerError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Paths inside a data directory, and where its log is kept: in the directory (the embedded
/// store) or, with [`DataDir::with_store`], in a PostgreSQL database while the directory keeps
/// the keys.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    store: Option<String>,
}

/// The file in a data directory whose log is in PostgreSQL: it names the database (without its
/// password), so that opening the directory without `--store` is refused instead of starting
/// an empty embedded log beside the keys.
pub const STORE_FILE: &str = "STORE";

impl DataDir {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir {
            root: root.into(),
            store: None,
        }
    }
    /// The same directory for the keys, with the log in the PostgreSQL database at `url`
    /// (`postgres://…` or `postgresql://…`); `None` keeps the embedded store.
    pub fn with_store(mut self, url: Option<String>) -> DataDir {
        self.store = url;
        self
    }
    /// The PostgreSQL URL of the log, if it is not in the directory.
    pub fn store_url(&self) -> Option<&str> {
        self.store.as_deref()
    }
    /// Opens the log's storage as its writer: the embedded store in the directory, or the
    /// PostgreSQL database.
    pub fn open_store(&self) -> Result<Store, StoreError> {
        match &self.store {
            Some(url) => Store::postgres(url),
            None => {
                self.refuse_embedded()?;
                Store::open(&self.root)
            }
        }
    }
    /// Opens the log's storage for reading only.
    pub fn open_store_read_only(&self) -> Result<Store, StoreError> {
        match &self.store {
            Some(url) => Store::postgres_read_only(url),
            None => {
                self.refuse_embedded()?;
                Store::open_read_only(&self.root)
            }
        }
    }
    fn refuse_embedded(&self) -> Result<(), StoreError> {
        match fs::read_to_string(self.root.join(STORE_FILE)) {
            Ok(text) => Err(StoreError::Layout {
                dir: self.root.display().to_string(),
                detail: format!(
                    "this ledger's log is kept in PostgreSQL ({}): give its URL with --store (or LODESTONE_STORE)",
                    text.trim()
                ),
            }),
            Err(_) => Ok(()),
        }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Checkpoint signing key.
    pub fn log_key(&self) -> PathBuf {
        self.root.join("log.key")
    }
    /// Checkpoint verifier key.
    pub fn log_pub(&self) -> PathBuf {
        self.root.join("log.pub")
    }
    /// The authority's key file.
    pub fn authority_key(&self) -> PathBuf {
        self.root.join("authority.key")
    }
}

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    /// The log's origin line.
    pub origin: String,
    /// The checkpoint verifier key (signed-note text form) auditors need.
    pub verifier_key: String,
    /// Where the authority key was written.
    pub authority_key: PathBuf,
    /// Receipt of the genesis entry.
    pub genesis: Receipt,
}

/// Settings for a new ledger.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Checkpoint origin, e.g. `lodestone.example/rare-earths`; also the log key's name.
    pub origin: String,
    /// Actor id of the ledger authority.
    pub authority: String,
    /// Display name of the authority.
    pub authority_name: String,
    /// ISO country of the authority.
    pub authority_country: String,
    /// The genesis backfill window in days (`None`: the ledger's default, 90).
    pub backfill_days: Option<u32>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            origin: "lodestone.example/rare-earths".into(),
            authority: "authority".into(),
            authority_name: "Rare Earth Provenance Registry".into(),
            authority_country: "CH".into(),
            backfill_days: None,
        }
    }
}

/// Where the checkpoint guard lives.
#[derive(Clone, Debug, Default)]
pub enum GuardSetting {
    /// [`CheckpointGuard::default_dir`].
    #[default]
    Default,
    /// A given directory.
    Dir(PathBuf),
    /// No guard (a throwaway ledger).
    Off,
}

/// How to open a ledger.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The checkpoint guard's directory.
    pub guard: GuardSetting,
    /// Open the log for reading only (`serve --read-only` on a PostgreSQL replica): nothing is
    /// written, the guard is not consulted, and every write is refused.
    pub read_only: bool,
}

/// The genesis entry of a new ledger described by `options`, signed by the authority's key.
pub fn genesis_submission(
    options: &InitOptions,
    authority_key: &SigningKey,
) -> Result<Submission, ServiceError> {
    let mut genesis = serde_json::json!({
        "kind": "genesis",
        "id": "genesis",
        "actor": options.authority,
        "occurred_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "origin": options.origin,
        "name": options.authority_name,
        "country": options.authority_country,
        "public_key": crate::model::PublicKey::new(authority_key.verifying_key()),
    });
    if let Some(days) = options.backfill_days {
        genesis["backfill_days"] = serde_json::json!(days);
    }
    let payload = serde_json::to_vec(&genesis).expect("JSON values serialise");
    let event = Event::from_json(&payload).map_err(|e| ServiceError::InvalidArgument {
        what: "genesis event",
        detail: e.to_string(),
    })?;
    let envelope =
        Envelope::sign(payload, &[authority_key]).map_err(|e| ServiceError::InvalidArgument {
            what: "genesis envelope",
            detail: e.to_string(),
        })?;
    Ok(Submission { envelope, event })
}

/// Creates `path` with mode 0700 (a data directory holds secret keys).
fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|source| StoreError::File {
            path: path.display().to_string(),
            source,
        })
}

/// An open ledger with its sequencer running.
pub struct LogService {
    /// The database (cheap to clone, shared by readers).
    pub store: Store,
    /// The checkpoint verifier key.
    pub verifier: NoteVerifier,
    sequencer: Sequencer,
}

impl LogService {
    /// Creates a ledger in `dir`: log key, authority key, and the genesis entry (appended through
    /// the sequencer like any other entry). Atomic: built in a temporary directory beside `dir`,
    /// synced, then renamed into place. `dir` must not exist or be an empty directory.
    pub fn init(dir: &DataDir, options: &InitOptions) -> Result<InitReport, ServiceError> {
        let target = dir.root();
        let shown = target.display().to_string();
        if let Ok(mut listing) = fs::read_dir(target) {
            if let Some(Ok(found)) = listing.next() {
                return Err(ServiceError::AlreadyInitialized {
                    dir: shown,
                    found: found.path().display().to_string(),
                });
            }
        }
        let signer =
            NoteSigner::new(&options.origin, SigningKey::generate(&mut OsRng)).map_err(|e| {
                ServiceError::InvalidArgument {
                    what: "origin",
                    detail: e.to_string(),
                }
            })?;
        let authority_key = SigningKey::generate(&mut OsRng);
        let genesis = genesis_submission(options, &authority_key)?;

        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::File { path, source }
        };
        fs::create_dir_all(parent).map_err(file_error(parent))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ledger".into());
        // Staging directories of `init`s of this target that were killed are garbage.
        let stale = format!(".{name}.init-");
        if let Ok(listing) = fs::read_dir(parent) {
            for entry in listing.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&stale) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let staging = DataDir::new(parent.join(format!("{stale}{}", std::process::id())))
            .with_store(dir.store.clone());
        create_private_dir(staging.root())?;
        let built = (|| -> Result<InitReport, ServiceError> {
            write_secret_file(&staging.log_key(), &format!("{}\n", signer.to_text()))?;
            write_atomic(
                &staging.log_pub(),
                format!("{}\n", signer.verifier().to_text()).as_bytes(),
                0o644,
            )
            .map_err(file_error(&staging.log_pub()))?;
            let key_file = SecretKeyFile::new(&authority_key, Some(options.authority.clone()));
            write_secret_file(&staging.authority_key(), &key_file.to_json())?;
            if let Some(url) = &staging.store {
                write_atomic(
                    &staging.root().join(STORE_FILE),
                    format!("{}\n", crate::store::postgres::redacted(url)).as_bytes(),
                    0o644,
                )
                .map_err(file_error(&staging.root().join(STORE_FILE)))?;
            }
            let service = LogService::start(&staging, &OpenOptions::default(), true)?;
            if let (Some(url), Some(head)) = (&staging.store, service.store.head()?) {
                service.shutdown();
                return Err(ServiceError::AlreadyInitialized {
                    dir: crate::store::postgres::redacted(url),
                    found: format!("a log of {} entries", head.size),
                });
            }
            let outcome = service
                .handle()
                .submit_blocking(vec![genesis])
                .pop()
                .expect("one outcome per submission");
            let genesis = outcome?;
            let report = InitReport {
                origin: options.origin.clone(),
                verifier_key: service.verifier.to_text(),
                authority_key: dir.authority_key(),
                genesis,
            };
            service.shutdown();
            sync_dir(staging.root()).map_err(file_error(staging.root()))?;
            Ok(report)
        })();
        let report = match built {
            Ok(report) => report,
            Err(e) => {
                let _ = fs::remove_dir_all(staging.root());
                return Err(e);
            }
        };
        // Replaces `dir` only if it is missing or an empty directory (rename(2) semantics).
        fs::rename(staging.root(), target).map_err(|source| {
            let _ = fs::remove_dir_all(staging.root());
            StoreError::File {
                path: shown.clone(),
                source,
            }
        })?;
        sync_dir(parent).map_err(file_error(parent))?;
        Ok(report)
    }

    /// Opens the ledger in `dir` and starts its sequencer, with the default checkpoint guard.
    pub fn open(dir: &DataDir) -> Result<LogService, ServiceError> {
        LogService::open_with(dir, &OpenOptions::default())
    }

    /// Opens the ledger in `dir` and starts its sequencer. Refuses a directory that is not a
    /// complete ledger; a log behind its remembered checkpoint opens read-only (writes refused).
    pub fn open_with(dir: &DataDir, options: &OpenOptions) -> Result<LogService, ServiceError> {
        LogService::start(dir, options, false)
    }

    fn start(
        dir: &DataDir,
        options: &OpenOptions,
        initializing: bool,
    ) -> Result<LogService, ServiceError> {
        let key_path = dir.log_key();
        if !key_path.exists() {
            return Err(ServiceError::NotInitialized {
                dir: dir.root().display().to_string(),
            });
        }
        let text = read_secret_file(&key_path)?;
        let signer = NoteSigner::from_text(text.trim()).map_err(|e| ServiceError::KeyFile {
            path: key_path.display().to_string(),
            detail: e.to_string(),
        })?;
        let verifier = signer.verifier();
        let store = if options.read_only {
            dir.open_store_read_only()?
        } else {
            dir.open_store()?
        };
        if !initializing && store.head()?.is_none() {
            // Files that lost every entry a checkpoint covers are a damaged ledger, not an
            // interrupted `init`: say so, never "remove it".
            if let crate::store::Health::ReadOnly { reason } = store.health() {
                return Err(StoreError::ReadOnly { reason }.into());
            }
            return Err(ServiceError::NoGenesis {
                dir: dir.root().display().to_string(),
            });
        }
        let guard = match &options.guard {
            _ if options.read_only => None,
            GuardSetting::Off => None,
            GuardSetting::Default => CheckpointGuard::default_dir(),
            GuardSetting::Dir(path) => Some(path.clone()),
        }
        .map(|path| Arc::new(CheckpointGuard::new(&path, &verifier)));
        if let Some(guard) = &guard {
            if let Err(reason) = guard.check(&store, &verifier) {
                tracing::error!("{reason}");
                store.refuse_writes(reason);
            }
        }
        if let crate::store::Health::ReadOnly { reason } = store.health() {
            if !options.read_only {
                tracing::error!("{reason}");
            }
        }
        let sequencer = Sequencer::start(
            store.clone(),
            LogSigner {
                origin: signer.name().to_owned(),
                signer,
            },
            guard,
        )?;
        Ok(LogService {
            store,
            verifier,
            sequencer,
        })
    }

    /// A handle to submit envelopes and read the head.
    pub fn handle(&self) -> SequencerHandle {
        self.sequencer.handle()
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// Finishes queued work and stops the sequencer.
    pub fn shutdown(self) {
        self.sequencer.shutdown();
    }
}
