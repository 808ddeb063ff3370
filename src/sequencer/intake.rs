//! The intake: the bounded, fair queue in front of the verify stage (docs/API.md, "Pushback").
//!
//! Capacity is counted in envelopes, not requests: an envelope holds its place from admission
//! until its submitter is answered. Three bounds apply at admission, checked at once so that a
//! refused caller never waits:
//!
//! - the whole intake holds at most [`INTAKE_CAPACITY`] envelopes (`busy` beyond);
//! - one client (remote address) at most [`CLIENT_SHARE`] (`rate_limited` beyond);
//! - one actor (the event's `actor`) at most [`ACTOR_SHARE`] (`rate_limited` for the envelope);
//! - a client whose envelopes fail signature verification spends a budget of
//!   [`BAD_SIGNATURE_BURST`] failures refilled at [`BAD_SIGNATURES_PER_SEC`]; while it is spent,
//!   the client is refused (`rate_limited`) — forged signatures are the one kind of work a client
//!   can make the server do for nothing, so they are what is rationed.
//!
//! Admitted envelopes are cut into pieces of at most [`PIECE`] and queued per client. The verify
//! stage takes blocks round-robin over clients: alone, a client fills whole blocks (throughput);
//! when several clients wait, each gives one piece per block, so a block never holds more than
//! [`PIECE`] envelopes of a flooding client ahead of anyone else's (latency). Pieces of one
//! client keep their order, so a batch is still appended in order.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{Outcome, Submission};
use crate::model::ids::ActorId;

/// Envelopes the intake holds at once (queued or being verified, validated and stored).
pub const INTAKE_CAPACITY: usize = 40_000;
/// Envelopes one client (remote address) may have in the intake at once: one full batch.
pub const CLIENT_SHARE: usize = 10_000;
/// Envelopes one actor may have in the intake at once.
pub const ACTOR_SHARE: usize = 10_000;
/// Envelopes per piece: the unit of round-robin between clients.
pub const PIECE: usize = 32;
/// Signature failures a client may cause at once before it is refused.
pub const BAD_SIGNATURE_BURST: f64 = 10_000.0;
/// Signature failures per second a client's budget is refilled with.
pub const BAD_SIGNATURES_PER_SEC: f64 = 1_000.0;

/// Who submits: the fairness key of the intake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    /// The process itself (`init`, load generators): waits for room, no shares.
    Local,
    /// A remote client, by address.
    Remote(IpAddr),
}

/// Why a whole submission was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The intake is full.
    Busy,
    /// The client has its share in the intake already.
    ClientShare,
    /// The client has spent its budget of signature failures.
    BadSignatures,
    /// The sequencer is shutting down.
    Closed,
}

/// One piece of an admitted submission.
pub(super) struct Job {
    pub(super) submissions: Vec<Submission>,
    pub(super) reply: oneshot::Sender<Vec<Outcome>>,
    /// Gives the piece's places back when the job is dropped (after its reply).
    pub(super) _ticket: Ticket,
}

/// The places one piece holds in the intake.
pub(super) struct Ticket {
    intake: Weak<Intake>,
    client: Client,
    actors: Vec<ActorId>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(intake) = self.intake.upgrade() {
            intake.release(self.client, &self.actors);
        }
    }
}

#[derive(Default)]
struct State {
    flows: HashMap<Client, VecDeque<Job>>,
    /// Clients with queued pieces, in round-robin order.
    ring: VecDeque<Client>,
    in_flight: usize,
    by_client: HashMap<Client, usize>,
    by_actor: HashMap<ActorId, usize>,
    /// Per client: signature failures it may still cause, and when that was counted.
    budgets: HashMap<Client, (f64, Instant)>,
    closed: bool,
}

impl State {
    /// Whether `client` has budget left (refilling it first; a full budget is forgotten).
    fn may_fail_signatures(&mut self, client: Client) -> bool {
        let Some((tokens, at)) = self.budgets.get_mut(&client) else {
            return true;
        };
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * BAD_SIGNATURES_PER_SEC)
            .min(BAD_SIGNATURE_BURST);
        *at = now;
        let left = *tokens;
        if left >= BAD_SIGNATURE_BURST {
            self.budgets.remove(&client);
        }
        left > 0.0
    }
}

/// The queue. Shared by the handles (which admit) and the verify stage (which takes blocks).
#[derive(Default)]
pub(super) struct Intake {
    state: Mutex<State>,
    work: Condvar,
    room: Condvar,
}

/// What admission gives back: the pieces' answers in order, and the envelopes refused one by
/// one (actor share), by position.
pub(super) struct Admitted {
    pub(super) answers: Vec<(Vec<usize>, oneshot::Receiver<Vec<Outcome>>)>,
    pub(super) refused: Vec<(usize, ActorId)>,
}

impl Intake {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters half-updated in a way that
        // matters more than stopping: keep serving with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `submissions` from `client`, or refuses the whole of them at once. `Local`
    /// callers wait for room instead and have no shares.
    pub(super) fn admit(
        self: &Arc<Self>,
        client: Client,
        submissions: Vec<Submission>,
    ) -> Result<Admitted, Refusal> {
        let count = submissions.len();
        let mut state = self.lock();
        if client == Client::Local {
            while !state.closed && state.in_flight > 0 && state.in_flight + count > INTAKE_CAPACITY
            {
                state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        }
        if state.closed {
            return Err(Refusal::Closed);
        }
        if client != Client::Local {
            if !state.may_fail_signatures(client) {
                return Err(Refusal::BadSignatures);
            }
            if state.in_flight + count > INTAKE_CAPACITY {
                return Err(Refusal::Busy);
            }
            let held = state.by_client.get(&client).copied().unwrap_or(0);
            if held + count > CLIENT_SHARE {
                return Err(Refusal::ClientShare);
            }
        }
        let mut refused = Vec::new();
        let mut accepted: Vec<(usize, Submission)> = Vec::with_capacity(count);
        for (position, submission) in submissions.into_iter().enumerate() {
            let held = state
                .by_actor
                .entry(submission.event.actor.clone())
                .or_insert(0);
            if client != Client::Local && *held >= ACTOR_SHARE {
                refused.push((position, submission.event.actor));
                continue;
            }
            *held += 1;
            accepted.push((position, submission));
        }
        state.in_flight += accepted.len();
        *state.by_client.entry(client).or_insert(0) += accepted.len();
        let mut answers = Vec::new();
        let mut rest = accepted.into_iter().peekable();
        while rest.peek().is_some() {
            let piece: Vec<(usize, Submission)> = rest.by_ref().take(PIECE).collect();
            let (positions, submissions): (Vec<usize>, Vec<Submission>) = piece.into_iter().unzip();
            let (reply, answer) = oneshot::channel();
            let ticket = Ticket {
                intake: Arc::downgrade(self),
                client,
                actors: submissions.iter().map(|s| s.event.actor.clone()).collect(),
            };
            let queues = &mut *state;
            let flow = queues.flows.entry(client).or_default();
            if flow.is_empty() {
                queues.ring.push_back(client);
            }
            flow.push_back(Job {
                submissions,
                reply,
                _ticket: ticket,
            });
            answers.push((positions, answer));
        }
        drop(state);
        self.work.notify_one();
        Ok(Admitted { answers, refused })
    }

    /// Whether `client` would be refused for its signature failures (checked before a heavy
    /// request's body is read).
    pub(super) fn check(&self, client: Client) -> Result<(), Refusal> {
        if client == Client::Local || self.lock().may_fail_signatures(client) {
            Ok(())
        } else {
            Err(Refusal::BadSignatures)
        }
    }

    /// Spends `failures` of `client`'s signature budget.
    pub(super) fn charge(&self, client: Client, failures: usize) {
        if client == Client::Local || failures == 0 {
            return;
        }
        let mut state = self.lock();
        state.may_fail_signatures(client);
        let budget = state
            .budgets
            .entry(client)
            .or_insert((BAD_SIGNATURE_BURST, Instant::now()));
        budget.0 -= failures as f64;
    }

    fn release(&self, client: Client, actors: &[ActorId]) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(actors.len());
        if let Some(held) = state.by_client.get_mut(&client) {
            *held = held.saturating_sub(actors.len());
            if *held == 0 {
                state.by_client.remove(&client);
            }
        }
        for actor in actors {
            if let Some(held) = state.by_actor.get_mut(actor) {
                *held -= 1;
                if *held == 0 {
                    state.by_actor.remove(actor);
                }
            }
        }
        drop(state);
        self.room.notify_all();
    }

    /// Refuses new work; what is queued is still handed out.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
        self.room.notify_all();
    }

    /// Envelopes admitted and not yet answered.
    pub(super) fn depth(&self) -> usize {
        self.lock().in_flight
    }

    /// The next block of at most about `max` envelopes, waiting for work; `None` once closed
    /// and drained. One client alone fills the block; with several waiting, each gives one piece.
    pub(super) fn next_block(&self, max: usize) -> Option<Vec<Job>> {
        let mut state = self.lock();
        while state.ring.is_empty() {
            if state.closed {
                return None;
            }
            state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let queues = &mut *state;
        let mut block = Vec::new();
        let mut count = 0;
        let contended = queues.ring.len() > 1;
        let rounds = queues.ring.len();
        for _ in 0..rounds {
            let Some(client) = queues.ring.pop_front() else {
                break;
            };
            let flow = queues.flows.entry(client).or_default();
            while let Some(job) = flow.front() {
                if !block.is_empty() && count + job.submissions.len() > max {
                    break;
                }
                count += job.submissions.len();
                block.extend(flow.pop_front());
                if contended {
                    break;
                }
            }
            if flow.is_empty() {
                queues.flows.remove(&client);
            } else {
                queues.ring.push_back(client);
            }
            if count >= max {
                break;
            }
        }
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::Envelope;
    use crate::model::event::Event;
    use ed25519_dalek::SigningKey;

    fn submission(actor: &str) -> Submission {
        let payload = serde_json::to_vec(&serde_json::json!({
            "kind": "extract", "id": "ev-1", "actor": actor, "occurred_at": "2026-03-01T08:00:00Z",
            "log": "lodestone.example/rare-earths", "site": "mine", "batch": "B-1", "form": "ore", "mass_g": 10, "elements": ["Nd"],
        }))
        .unwrap();
        let envelope = Envelope::sign(payload, &[&SigningKey::from_bytes(&[7; 32])]).unwrap();
        let event = Event::from_json(&envelope.payload).unwrap();
        Submission { envelope, event }
    }

    fn many(actor: &str, count: usize) -> Vec<Submission> {
        vec![submission(actor); count]
    }

    fn remote(last: u8) -> Client {
        Client::Remote(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn full_intake_and_client_share_refuse_at_once() {
        let intake = Arc::new(Intake::default());
        let mut kept = Vec::new();
        kept.push(
            intake
                .admit(remote(1), many("alpha", CLIENT_SHARE))
                .unwrap(),
        );
        assert_eq!(
            intake.admit(remote(1), many("alpha-two", 1)).err(),
            Some(Refusal::ClientShare)
        );
        for (client, actor) in [(2, "beta"), (3, "gamma"), (4, "delta")] {
            kept.push(
                intake
                    .admit(remote(client), many(actor, CLIENT_SHARE))
                    .unwrap(),
            );
        }
        assert_eq!(
            intake.admit(remote(5), many("epsilon", 1)).err(),
            Some(Refusal::Busy)
        );
        // The process itself is never refused for shares; it waits for room instead (not here).
        drop(kept);
        // Places are given back when the jobs are answered (dropped).
        let mut freed = 0;
        while freed < 4 * CLIENT_SHARE {
            let block = intake.next_block(crate::sequencer::MAX_BLOCK).unwrap();
            freed += block.iter().map(|j| j.submissions.len()).sum::<usize>();
        }
        assert!(intake.admit(remote(5), many("epsilon", 1)).is_ok());
    }

    #[test]
    fn an_actor_over_its_share_is_refused_envelope_by_envelope() {
        let intake = Arc::new(Intake::default());
        let _first = intake.admit(remote(1), many("same", ACTOR_SHARE)).unwrap();
        let mut mixed = many("same", 1);
        mixed.push(submission("other"));
        let admitted = intake.admit(remote(2), mixed).unwrap();
        assert_eq!(admitted.refused.len(), 1);
        assert_eq!(admitted.refused[0].0, 0);
        assert_eq!(admitted.answers.len(), 1);
        assert_eq!(admitted.answers[0].0, vec![1]);
    }

    #[test]
    fn a_client_that_spent_its_signature_budget_is_refused() {
        let intake = Arc::new(Intake::default());
        intake.charge(remote(1), BAD_SIGNATURE_BURST as usize - 1);
        assert!(intake.check(remote(1)).is_ok(), "one failure is left");
        intake.charge(remote(1), 2);
        assert_eq!(intake.check(remote(1)), Err(Refusal::BadSignatures));
        assert_eq!(
            intake.admit(remote(1), many("alpha", 1)).err(),
            Some(Refusal::BadSignatures)
        );
        // Others are not touched; the budget refills with time.
        assert!(intake.admit(remote(2), many("alpha", 1)).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(intake.check(remote(1)).is_ok());
    }

    #[test]
    fn blocks_take_turns_between_waiting_clients() {
        let intake = Arc::new(Intake::default());
        let _flood = intake.admit(remote(1), many("flood", 4 * PIECE)).unwrap();
        let _honest = intake.admit(remote(2), many("honest", 1)).unwrap();
        let block = intake.next_block(crate::sequencer::MAX_BLOCK).unwrap();
        let sizes: Vec<usize> = block.iter().map(|j| j.submissions.len()).collect();
        assert_eq!(sizes, vec![PIECE, 1], "one piece of each waiting client");
        // Alone again, the flooder fills whole blocks.
        let block = intake.next_block(crate::sequencer::MAX_BLOCK).unwrap();
        assert_eq!(
            block.iter().map(|j| j.submissions.len()).sum::<usize>(),
            3 * PIECE
        );
        intake.close();
        assert!(intake.next_block(crate::sequencer::MAX_BLOCK).is_none());
    }
}
