//! `lodestone submit` and `lodestone register`: build or read an event, sign it into a DSSE
//! envelope with the actor's key, post it, and check the receipt (the entry holds our envelope,
//! its leaf hash is in the checkpoint's tree, and — with `--log-key` — the checkpoint is signed
//! by the log).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use serde_json::{json, Map, Value};

use crate::http::ReceiptBody;
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteVerifier;
use crate::log::tree::verify_inclusion;
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::keys::SecretKeyFile;

use super::client::Client;
use super::{keys, output, witnessed, DEFAULT_DATA, DEFAULT_SERVER};

/// Where to send and how to check.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The Lodestone server.
    #[arg(long, default_value = DEFAULT_SERVER, env = "LODESTONE_SERVER")]
    pub server: String,
    /// The log's verifier key (`name+keyid+base64`, as in `log.pub`); when given, the receipt's
    /// checkpoint signature is checked too.
    #[arg(long, env = "LODESTONE_LOG_KEY")]
    pub log_key: Option<String>,
    /// The checkpoint origin of the log the event is for (its `log` field), when the event does
    /// not name it; default: the server's, from `GET /v1/log`.
    #[arg(long = "log")]
    pub log: Option<String>,
    /// Print the signed envelope instead of submitting it.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lodestone submit`.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The event JSON file (docs/EVENTS.md), or `-` for standard input.
    pub event: PathBuf,
    /// The actor's key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Server and output options.
    #[command(flatten)]
    pub target: Target,
    /// Waiting for the witnessed proof.
    #[command(flatten)]
    pub witnessed: witnessed::WaitArgs,
}

/// `lodestone register ...` (signed by the authority).
#[derive(Subcommand, Debug)]
pub enum RegisterCommand {
    /// Register a new participant with its roles, sites and public key.
    #[command(
        after_help = "Example:\n  lodestone register actor --subject mp-materials --name \"MP Materials\" --country US \\\n    --role miner --role separator --site mountain-pass,mine,US,\"Mountain Pass mine\" \\\n    --prefix MP- --key-file mp-materials.key"
    )]
    Actor(RegisterActorArgs),
    /// Change a participant's name, country or roles, or add sites and keys.
    #[command(
        after_help = "Examples:\n  lodestone register update --subject lynas --add-site \"kalgoorlie,plant,AU,Kalgoorlie cracking plant\"\n  lodestone register update --subject lynas --add-key-file lynas-2027.key"
    )]
    Update(UpdateActorArgs),
    /// Revoke one of a participant's keys.
    #[command(
        after_help = "Example:\n  lodestone register revoke --subject lynas --key-id <64 hex> --reason \"key file lost\""
    )]
    Revoke(RevokeArgs),
}

/// Options every registry command shares.
#[derive(Args, Debug)]
pub struct Authority {
    /// The authority's key file.
    #[arg(long, default_value_t = format!("{DEFAULT_DATA}/authority.key"))]
    pub authority_key: String,
    /// Event id (default: `<kind>-<subject>-<unix millis>`).
    #[arg(long)]
    pub id: Option<String>,
    /// Server and output options.
    #[command(flatten)]
    pub target: Target,
}

/// `register actor`.
#[derive(Args, Debug)]
pub struct RegisterActorArgs {
    /// The new participant's actor id.
    #[arg(long)]
    pub subject: String,
    /// Its legal or trading name.
    #[arg(long)]
    pub name: String,
    /// ISO 3166-1 alpha-2 country.
    #[arg(long)]
    pub country: String,
    /// A role (repeat): miner, processor, separator, metallizer, magnet_maker, manufacturer,
    /// recycler, certifier, trader, authority.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// A site as `id,kind,country,name` (kind: mine or plant); repeat for several.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    /// Its public key (base64); repeat for several.
    #[arg(long = "public-key")]
    pub public_keys: Vec<String>,
    /// A key file whose public key to register; repeat for several.
    #[arg(long = "key-file")]
    pub key_files: Vec<PathBuf>,
    /// A batch id prefix the participant creates batches under (e.g. `LYN-`); repeat for
    /// several. No prefix may start another participant's.
    #[arg(long = "prefix")]
    pub prefixes: Vec<String>,
    /// Authority key, event id, server.
    #[command(flatten)]
    pub authority: Authority,
}

/// `register update`.
#[derive(Args, Debug)]
pub struct UpdateActorArgs {
    /// The participant's actor id.
    #[arg(long)]
    pub subject: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New country.
    #[arg(long)]
    pub country: Option<String>,
    /// Replacement role set (repeat).
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// A site to add, `id,kind,country,name` (repeat).
    #[arg(long = "add-site")]
    pub add_sites: Vec<String>,
    /// A public key to add, base64 (repeat).
    #[arg(long = "add-public-key")]
    pub add_public_keys: Vec<String>,
    /// A key file whose public key to add (repeat).
    #[arg(long = "add-key-file")]
    pub add_key_files: Vec<PathBuf>,
    /// A batch id prefix to add (repeat).
    #[arg(long = "add-prefix")]
    pub add_prefixes: Vec<String>,
    /// Authority key, event id, server.
    #[command(flatten)]
    pub authority: Authority,
}

/// `register revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The participant's actor id.
    #[arg(long)]
    pub subject: String,
    /// The key id (hex SHA-256 of the public key) to revoke.
    #[arg(long)]
    pub key_id: String,
    /// Why (recorded in the log).
    #[arg(long)]
    pub reason: String,
    /// Authority key, event id, server.
    #[command(flatten)]
    pub authority: Authority,
}

/// Signs and submits an event file.
pub fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let payload = if args.event.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading the event from standard input")?;
        buf
    } else {
        std::fs::read(&args.event)
            .with_context(|| format!("cannot read event file {}", args.event.display()))?
    };
    let (file, key) = keys::load(&args.key)?;
    let payload = complete(payload, &file, &args.target)?;
    sign_and_send(payload, &file, &key, &args.target, Some(&args.witnessed))
}

/// Fills in what an event file may leave out: `log` (the target log's origin) and `occurred_at`
/// (now). A file that has both is signed byte for byte as it is; otherwise the completed event
/// is what gets signed (`--dry-run` shows it). docs/EVENTS.md, "Event files".
fn complete(payload: Vec<u8>, file: &SecretKeyFile, target: &Target) -> anyhow::Result<Vec<u8>> {
    let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(&payload) else {
        // Not a JSON object: the strict parse reports what is wrong.
        return Ok(payload);
    };
    let kind = event
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let needs_log = kind != "genesis" && !event.contains_key("log");
    let needs_time = !event.contains_key("occurred_at");
    if !needs_log && !needs_time {
        return Ok(payload);
    }
    if needs_time {
        event.insert("occurred_at".into(), json!(now().0));
    }
    if needs_log {
        // Everything that can be checked here is checked before asking the server, so a bad
        // file or key fails without the network.
        let mut probe = event.clone();
        probe.insert("log".into(), json!("-"));
        let probe = serde_json::to_vec(&Value::Object(probe)).expect("JSON values serialise");
        let parsed = Event::from_json(&probe).context("the event is not valid")?;
        check_actor(file, &parsed)?;
        event.insert("log".into(), json!(log_origin(target)?));
    }
    Ok(serde_json::to_vec(&Value::Object(event)).expect("JSON values serialise"))
}

/// The key file, if it names its actor, belongs to the event's actor.
fn check_actor(file: &SecretKeyFile, event: &Event) -> anyhow::Result<()> {
    match &file.actor {
        Some(actor) if actor != event.actor.as_ref() => bail!(
            "the key file belongs to `{actor}` but the event's actor is `{}`",
            event.actor
        ),
        _ => Ok(()),
    }
}

/// The origin of the log we write to: `--log`, or what the server says it is.
fn log_origin(target: &Target) -> anyhow::Result<String> {
    if let Some(origin) = &target.log {
        return Ok(origin.clone());
    }
    let info = Client::new(&target.server)
        .get_json("/v1/log")
        .context("asking the server for its log origin (or give --log)")?;
    info["origin"]
        .as_str()
        .map(str::to_owned)
        .context("the server's GET /v1/log has no origin")
}

/// Signs `payload` (after checking it is a valid event of the key's actor) and submits it.
fn sign_and_send(
    payload: Vec<u8>,
    file: &SecretKeyFile,
    key: &SigningKey,
    target: &Target,
    wait: Option<&witnessed::WaitArgs>,
) -> anyhow::Result<ExitCode> {
    let event = Event::from_json(&payload).context("the event is not valid")?;
    check_actor(file, &event)?;
    let envelope = Envelope::sign(payload, &[key]).context("cannot sign the event")?;
    if target.dry_run {
        output::json(&envelope.to_json_value());
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::new(&target.server);
    let (status, body) = client.post_json("/v1/entries", &envelope.to_json())?;
    let receipt: ReceiptBody =
        serde_json::from_value(body.clone()).context("the server sent a malformed receipt")?;
    check_receipt(&client, &envelope, &receipt, target.log_key.as_deref())?;
    let proof = match wait.filter(|w| w.wait_witnessed) {
        Some(w) => Some(witnessed::wait(
            &target.server,
            receipt.index,
            &receipt.leaf_hash,
            w,
            target.log_key.as_deref(),
        )?),
        None => None,
    };
    if target.json {
        let mut body = body;
        if let Some(p) = &proof {
            body["witnessed"] = json!({"size": p.size, "cosigned": p.cosigned, "proof": p.text});
        }
        output::json(&body);
    } else {
        let what = if status == 200 {
            "already in the log (identical retry)"
        } else {
            "appended"
        };
        output::fields(&[
            ("event", format!("{} ({})", event.id, event.kind_name())),
            ("result", what.to_owned()),
            ("entry", receipt.index.to_string()),
            ("leaf hash", receipt.leaf_hash.to_base64()),
            (
                "checkpoint",
                format!("size {} root {}", receipt.size, receipt.root.to_base64()),
            ),
            ("receipt", "inclusion proof verified".to_owned()),
        ]);
        if let Some(p) = &proof {
            output::fields(&[(
                "witnessed",
                format!(
                    "proof against checkpoint size {} verified{}",
                    p.size,
                    if p.cosigned.is_empty() {
                        String::new()
                    } else {
                        format!(", cosigned by {}", p.cosigned.join(", "))
                    }
                ),
            )]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks a receipt: the entry at its index holds our envelope and hashes to its leaf hash, the
/// inclusion proof leads to the checkpoint's root, and (with a log key) the checkpoint is signed.
fn check_receipt(
    client: &Client,
    envelope: &Envelope,
    receipt: &ReceiptBody,
    log_key: Option<&str>,
) -> anyhow::Result<()> {
    let checkpoint = match log_key {
        Some(text) => {
            let verifier = NoteVerifier::from_text(text.trim()).context("--log-key")?;
            Checkpoint::open(&receipt.checkpoint, &verifier)
                .context("the receipt's checkpoint is not signed by the log key")?
        }
        None => Checkpoint::parse(crate::http::receipt_note_body(&receipt.checkpoint))
            .context("the receipt's checkpoint does not parse")?,
    };
    if checkpoint.size != receipt.size || checkpoint.root != receipt.root {
        bail!("the receipt's size or root differ from its checkpoint");
    }
    verify_inclusion(
        &receipt.leaf_hash,
        receipt.index,
        receipt.size,
        &receipt.proof,
        &receipt.root,
    )
    .context("the receipt's inclusion proof does not verify")?;
    let entry = client.get_json(&format!("/v1/entries/{}", receipt.index))?;
    let leaf = entry["leaf"]
        .as_str()
        .and_then(|b| B64.decode(b).ok())
        .context("the server's entry has no leaf bytes")?;
    if leaf_hash(&leaf) != receipt.leaf_hash {
        bail!(
            "entry {} does not hash to the receipt's leaf hash",
            receipt.index
        );
    }
    let stored = crate::model::entry::Entry::decode(&leaf).context("the stored entry")?;
    if stored.envelope != *envelope {
        bail!("entry {} does not hold the envelope we sent", receipt.index);
    }
    Ok(())
}

fn now() -> (String, u128) {
    let now = chrono::Utc::now();
    (
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        now.timestamp_millis() as u128,
    )
}

fn site(spec: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = spec.splitn(4, ',').collect();
    let [id, kind, country, name] = parts[..] else {
        bail!("--site {spec:?}: expected `id,kind,country,name`, e.g. `mountain-pass,mine,US,Mountain Pass mine`");
    };
    Ok(json!({"id": id, "kind": kind, "country": country, "name": name}))
}

fn public_keys(inline: &[String], files: &[PathBuf]) -> anyhow::Result<Vec<Value>> {
    let mut out: Vec<Value> = inline.iter().map(|k| json!(k)).collect();
    for path in files {
        let (file, _) = keys::load(path)?;
        out.push(json!(file.public_key));
    }
    Ok(out)
}

/// Signs a registry event with the authority key and submits it.
fn send_registry(
    kind: &str,
    subject: &str,
    fields: Map<String, Value>,
    authority: &Authority,
) -> anyhow::Result<ExitCode> {
    let (file, key) = keys::load(std::path::Path::new(&authority.authority_key))?;
    let actor = file
        .actor
        .clone()
        .context("the authority key file does not name its actor")?;
    let (occurred_at, millis) = now();
    let mut event = Map::new();
    event.insert("kind".into(), json!(kind));
    event.insert(
        "id".into(),
        json!(authority
            .id
            .clone()
            .unwrap_or_else(|| format!("{kind}-{subject}-{millis}"))),
    );
    event.insert("actor".into(), json!(actor));
    event.insert("log".into(), json!(log_origin(&authority.target)?));
    event.insert("occurred_at".into(), json!(occurred_at));
    event.insert("subject".into(), json!(subject));
    event.extend(fields);
    let payload = serde_json::to_vec(&Value::Object(event)).expect("JSON values serialise");
    sign_and_send(payload, &file, &key, &authority.target, None)
}

/// `lodestone register ...`.
pub fn register(command: RegisterCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegisterCommand::Actor(a) => {
            let keys = public_keys(&a.public_keys, &a.key_files)?;
            if keys.is_empty() {
                bail!("give the participant's key with --public-key or --key-file");
            }
            let sites = a
                .sites
                .iter()
                .map(|s| site(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut fields = Map::new();
            fields.insert("name".into(), json!(a.name));
            fields.insert("country".into(), json!(a.country));
            fields.insert("roles".into(), json!(a.roles));
            fields.insert("sites".into(), json!(sites));
            fields.insert("public_keys".into(), json!(keys));
            if !a.prefixes.is_empty() {
                fields.insert("prefixes".into(), json!(a.prefixes));
            }
            send_registry("register_actor", &a.subject, fields, &a.authority)
        }
        RegisterCommand::Update(u) => {
            let mut fields = Map::new();
            if let Some(name) = u.name {
                fields.insert("name".into(), json!(name));
            }
            if let Some(country) = u.country {
                fields.insert("country".into(), json!(country));
            }
            if !u.roles.is_empty() {
                fields.insert("roles".into(), json!(u.roles));
            }
            if !u.add_sites.is_empty() {
                let sites = u
                    .add_sites
                    .iter()
                    .map(|s| site(s))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                fields.insert("add_sites".into(), json!(sites));
            }
            let keys = public_keys(&u.add_public_keys, &u.add_key_files)?;
            if !keys.is_empty() {
                fields.insert("add_public_keys".into(), json!(keys));
            }
            if !u.add_prefixes.is_empty() {
                fields.insert("add_prefixes".into(), json!(u.add_prefixes));
            }
            if fields.is_empty() {
                bail!("nothing to update: give --name, --country, --role, --add-site, --add-public-key or --add-prefix");
            }
            send_registry("update_actor", &u.subject, fields, &u.authority)
        }
        RegisterCommand::Revoke(r) => {
            let mut fields = Map::new();
            fields.insert("key_id".into(), json!(r.key_id));
            fields.insert("reason".into(), json!(r.reason));
            send_registry("revoke_key", &r.subject, fields, &r.authority)
        }
    }
}
