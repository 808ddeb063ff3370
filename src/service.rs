//! A ledger on disk: the data directory layout, `init`, and opening a ledger with its sequencer
//! running. This is the composition root shared by `serve`, `demo`, the benchmark and the tests.
//!
//! ```text
//! <data>/db/             sled database (entries, tree, state, head)
//! <data>/log.key         checkpoint signing key, C2SP signed-note text form   (mode 0600)
//! <data>/log.pub         checkpoint verifier key, `name+keyid+base64`          (public)
//! <data>/authority.key   the ledger authority's Ed25519 key file (JSON)        (mode 0600)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;

use crate::log::note::{NoteSigner, NoteVerifier};
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::keys::SecretKeyFile;
use crate::sequencer::{
    LogSigner, Receipt, Sequencer, SequencerError, SequencerHandle, Submission,
};
use crate::store::{read_secret_file, write_secret_file, Store, StoreError};

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

/// Paths inside a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
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
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            origin: "lodestone.example/rare-earths".into(),
            authority: "authority".into(),
            authority_name: "Rare Earth Provenance Registry".into(),
            authority_country: "CH".into(),
        }
    }
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
    /// the sequencer like any other entry).
    pub fn init(dir: &DataDir, options: &InitOptions) -> Result<InitReport, ServiceError> {
        for existing in [dir.log_key(), dir.root().join("db")] {
            if existing.exists() {
                return Err(ServiceError::AlreadyInitialized {
                    dir: dir.root().display().to_string(),
                    found: existing.display().to_string(),
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
        let genesis = serde_json::json!({
            "kind": "genesis",
            "id": "genesis",
            "actor": options.authority,
            "occurred_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "origin": options.origin,
            "name": options.authority_name,
            "country": options.authority_country,
            "public_key": crate::model::PublicKey::new(authority_key.verifying_key()),
        });
        let payload = serde_json::to_vec(&genesis).expect("JSON values serialise");
        let event = Event::from_json(&payload).map_err(|e| ServiceError::InvalidArgument {
            what: "genesis event",
            detail: e.to_string(),
        })?;
        let envelope = Envelope::sign(payload, &[&authority_key]).map_err(|e| {
            ServiceError::InvalidArgument {
                what: "genesis envelope",
                detail: e.to_string(),
            }
        })?;

        fs::create_dir_all(dir.root()).map_err(|source| StoreError::File {
            path: dir.root().display().to_string(),
            source,
        })?;
        write_secret_file(&dir.log_key(), &format!("{}\n", signer.to_text()))?;
        fs::write(dir.log_pub(), format!("{}\n", signer.verifier().to_text())).map_err(
            |source| StoreError::File {
                path: dir.log_pub().display().to_string(),
                source,
            },
        )?;
        let key_file = SecretKeyFile::new(&authority_key, Some(options.authority.clone()));
        write_secret_file(&dir.authority_key(), &key_file.to_json())?;

        let service = LogService::open(dir)?;
        let outcome = service
            .handle()
            .submit_blocking(vec![Submission { envelope, event }])
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
        Ok(report)
    }

    /// Opens the ledger in `dir` and starts its sequencer. Reads only the stored head.
    pub fn open(dir: &DataDir) -> Result<LogService, ServiceError> {
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
        let store = Store::open(dir.root())?;
        let sequencer = Sequencer::start(
            store.clone(),
            LogSigner {
                origin: signer.name().to_owned(),
                signer,
            },
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
