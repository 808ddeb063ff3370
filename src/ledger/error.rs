//! Why the ledger refused an event. Every variant has a stable snake_case problem code
//! ([`LedgerError::code`]) that the HTTP layer sends as the RFC 9457 `code`, and a message a
//! participant can act on. docs/MODEL.md lists the codes with the rules they enforce.

use std::fmt;

use crate::model::event::EventError;
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, Grams, SiteId, Timestamp};
use crate::model::keys::KeyId;
use crate::model::material::{Element, Form, Process, RetireReason, Role, SiteKind};

use super::controls_state::ControlsError;
use super::state::StateError;

/// Why a site may not be used by the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteProblem {
    /// No such site.
    Unknown,
    /// Registered to another actor.
    OwnedBy(ActorId),
    /// `extract` needs a mine.
    NotAMine(SiteKind),
}

impl fmt::Display for SiteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteProblem::Unknown => f.write_str("is not registered"),
            SiteProblem::OwnedBy(owner) => write!(f, "belongs to {owner}"),
            SiteProblem::NotAMine(kind) => write!(f, "is a {kind}, not a mine"),
        }
    }
}

/// Which side of a transform a batch is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A consumed input.
    Input,
    /// A created output.
    Output,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Input => "input",
            Side::Output => "output",
        })
    }
}

/// Content that contradicts itself or the registry, whatever the batches hold
/// (problem code `invalid_event`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// A size limit of the payload (also checked when parsing).
    #[error("{0}")]
    Limits(EventError),
    /// A transform without inputs.
    #[error("a transform needs at least one input")]
    NoInputs,
    /// A transform without outputs.
    #[error("a transform needs at least one output")]
    NoOutputs,
    /// A zero mass where mass must move.
    #[error("the mass of {batch} must be more than 0 g")]
    ZeroMass {
        /// The batch.
        batch: BatchId,
    },
    /// The same output id twice.
    #[error("output {batch} is listed twice")]
    DuplicateOutput {
        /// The batch.
        batch: BatchId,
    },
    /// `split` takes exactly one input.
    #[error("split takes exactly one input, got {count}")]
    SplitInputs {
        /// Inputs given.
        count: usize,
    },
    /// `merge` makes exactly one output.
    #[error("merge makes exactly one output, got {count}")]
    MergeOutputs {
        /// Outputs given.
        count: usize,
    },
    /// `split` and `merge` only regroup material.
    #[error("{process} cannot take additives")]
    AdditivesNotAllowed {
        /// The process.
        process: Process,
    },
    /// A stored total does not fit 64 bits: the outputs of one transform, its additives, or a
    /// batch's transit loss (sums are computed exactly; only what is stored is bounded).
    #[error(
        "the {what} add up to {total_g} g, more than the {} g one total may hold",
        u64::MAX
    )]
    MassOverflow {
        /// Which total.
        what: &'static str,
        /// The exact sum.
        total_g: u128,
    },
    /// Grain boundary diffusion diffuses a heavy rare-earth metal or alloy into magnets: it
    /// takes both.
    #[error(
        "grain_boundary_diffusion takes at least one magnet input and one metal or alloy input"
    )]
    DiffusionInputs,
    /// An assay's measured composition weighs more than the batch.
    #[error("the assayed composition of {batch} adds up to {composition_g} g, more than its {created_g}")]
    AssayTooHeavy {
        /// The batch.
        batch: BatchId,
        /// The composition's total.
        composition_g: u128,
        /// The batch's mass at creation.
        created_g: Grams,
    },
    /// A ship to the sender itself.
    #[error("a batch cannot be shipped to its own custodian")]
    ShipToSelf,
    /// An actor without roles.
    #[error("an actor needs at least one role")]
    NoRoles,
    /// An actor without keys.
    #[error("an actor needs at least one public key")]
    NoKeys,
    /// The same key twice in one event.
    #[error("key {key_id} is listed twice")]
    DuplicateKey {
        /// The key.
        key_id: KeyId,
    },
    /// Two prefixes of one event where one starts the other.
    #[error("prefix {prefix} starts with {other}, also in this event; one covers the other")]
    OverlappingPrefixes {
        /// The longer prefix.
        prefix: BatchPrefix,
        /// The prefix it starts with.
        other: BatchPrefix,
    },
    /// The same site twice in one event.
    #[error("site {site} is listed twice")]
    DuplicateSite {
        /// The site.
        site: SiteId,
    },
    /// An `update_actor` that changes nothing.
    #[error(
        "update_actor must change at least one of name, country, roles, sites, keys, prefixes"
    )]
    NoChange,
    /// A key revoked already.
    #[error("key {key_id} was already revoked in entry {revoked_at}")]
    KeyAlreadyRevoked {
        /// The key.
        key_id: KeyId,
        /// Where.
        revoked_at: u64,
    },
    /// Revoking the only live key would lock the actor out.
    #[error("{actor} must keep at least one live key; add a new key before revoking this one")]
    LastLiveKey {
        /// The actor.
        actor: ActorId,
    },
}

/// Why an event was not appended. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The same envelope again: the caller returns the original receipt.
    #[error("event {event} is already recorded in entry {index}")]
    Duplicate {
        /// The event id.
        event: EventId,
        /// The entry that holds it.
        index: u64,
    },
    /// A different envelope reusing an event id.
    #[error("event id {event} is already used by entry {index} for different content")]
    Conflict {
        /// The event id.
        event: EventId,
        /// The entry that holds it.
        index: u64,
    },
    /// Entry 0 must be the genesis.
    #[error("entry {index} must be the ledger's genesis event, not {kind}")]
    NotGenesis {
        /// The entry.
        index: u64,
        /// The kind submitted.
        kind: &'static str,
    },
    /// Genesis happens once, at entry 0.
    #[error("the ledger already has its genesis; genesis is only valid as entry 0")]
    GenesisExists {
        /// The entry the genesis was submitted for.
        index: u64,
    },
    /// The event names another log than this one: it was signed for a different ledger.
    #[error("the event is for log {log:?}, but this log is {expected:?}")]
    WrongLog {
        /// The `log` the event names.
        log: String,
        /// This log's origin (from its genesis).
        expected: String,
    },
    /// The signer, addressee or subject is not registered.
    #[error("actor {actor} is not registered")]
    UnknownActor {
        /// The actor.
        actor: ActorId,
    },
    /// No valid signature by a live key of the actor.
    #[error("the envelope has no valid signature by a current key of {actor}")]
    BadSignature {
        /// The actor.
        actor: ActorId,
    },
    /// The only signatures of the actor are by revoked keys.
    #[error("{actor} signed with key {key_id}, revoked in entry {revoked_at}")]
    RevokedKey {
        /// The actor.
        actor: ActorId,
        /// The revoked key.
        key_id: KeyId,
        /// The revoking entry.
        revoked_at: u64,
    },
    /// The actor's roles do not allow this.
    #[error(
        "{actor} (roles: {}) may not {action}; that needs one of: {}",
        join(roles),
        join(needed)
    )]
    RoleNotAllowed {
        /// The actor.
        actor: ActorId,
        /// The event kind or process.
        action: &'static str,
        /// The actor's roles.
        roles: Vec<Role>,
        /// Roles that would allow it.
        needed: &'static [Role],
    },
    /// A site the actor may not use here.
    #[error("site {site} {problem}; {actor} can only use its own sites")]
    ForeignSite {
        /// The actor.
        actor: ActorId,
        /// The site.
        site: SiteId,
        /// What is wrong.
        problem: SiteProblem,
    },
    /// A batch id outside the creator's prefixes.
    #[error(
        "{actor} may only create batches whose id starts with one of its prefixes ({}); {batch} does not",
        join(prefixes)
    )]
    ForeignPrefix {
        /// The creator.
        actor: ActorId,
        /// The batch id.
        batch: BatchId,
        /// The creator's prefixes.
        prefixes: Vec<BatchPrefix>,
    },
    /// A prefix that overlaps one registered already (equal, or one starts with the other).
    #[error(
        "prefix {prefix} overlaps a prefix of {owner}: no registered prefix may start another"
    )]
    PrefixTaken {
        /// The prefix asked for.
        prefix: BatchPrefix,
        /// The actor whose prefix it overlaps.
        owner: ActorId,
    },
    /// No such key for that actor.
    #[error("{actor} has no key {key_id}")]
    UnknownKey {
        /// The actor.
        actor: ActorId,
        /// The key.
        key_id: KeyId,
    },
    /// An actor id registered already.
    #[error("actor {actor} is already registered")]
    ActorExists {
        /// The actor.
        actor: ActorId,
    },
    /// A site id registered already (site ids are unique across the ledger).
    #[error("site {site} is already registered")]
    SiteExists {
        /// The site.
        site: SiteId,
    },
    /// A key registered already (a key belongs to one actor).
    #[error("key {key_id} is already registered to {owner}")]
    KeyExists {
        /// The key.
        key_id: KeyId,
        /// Its owner.
        owner: ActorId,
    },
    /// No such batch.
    #[error("batch {batch} does not exist")]
    UnknownBatch {
        /// The batch.
        batch: BatchId,
    },
    /// A new batch id that exists already.
    #[error("batch {batch} already exists")]
    BatchExists {
        /// The batch.
        batch: BatchId,
    },
    /// The actor does not hold the batch.
    #[error("batch {batch} is held by {custodian}, not {actor}")]
    NotCustodian {
        /// The batch.
        batch: BatchId,
        /// Who holds it.
        custodian: ActorId,
        /// Who tried.
        actor: ActorId,
    },
    /// The batch is shipped and not yet received.
    #[error("batch {batch} is in transit to {to}")]
    InTransit {
        /// The batch.
        batch: BatchId,
        /// The addressee.
        to: ActorId,
    },
    /// The batch was retired.
    #[error("batch {batch} was retired ({reason})")]
    Retired {
        /// The batch.
        batch: BatchId,
        /// Why.
        reason: RetireReason,
    },
    /// Spending mass that is already spent: an input used up by an earlier transform, or the
    /// same input listed twice in one transform.
    #[error("batch {batch} is spent twice: {requested_g} g requested, {remaining_g} left")]
    DoubleSpend {
        /// The batch.
        batch: BatchId,
        /// Its remaining mass.
        remaining_g: Grams,
        /// The total asked of it (exact: one batch may be listed many times).
        requested_g: u128,
    },
    /// Taking more than is left.
    #[error("batch {batch} has {remaining_g} left; {requested_g} requested")]
    InsufficientMass {
        /// The batch.
        batch: BatchId,
        /// Its remaining mass.
        remaining_g: Grams,
        /// The mass asked of it.
        requested_g: Grams,
    },
    /// Outputs weigh more than what went in.
    #[error(
        "outputs ({outputs_g} g) exceed inputs ({inputs_g} g) plus additives ({additives_g} g)"
    )]
    MassImbalance {
        /// Mass taken from inputs (exact sum).
        inputs_g: u128,
        /// Mass of additives (exact sum).
        additives_g: u128,
        /// Mass of outputs (exact sum).
        outputs_g: u128,
    },
    /// An output declares more of a rare-earth element than the inputs taken contain.
    #[error(
        "outputs declare {outputs_g} g of {element}, more than the {inputs_g} g the inputs taken contain (additives count as none)"
    )]
    ElementImbalance {
        /// The element.
        element: Element,
        /// What the inputs taken contain at most (rounded up per input; an input without a
        /// declared composition counts with its whole taken mass).
        inputs_g: u128,
        /// What the outputs declare (exact sum).
        outputs_g: u128,
    },
    /// A form the process table does not allow.
    #[error(
        "{process} cannot have {side} {batch} of form {form}; allowed: {}",
        join(allowed)
    )]
    InvalidTransition {
        /// The process.
        process: Process,
        /// The batch.
        batch: BatchId,
        /// Its form.
        form: Form,
        /// Input or output.
        side: Side,
        /// Forms allowed there.
        allowed: Vec<Form>,
    },
    /// `extract` creates only ore, concentrate or mixed compound.
    #[error(
        "extract cannot create {batch} of form {form}; allowed: ore, concentrate, mixed_compound"
    )]
    ExtractForm {
        /// The batch.
        batch: BatchId,
        /// Its form.
        form: Form,
    },
    /// `receive` of a batch that is not in transit.
    #[error("batch {batch} is not in transit")]
    NotInTransit {
        /// The batch.
        batch: BatchId,
    },
    /// `receive` by someone else than the addressee.
    #[error("batch {batch} is shipped to {addressee}, not {actor}")]
    NotAddressee {
        /// The batch.
        batch: BatchId,
        /// Who it is shipped to.
        addressee: ActorId,
        /// Who tried to receive it.
        actor: ActorId,
    },
    /// `receive` of more than was shipped.
    #[error("batch {batch}: {received_g} received but only {shipped_g} shipped")]
    ReceivedTooMuch {
        /// The batch.
        batch: BatchId,
        /// Mass shipped.
        shipped_g: Grams,
        /// Mass reported received.
        received_g: Grams,
    },
    /// `occurred_at` after the log time plus the allowed skew.
    #[error("occurred_at {occurred_at} is later than the log time ({logged_at_ms} ms) plus {skew_ms} ms")]
    FutureEvent {
        /// The event time.
        occurred_at: Timestamp,
        /// The entry's log time (Unix ms).
        logged_at_ms: u64,
        /// The allowed skew.
        skew_ms: u64,
    },
    /// `occurred_at` before the latest event of a batch it uses (a receive before its ship, a
    /// transform before its inputs' last move).
    #[error(
        "occurred_at {occurred_at} is before the latest event of batch {batch} ({last_event_at})"
    )]
    BeforeInputs {
        /// The batch.
        batch: BatchId,
        /// Its latest event's `occurred_at`.
        last_event_at: Timestamp,
        /// The event time.
        occurred_at: Timestamp,
    },
    /// `occurred_at` earlier than the signer's registration minus the backfill window.
    #[error(
        "occurred_at {occurred_at} is more than {backfill_days} days before {actor} was registered ({registered_at})"
    )]
    BeforeRegistration {
        /// The signer.
        actor: ActorId,
        /// The event time.
        occurred_at: Timestamp,
        /// When the signer was registered.
        registered_at: Timestamp,
        /// The window fixed at genesis.
        backfill_days: u32,
    },
    /// Self-contradictory content.
    #[error("invalid event: {reason}")]
    InvalidEvent {
        /// What is wrong.
        reason: InvalidReason,
    },
    /// An export-control rule (licences, quotas; its own problem codes).
    #[error(transparent)]
    Controls(Box<ControlsError>),
    /// The state could not be read (not the event's fault).
    #[error(transparent)]
    State(#[from] StateError),
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    let names: Vec<String> = items.iter().map(ToString::to_string).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl From<ControlsError> for LedgerError {
    fn from(e: ControlsError) -> Self {
        // Boxed: its variants carry more than the others, and every `Result` pays for the
        // largest error.
        LedgerError::Controls(Box::new(e))
    }
}

impl From<InvalidReason> for LedgerError {
    fn from(reason: InvalidReason) -> Self {
        LedgerError::InvalidEvent { reason }
    }
}

impl LedgerError {
    /// The stable machine-readable problem code (RFC 9457 `code`).
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Duplicate { .. } => "duplicate",
            LedgerError::Conflict { .. } => "conflict",
            LedgerError::NotGenesis { .. } => "not_genesis",
            LedgerError::GenesisExists { .. } => "genesis_exists",
            LedgerError::WrongLog { .. } => "wrong_log",
            LedgerError::UnknownActor { .. } => "unknown_actor",
            LedgerError::BadSignature { .. } => "bad_signature",
            LedgerError::RevokedKey { .. } => "revoked_key",
            LedgerError::RoleNotAllowed { .. } => "role_not_allowed",
            LedgerError::ForeignSite { .. } => "foreign_site",
            LedgerError::ForeignPrefix { .. } => "foreign_prefix",
            LedgerError::PrefixTaken { .. } => "prefix_taken",
            LedgerError::UnknownKey { .. } => "unknown_key",
            LedgerError::ActorExists { .. } => "actor_exists",
            LedgerError::SiteExists { .. } => "site_exists",
            LedgerError::KeyExists { .. } => "key_exists",
            LedgerError::UnknownBatch { .. } => "unknown_batch",
            LedgerError::BatchExists { .. } => "batch_exists",
            LedgerError::NotCustodian { .. } => "not_custodian",
            LedgerError::InTransit { .. } => "in_transit",
            LedgerError::Retired { .. } => "retired",
            LedgerError::DoubleSpend { .. } => "double_spend",
            LedgerError::InsufficientMass { .. } => "insufficient_mass",
            LedgerError::MassImbalance { .. } => "mass_imbalance",
            LedgerError::ElementImbalance { .. } => "element_imbalance",
            LedgerError::InvalidTransition { .. } | LedgerError::ExtractForm { .. } => {
                "invalid_transition"
            }
            LedgerError::NotInTransit { .. } => "not_in_transit",
            LedgerError::NotAddressee { .. } => "not_addressee",
            LedgerError::ReceivedTooMuch { .. } => "received_too_much",
            LedgerError::FutureEvent { .. } => "future_event",
            LedgerError::BeforeInputs { .. } => "before_inputs",
            LedgerError::BeforeRegistration { .. } => "before_registration",
            LedgerError::InvalidEvent { .. } => "invalid_event",
            LedgerError::Controls(e) => e.code(),
            LedgerError::State(_) => "state_unavailable",
        }
    }

    /// Every problem code [`LedgerError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "duplicate",
        "conflict",
        "not_genesis",
        "genesis_exists",
        "wrong_log",
        "unknown_actor",
        "bad_signature",
        "revoked_key",
        "role_not_allowed",
        "foreign_site",
        "foreign_prefix",
        "prefix_taken",
        "unknown_key",
        "actor_exists",
        "site_exists",
        "key_exists",
        "unknown_batch",
        "batch_exists",
        "not_custodian",
        "in_transit",
        "retired",
        "double_spend",
        "insufficient_mass",
        "mass_imbalance",
        "element_imbalance",
        "invalid_transition",
        "not_in_transit",
        "not_addressee",
        "received_too_much",
        "future_event",
        "before_inputs",
        "before_registration",
        "invalid_event",
        "foreign_jurisdiction",
        "rule_exists",
        "unknown_rule",
        "licence_exists",
        "unknown_licence",
        "not_issuer",
        "export_licence_required",
        "licence_expired",
        "licence_exhausted",
        "licence_mismatch",
        "licence_revoked",
        "quota_exceeded",
        "state_unavailable",
    ];
}
