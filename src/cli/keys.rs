//! `lodestone keygen`: a participant's Ed25519 key file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ed25519_dalek::SigningKey;
use rand_core::OsRng;

use crate::model::keys::SecretKeyFile;
use crate::store::{read_secret_file, write_secret_file};

use super::output;

/// `lodestone keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key file (created with mode 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// The actor id this key is for (recorded in the file, checked by `submit`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Writes a new key file and prints its public half.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if let Some(actor) = &args.actor {
        actor
            .parse::<crate::model::ids::ActorId>()
            .with_context(|| format!("--actor {actor:?}"))?;
    }
    let key = SigningKey::generate(&mut OsRng);
    let file = SecretKeyFile::new(&key, args.actor.clone());
    write_secret_file(&args.out, &file.to_json())
        .with_context(|| format!("cannot create key file {}", args.out.display()))?;
    if args.json {
        output::json(&serde_json::json!({
            "file": args.out,
            "actor": args.actor,
            "public_key": file.public_key,
            "key_id": file.key_id,
        }));
    } else {
        output::fields(&[
            ("key file", format!("{} (mode 0600)", args.out.display())),
            ("public key", file.public_key.to_base64()),
            ("key id", file.key_id.to_string()),
        ]);
        crate::say!("\nGive the public key to the ledger authority to register it.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads a key file written by `keygen` or `init`.
pub fn load(path: &Path) -> anyhow::Result<(SecretKeyFile, SigningKey)> {
    let text = read_secret_file(path).with_context(|| "cannot read the key file".to_string())?;
    SecretKeyFile::parse(&text).with_context(|| format!("{}", path.display()))
}
