//! Monthly flow reports (issue 17; docs/COMPLIANCE.md, "Monthly flow reports and labels"): what
//! one actor produced, received, shipped and consumed in a calendar month (UTC, by
//! `occurred_at`), and what it held at the month's end — the product-flow record China's
//! total-quantity control asks producers to report monthly to the MIIT traceability system, by
//! the 10th of the following month. Every line names the log entry that proves it.
//!
//! **Why the actor's own entries suffice.** Every event that changes what an actor holds is
//! signed by that actor: it creates batches (`extract`, `transform` outputs), takes custody
//! (`receive`), uses them (`transform` inputs), sends them (`ship`: the whole remaining mass) and
//! ends them (`retire`). So replaying the actor's own entries in log order gives its holdings
//! exactly, and the report reads only those entries (plus, for each receipt, the `ship` entry
//! before it, to name the sender), never the whole log. Which entries are the actor's is the
//! [`ActorEntries`] index.
//!
//! **Month end.** The ledger refuses an event dated before the latest event of a batch it uses,
//! so along each batch `occurred_at` never goes backwards in log order: the actor's entries dated
//! before the month's end are, batch by batch, a prefix of its history, and replaying just them
//! gives the holdings at that instant. A batch shipped and not yet received is not held.
//!
//! Pure: entries come through the [`EntrySource`] seam (and a chunked reader for the index),
//! names and forms through [`StateView`].

mod month;
mod report;

pub use month::{Month, MonthError};
pub use report::{
    ConsumedLine, FlowReport, FlowTotals, HeldLine, ProducedLine, ReceivedLine, ShippedLine,
};

use std::collections::{BTreeMap, HashMap};

use crate::audit::bundle::{BundleError, EntrySource};
use crate::ledger::{StateError, StateView};
use crate::model::entry::Entry;
use crate::model::event::{Event, EventBody};
use crate::model::ids::{ActorId, BatchId};

/// Why a flow report could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The actor asked about is not registered.
    #[error("no actor {actor}")]
    UnknownActor {
        /// The actor.
        actor: ActorId,
    },
    /// An entry could not be read or decoded.
    #[error("entry {index}: {detail}")]
    Entry {
        /// The entry.
        index: u64,
        /// What went wrong.
        detail: String,
    },
    /// The entries contradict each other or the state (a damaged store: a valid log cannot).
    #[error("entry {index} does not fit the actor's earlier entries: {detail}")]
    Inconsistent {
        /// The entry.
        index: u64,
        /// What does not fit.
        detail: String,
    },
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<BundleError> for FlowError {
    fn from(e: BundleError) -> FlowError {
        match e {
            BundleError::Entry { index, detail } => FlowError::Entry { index, detail },
            other => FlowError::Entry {
                index: 0,
                detail: other.to_string(),
            },
        }
    }
}

/// Decodes the event of an entry's bytes.
pub fn decode_event(index: u64, bytes: &[u8]) -> Result<Event, FlowError> {
    let bad = |detail: String| FlowError::Entry { index, detail };
    let entry = Entry::decode(bytes).map_err(|e| bad(e.to_string()))?;
    Event::from_json(&entry.envelope.payload).map_err(|e| bad(e.to_string()))
}

fn read_event<E: EntrySource + ?Sized>(src: &E, index: u64) -> Result<Event, FlowError> {
    let bytes = src.entry_bytes(index)?.ok_or_else(|| FlowError::Entry {
        index,
        detail: "not in the log".into(),
    })?;
    decode_event(index, &bytes)
}

/// Which entries each actor signed (the event's `actor`), in log order, for the first
/// [`ActorEntries::covered`] entries of the log. Kept in memory and extended as the log grows
/// ([`ActorEntries::catch_up`]): building it reads the log once, after which a report costs
/// only the actor's own entries.
#[derive(Debug, Default)]
pub struct ActorEntries {
    covered: u64,
    by_actor: HashMap<ActorId, Vec<u64>>,
}

/// How many entries [`ActorEntries::catch_up`] reads at once.
const CATCH_UP_CHUNK: u64 = 1024;

impl ActorEntries {
    /// How many entries of the log it covers.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// The entries `actor` signed, ascending.
    pub fn of(&self, actor: &ActorId) -> &[u64] {
        self.by_actor.get(actor).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Extends it to the first `size` entries of the log; `read(start, end)` gives the bytes of
    /// entries `start..end`.
    pub fn catch_up<R>(&mut self, size: u64, mut read: R) -> Result<(), FlowError>
    where
        R: FnMut(u64, u64) -> Result<Vec<Vec<u8>>, String>,
    {
        while self.covered < size {
            let start = self.covered;
            let end = size.min(start.saturating_add(CATCH_UP_CHUNK));
            let chunk = read(start, end).map_err(|detail| FlowError::Entry {
                index: start,
                detail,
            })?;
            if chunk.len() as u64 != end - start {
                return Err(FlowError::Entry {
                    index: start + chunk.len() as u64,
                    detail: "not in the log".into(),
                });
            }
            // Decode the whole chunk before recording any of it: a failure leaves the index as
            // it was, so a later catch-up never records an entry twice.
            let actors = chunk
                .iter()
                .zip(start..)
                .map(|(bytes, index)| decode_event(index, bytes).map(|e| (e.actor, index)))
                .collect::<Result<Vec<_>, _>>()?;
            for (actor, index) in actors {
                self.by_actor.entry(actor).or_default().push(index);
            }
            self.covered = end;
        }
        Ok(())
    }
}

/// What the actor holds while its entries are replayed.
#[derive(Clone, Copy)]
struct Holding {
    grams: u64,
    since_entry: u64,
    last_entry: u64,
}

/// The flow report of `actor` for `month`, from `entries` (the entries the actor signed, in log
/// order — [`ActorEntries::of`]) of a log of `log_size` entries.
pub fn monthly_flows<S>(
    src: &S,
    actor: &ActorId,
    month: Month,
    entries: &[u64],
    log_size: u64,
) -> Result<FlowReport, FlowError>
where
    S: StateView + EntrySource + ?Sized,
{
    let record = src.actor(actor)?.ok_or_else(|| FlowError::UnknownActor {
        actor: actor.clone(),
    })?;
    let (start, end) = (month.start(), month.end());
    let mut report = FlowReport::new(&record, month, log_size);
    let mut held: BTreeMap<BatchId, Holding> = BTreeMap::new();
    let lines = report::Lines::new(src);

    // The index may have been extended past `log_size` by a concurrent report: the report
    // reflects exactly the first `log_size` entries.
    for &index in entries.iter().take_while(|&&i| i < log_size) {
        let event = read_event(src, index)?;
        if &event.actor != actor {
            return Err(FlowError::Inconsistent {
                index,
                detail: format!("signed by {}, not by {actor}", event.actor),
            });
        }
        if event.occurred_at >= end {
            // Later entries may still be dated inside the month (other batches): keep going.
            continue;
        }
        let in_month = event.occurred_at >= start;
        let at = &event.occurred_at;
        match &event.body {
            EventBody::Extract(x) => {
                held.insert(x.batch.clone(), Holding::new(x.mass_g.get(), index));
                if in_month {
                    let line = lines.produced(index, at, &x.batch, x.mass_g.get(), "extract")?;
                    report.produced.push(line.with_site(Some(x.site.clone())));
                }
            }
            EventBody::Transform(t) => {
                for input in &t.inputs {
                    let h = held
                        .get_mut(&input.batch)
                        .ok_or_else(|| not_held(index, &input.batch))?;
                    h.grams = h.grams.checked_sub(input.mass_g.get()).ok_or_else(|| {
                        FlowError::Inconsistent {
                            index,
                            detail: format!("takes more of {} than the actor held", input.batch),
                        }
                    })?;
                    h.last_entry = index;
                    if h.grams == 0 {
                        held.remove(&input.batch);
                    }
                    if in_month {
                        report.consumed.push(lines.consumed(
                            index,
                            at,
                            &input.batch,
                            input.mass_g.get(),
                            t.process.as_str(),
                        )?);
                    }
                }
                for output in &t.outputs {
                    held.insert(
                        output.batch.clone(),
                        Holding::new(output.mass_g.get(), index),
                    );
                    if in_month {
                        let line = lines.produced(
                            index,
                            at,
                            &output.batch,
                            output.mass_g.get(),
                            t.process.as_str(),
                        )?;
                        report.produced.push(line.with_site(t.site.clone()));
                    }
                }
            }
            EventBody::Ship(s) => {
                let h = held
                    .remove(&s.batch)
                    .ok_or_else(|| not_held(index, &s.batch))?;
                if in_month {
                    report.shipped.push(lines.shipped(
                        index,
                        at,
                        &s.batch,
                        h.grams,
                        &s.to,
                        s.licence.as_ref(),
                    )?);
                }
            }
            EventBody::Receive(r) => {
                held.insert(r.batch.clone(), Holding::new(r.mass_g.get(), index));
                if in_month {
                    let ship = ship_before(src, &r.batch, index)?;
                    report.received.push(lines.received(
                        index,
                        at,
                        &r.batch,
                        r.mass_g.get(),
                        ship,
                    )?);
                }
            }
            EventBody::Retire(r) => {
                let h = held
                    .remove(&r.batch)
                    .ok_or_else(|| not_held(index, &r.batch))?;
                if in_month {
                    let how = format!("retire:{}", r.reason.as_str());
                    report
                        .consumed
                        .push(lines.consumed(index, at, &r.batch, h.grams, &how)?);
                }
            }
            // Registry events, certificates, export controls, licences and quotas move no
            // material.
            EventBody::Genesis(_)
            | EventBody::RegisterActor(_)
            | EventBody::UpdateActor(_)
            | EventBody::RevokeKey(_)
            | EventBody::Certify(_)
            | EventBody::PublishControls(_)
            | EventBody::SuspendControls(_)
            | EventBody::IssueLicence(_)
            | EventBody::RevokeLicence(_)
            | EventBody::SetQuota(_) => {}
        }
    }
    for (batch, h) in held {
        report
            .held
            .push(lines.held(&batch, h.grams, h.since_entry, h.last_entry)?);
    }
    report.total();
    Ok(report)
}

impl Holding {
    fn new(grams: u64, entry: u64) -> Holding {
        Holding {
            grams,
            since_entry: entry,
            last_entry: entry,
        }
    }
}

fn not_held(index: u64, batch: &BatchId) -> FlowError {
    FlowError::Inconsistent {
        index,
        detail: format!("uses {batch}, which the actor's earlier entries do not give it"),
    }
}

/// The `ship` entry a receipt at `receive` took custody from, and who signed it: the latest
/// `ship` of the batch before the receipt (certificates may come between).
fn ship_before<S>(src: &S, batch: &BatchId, receive: u64) -> Result<(u64, ActorId), FlowError>
where
    S: StateView + EntrySource + ?Sized,
{
    let record = src.batch(batch)?.ok_or_else(|| not_held(receive, batch))?;
    for &index in record.history.iter().rev().filter(|&&i| i < receive) {
        let event = read_event(src, index)?;
        if matches!(&event.body, EventBody::Ship(s) if &s.batch == batch) {
            return Ok((index, event.actor));
        }
    }
    Err(FlowError::Inconsistent {
        index: receive,
        detail: format!("no ship of {batch} before this receipt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk that does not decode, or comes back short, leaves the index as it was.
    #[test]
    fn a_failed_catch_up_records_nothing() {
        let mut index = ActorEntries::default();
        let garbage = index.catch_up(3, |start, end| {
            Ok(vec![vec![0xff; 8]; (end - start) as usize])
        });
        assert!(
            matches!(garbage, Err(FlowError::Entry { index: 0, .. })),
            "{garbage:?}"
        );
        let short = index.catch_up(3, |_, _| Ok(Vec::new()));
        assert!(
            matches!(short, Err(FlowError::Entry { index: 0, .. })),
            "{short:?}"
        );
        let failed = index.catch_up(3, |_, _| Err("disk on fire".into()));
        assert!(matches!(failed, Err(FlowError::Entry { .. })), "{failed:?}");
        assert_eq!(index.covered(), 0);
        assert!(index.of(&"anyone".parse().unwrap()).is_empty());
        assert!(index.catch_up(0, |_, _| unreachable!()).is_ok());
    }
}
