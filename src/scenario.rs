//! The seed scenario: a small, realistic rare-earth supply chain as data
//! (`fixtures/scenario/actors.json` and `fixtures/scenario/events.json`, embedded at build time).
//!
//! Four mines feed it: Bayan Obo (China Northern Rare Earth, separated and made into magnets in
//! Baotou, exported to a Japanese and a Vietnamese buyer), Mountain Pass (MP Materials, metal and
//! magnets in Fort Worth for General Motors' drive units), Mount Weld (Lynas, cracked in
//! Kalgoorlie, separated in Kuantan, oxide to Shin-Etsu in Japan) and an ion-adsorption clay
//! field in Kachin State, Myanmar, whose dysprosium and terbium, separated in Ganzhou, go with
//! Bayan Obo NdPr into JL Mag's heat-resistant magnet. A recycler turns magnet scrap back into
//! NdPr oxide that MP makes into a new magnet, and an assay lab certifies purities. Issue 12
//! added compositions (grams per element) to every extract and transform output, an assay that
//! measures one, a grain boundary diffusion step at Shin-Etsu that diffuses Myanmar dysprosium
//! (separated and reduced in Ganzhou) into Lynas-fed magnets, and post-consumer recycling of
//! Nidec's end-of-life motors. Issue 17 added export controls after the original events: MOFCOM
//! (a `licensing_authority`) publishes Announcements No. 18, 57 and 61 of 2025 with their legal
//! dates and No. 70's suspension, sets Northern Rare Earth a mining quota that one new extract
//! uses up exactly, and licenses the export of a new batch of heat-resistant (Dy, Tb) magnets to
//! Nidec and of Dy/Tb oxide to Shin-Etsu, whose magnet `SE-MAG-2026-0101` (Chinese Dy in a
//! Japanese magnet) is the `cn-mofcom-61` example. Masses are
//! plausible whole grams; the events show ships and receives with small transit losses, splits,
//! a merge, iron and boron additives, and retirements.
//!
//! Each company has its batch id prefix (`MP-`, `LYN-`, `NRE-`, ...; `actors.json`). The fixture
//! events name the default log (`lodestone.example/rare-earths`) and are dated from January to
//! March 2026; [`Scenario::for_log`] retargets them and [`Scenario::rebased`] moves every date
//! by one amount, so that a ledger created today (which refuses events dated more than its
//! backfill window before their signer's registration) can take the scenario ending today.
//!
//! **Demo-only keys.** Every actor's key is derived from its id:
//! `seed = SHA-256("lodestone-scenario-key:" || actor id)` ([`actor_key`]). Anyone can compute
//! them, so a ledger that registers them proves nothing; they exist so that the demo and the
//! tests replay the same signed envelopes. The authority key is NOT derived: the ledger's `init`
//! writes genesis with its own authority key and passes it to [`Scenario::envelopes`].
//!
//! This module does no I/O.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::envelope::{Envelope, EnvelopeError};
use crate::model::event::{Event, EventBody, EventError, RegisterActor, SiteDeclaration};
use crate::model::ids::{
    ActorId, BatchId, BatchPrefix, CountryCode, EventId, IdError, SiteId, Timestamp,
};
use crate::model::keys::PublicKey;
use crate::model::material::{Role, SiteKind};

const ACTORS_JSON: &str = include_str!("../fixtures/scenario/actors.json");
const EVENTS_JSON: &str = include_str!("../fixtures/scenario/events.json");

/// Domain-separation prefix of the demo key derivation.
pub const KEY_DERIVATION_PREFIX: &[u8] = b"lodestone-scenario-key:";

/// When the fixture has the authority register the scenario's actors: before the first event.
/// The fixture spans about 78 days from here to its last event, inside the default 90-day
/// backfill window, so [`Scenario::rebased`] can move it to end at any moment of a new ledger.
const REGISTRATION_TIME: &str = "2026-01-02T09:00:00Z";

/// Batches worth looking at, with a label: (label, batch id).
const FEATURED: &[(&str, &str)] = &[
    ("gm-magnet", "MP-MAG-2026-0001"),
    ("heat-resistant-magnet", "JLM-MAG-SH-2026-0001"),
    ("recycled-magnet", "MP-MAG-2026-0002"),
    ("lynas-japan-magnet", "SE-MAG-2026-0001"),
    ("gm-drive-units", "GM-DRIVE-2026-0001"),
    ("gbd-magnet", "SE-MAG-GBD-2026-0001"),
    ("post-consumer-oxide", "CYC-NDPR-OX-2026-0002"),
];

/// Why the embedded scenario could not be loaded or signed. The data is compiled in, so these
/// only fire if someone edits the fixtures badly (a test loads them).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A fixture file is not the JSON shape expected (events are parsed strictly, as the ledger
    /// parses payloads).
    #[error("fixtures/scenario/{file}: {source}")]
    Json {
        /// `actors.json` or `events.json`.
        file: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// An event, after parsing, breaks the payload limits.
    #[error("scenario event {position}: {source}")]
    Event {
        /// Position in `events.json`.
        position: usize,
        /// The payload error.
        source: EventError,
    },
    /// An event's actor is not among the scenario's actors.
    #[error("scenario event {event} is made by {actor}, who is not in actors.json")]
    UnknownActor {
        /// The event.
        event: EventId,
        /// Its actor.
        actor: ActorId,
    },
    /// Two actors share an id.
    #[error("actor {actor} appears twice in actors.json")]
    DuplicateActor {
        /// The id.
        actor: ActorId,
    },
    /// A derived registration id or timestamp is not valid.
    #[error("derived identifier: {0}")]
    Id(#[from] IdError),
    /// The scenario cannot be moved to end at that time (it would start before 1970).
    #[error("the scenario cannot be rebased to end at {at}")]
    Rebase {
        /// The end time asked for.
        at: Timestamp,
    },
    /// Signing failed (payload too large).
    #[error("signing scenario event {event}: {source}")]
    Sign {
        /// The event.
        event: EventId,
        /// The envelope error.
        source: EnvelopeError,
    },
}

/// A participant the authority registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioActor {
    /// Its id.
    pub id: ActorId,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: CountryCode,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// Its mines and plants.
    pub sites: Vec<SiteDeclaration>,
    /// The batch id prefixes it creates batches under.
    pub prefixes: BTreeSet<BatchPrefix>,
}

/// The log the fixture events name: the default origin of `lodestone init`. [`Scenario::for_log`]
/// retargets them.
pub const FIXTURE_LOG: &str = "lodestone.example/rare-earths";

/// The seed scenario: who takes part, and what they do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The checkpoint origin every event names (`log`).
    pub log: String,
    /// When the authority registers the actors (`occurred_at` of the registrations).
    pub registered_at: Timestamp,
    /// Participants, in registration order.
    pub actors: Vec<ScenarioActor>,
    /// Events, in log order, unsigned.
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorFixture {
    id: ActorId,
    name: String,
    country: CountryCode,
    roles: BTreeSet<Role>,
    prefixes: BTreeSet<BatchPrefix>,
    sites: Vec<SiteFixture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFixture {
    id: SiteId,
    name: String,
    country: CountryCode,
    kind: SiteKind,
}

/// The demo key of a scenario actor: Ed25519 with seed `SHA-256("lodestone-scenario-key:" ||
/// actor)`. Public knowledge: demo only.
pub fn actor_key(actor: &str) -> SigningKey {
    let mut hasher = Sha256::new();
    hasher.update(KEY_DERIVATION_PREFIX);
    hasher.update(actor.as_bytes());
    SigningKey::from_bytes(&hasher.finalize().into())
}

impl Scenario {
    /// The scenario compiled into the crate.
    pub fn builtin() -> Result<Scenario, ScenarioError> {
        Scenario::from_json(ACTORS_JSON, EVENTS_JSON)
    }

    /// A scenario from the two fixture texts (same shapes as the built-in files).
    pub fn from_json(actors_json: &str, events_json: &str) -> Result<Scenario, ScenarioError> {
        let fixtures: Vec<ActorFixture> =
            serde_json::from_str(actors_json).map_err(|source| ScenarioError::Json {
                file: "actors.json",
                source,
            })?;
        let events: Vec<Event> =
            serde_json::from_str(events_json).map_err(|source| ScenarioError::Json {
                file: "events.json",
                source,
            })?;
        let mut actors = Vec::with_capacity(fixtures.len());
        let mut seen = BTreeSet::new();
        for a in fixtures {
            if !seen.insert(a.id.clone()) {
                return Err(ScenarioError::DuplicateActor { actor: a.id });
            }
            actors.push(ScenarioActor {
                id: a.id,
                name: a.name,
                country: a.country,
                roles: a.roles,
                prefixes: a.prefixes,
                sites: a
                    .sites
                    .into_iter()
                    .map(|s| SiteDeclaration {
                        id: s.id,
                        name: s.name,
                        country: s.country,
                        kind: s.kind,
                    })
                    .collect(),
            });
        }
        for (position, event) in events.iter().enumerate() {
            event
                .check_limits()
                .map_err(|source| ScenarioError::Event { position, source })?;
            if !seen.contains(&event.actor) {
                return Err(ScenarioError::UnknownActor {
                    event: event.id.clone(),
                    actor: event.actor.clone(),
                });
            }
        }
        Ok(Scenario {
            log: FIXTURE_LOG.to_owned(),
            registered_at: Timestamp::parse(REGISTRATION_TIME)?,
            actors,
            events,
        })
    }

    /// The same scenario moved in time, every date by the same amount, so that its last event
    /// happens at `last_event_at`. A ledger dates its actors' events no earlier than their
    /// registration minus the backfill window and no later than now (plus a small skew), so a
    /// scenario loaded into a new ledger ends about now: the demo rebases it to the present.
    pub fn rebased(mut self, last_event_at: &Timestamp) -> Result<Scenario, ScenarioError> {
        let Some(last) = self.events.last().map(|e| e.occurred_at.unix_millis()) else {
            return Ok(self);
        };
        let target = last_event_at.unix_millis();
        let shift = |t: &Timestamp| -> Result<Timestamp, ScenarioError> {
            let moved = (t.unix_millis() + target)
                .checked_sub(last)
                .and_then(Timestamp::from_unix_millis)
                .ok_or_else(|| ScenarioError::Rebase {
                    at: last_event_at.clone(),
                })?;
            Ok(moved)
        };
        self.registered_at = shift(&self.registered_at)?;
        for event in &mut self.events {
            event.occurred_at = shift(&event.occurred_at)?;
            // A licence's validity and a quota's year belong to the scenario's own timeline and
            // move with it; the announcements' dates (rules, suspensions) are history and stay.
            match &mut event.body {
                EventBody::IssueLicence(l) => {
                    l.valid_from = shift(&l.valid_from)?;
                    l.valid_until = shift(&l.valid_until)?;
                }
                EventBody::SetQuota(q) => {
                    if let Ok(year) = event.occurred_at.as_str()[..4].parse() {
                        q.year = year;
                    }
                }
                _ => {}
            }
        }
        Ok(self)
    }

    /// The same scenario for the log named `origin`: every event, registrations included, names
    /// it as its `log` (an event is only valid on the log it names).
    pub fn for_log(mut self, origin: &str) -> Scenario {
        origin.clone_into(&mut self.log);
        for event in &mut self.events {
            event.log = Some(origin.to_owned());
        }
        self
    }

    /// The `register_actor` events the authority signs, one per actor, in order; each registers
    /// the actor's derived demo key.
    pub fn registrations(&self, authority: &ActorId) -> Result<Vec<Event>, ScenarioError> {
        let occurred_at = self.registered_at.clone();
        self.actors
            .iter()
            .map(|a| {
                Ok(Event {
                    id: EventId::new(format!("reg-{}", a.id))?,
                    actor: authority.clone(),
                    log: Some(self.log.clone()),
                    occurred_at: occurred_at.clone(),
                    body: EventBody::RegisterActor(RegisterActor {
                        subject: a.id.clone(),
                        name: a.name.clone(),
                        country: a.country.clone(),
                        roles: a.roles.clone(),
                        sites: a.sites.clone(),
                        public_keys: vec![PublicKey::new(actor_key(a.id.as_str()).verifying_key())],
                        prefixes: a.prefixes.clone(),
                    }),
                })
            })
            .collect()
    }

    /// Every envelope of the scenario, in log order: the registrations signed by `authority`
    /// with `authority_key`, then each event signed by its actor's demo key. Genesis is not
    /// included: the ledger writes it first, naming `authority` and its key.
    pub fn envelopes(
        &self,
        authority: &ActorId,
        authority_key: &SigningKey,
    ) -> Result<Vec<Envelope>, ScenarioError> {
        let mut keys: BTreeMap<&ActorId, SigningKey> = BTreeMap::new();
        for a in &self.actors {
            keys.insert(&a.id, actor_key(a.id.as_str()));
        }
        let sign = |event: &Event, key: &SigningKey| {
            Envelope::sign(event.to_json(), &[key]).map_err(|source| ScenarioError::Sign {
                event: event.id.clone(),
                source,
            })
        };
        let mut out = Vec::with_capacity(self.actors.len() + self.events.len());
        for reg in self.registrations(authority)? {
            out.push(sign(&reg, authority_key)?);
        }
        for event in &self.events {
            let key = keys
                .get(&event.actor)
                .ok_or_else(|| ScenarioError::UnknownActor {
                    event: event.id.clone(),
                    actor: event.actor.clone(),
                })?;
            out.push(sign(event, key)?);
        }
        Ok(out)
    }

    /// Batches worth showing, with a label: the GM magnets (`gm-magnet`), the heat-resistant
    /// Dy/Tb magnet (`heat-resistant-magnet`), the magnet with recycled NdPr
    /// (`recycled-magnet`), the Japanese magnet from Lynas oxide (`lynas-japan-magnet`) and GM's
    /// drive units (`gm-drive-units`).
    pub fn featured_batches() -> Vec<(&'static str, BatchId)> {
        FEATURED
            .iter()
            .map(|(label, id)| {
                // Constant, valid ids (a unit test checks they exist in the scenario).
                (
                    *label,
                    BatchId::new(*id).expect("featured batch ids are valid"),
                )
            })
            .collect()
    }

    /// The scenario without its export-control events (issue 17): no rules, licences or
    /// quotas, and no ship citing a licence. EPCIS carries supply-chain events only, so this is
    /// the part of the scenario an EPCIS document round-trips (docs/EPCIS.md).
    pub fn without_export_controls(mut self) -> Scenario {
        self.events.retain(|e| {
            !matches!(
                e.body,
                EventBody::PublishControls(_)
                    | EventBody::SuspendControls(_)
                    | EventBody::IssueLicence(_)
                    | EventBody::RevokeLicence(_)
                    | EventBody::SetQuota(_)
            )
        });
        for event in &mut self.events {
            if let EventBody::Ship(ship) = &mut event.body {
                ship.licence = None;
            }
        }
        self
    }

    /// Events the ledger must refuse once the scenario is loaded (issue 17), each with what it
    /// tries and the problem code it gets: Northern Rare Earth shipping its other heat-resistant
    /// magnet to Japan without a licence (`export_licence_required`), and extracting past its
    /// 2026 mining quota, which the scenario used up (`quota_exceeded`). Dated within the
    /// scenario's (possibly rebased) timeline and signed with the demo key; the demo submits
    /// them to show the refusals.
    pub fn refused_attempts(
        &self,
    ) -> Result<Vec<(&'static str, &'static str, Envelope)>, ScenarioError> {
        let nre = ActorId::new("northern-rare-earth")?;
        let key = actor_key(nre.as_str());
        let last = self.events.last().map(|e| e.occurred_at.clone());
        // The quota's own extract: an attempt next to it falls in the quota's year.
        let quota_extract = self.events.iter().find_map(|e| match &e.body {
            EventBody::Extract(x) if x.batch.as_str() == "NRE-MIX-2026-0101" => {
                Some(e.occurred_at.clone())
            }
            _ => None,
        });
        let (Some(last), Some(quota_extract)) = (last, quota_extract) else {
            return Ok(Vec::new());
        };
        let event = |id: &str, at: Timestamp, body: EventBody| -> Result<Event, ScenarioError> {
            Ok(Event {
                id: EventId::new(id)?,
                actor: nre.clone(),
                log: Some(self.log.clone()),
                occurred_at: at,
                body,
            })
        };
        let ship = event(
            "ev-nre-ship-hr-0102-unlicensed",
            last,
            EventBody::Ship(crate::model::event::Ship {
                batch: BatchId::new("NRE-MAG-HR-2026-0101-B")?,
                to: ActorId::new("nidec")?,
                licence: None,
            }),
        )?;
        let extract = event(
            "ev-nre-extract-0102-over-quota",
            Timestamp::from_unix_millis(quota_extract.unix_millis() + 60_000)
                .unwrap_or(quota_extract),
            EventBody::Extract(crate::model::event::Extract {
                site: SiteId::new("bayan-obo")?,
                batch: BatchId::new("NRE-MIX-2026-0102")?,
                form: crate::model::material::Form::MixedCompound,
                mass_g: crate::model::ids::Grams(1_000_000),
                elements: BTreeSet::new(),
                composition: None,
            }),
        )?;
        let sign = |event: &Event| {
            Envelope::sign(event.to_json(), &[&key]).map_err(|source| ScenarioError::Sign {
                event: event.id.clone(),
                source,
            })
        };
        Ok(vec![
            (
                "shipping a heat-resistant (Dy, Tb) magnet from China to Japan without a licence",
                "export_licence_required",
                sign(&ship)?,
            ),
            (
                "extracting past Northern Rare Earth's mining quota, used up by the scenario",
                "quota_exceeded",
                sign(&extract)?,
            ),
        ])
    }

    /// The batches the scenario's `extract` events create, by mine site.
    pub fn extracted_batches(&self) -> Vec<(SiteId, BatchId)> {
        self.events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Extract(x) => Some((x.site.clone(), x.batch.clone())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_loads_and_featured_batches_are_created() {
        let s = Scenario::builtin().unwrap();
        assert!(s.actors.len() >= 10);
        let created: BTreeSet<&BatchId> = s
            .events
            .iter()
            .flat_map(|e| match &e.body {
                EventBody::Extract(x) => vec![&x.batch],
                EventBody::Transform(t) => t.outputs.iter().map(|o| &o.batch).collect(),
                _ => vec![],
            })
            .collect();
        for (label, id) in Scenario::featured_batches() {
            assert!(created.contains(&id), "{label}: {id} is never created");
        }
        // Four mines; Pangwa extracts twice (the second lot feeds grain boundary diffusion) and
        // Bayan Obo twice (the second lot, issue 17, uses up the 2026 mining quota).
        assert_eq!(s.extracted_batches().len(), 6);
    }

    #[test]
    fn keys_are_deterministic_and_distinct() {
        assert_eq!(actor_key("lynas").to_bytes(), actor_key("lynas").to_bytes());
        assert_ne!(
            actor_key("lynas").to_bytes(),
            actor_key("mp-materials").to_bytes()
        );
    }

    #[test]
    fn envelopes_are_signed_by_the_right_keys() {
        let s = Scenario::builtin().unwrap();
        let authority = ActorId::new("authority").unwrap();
        let auth_key = SigningKey::from_bytes(&[7; 32]);
        let envs = s.envelopes(&authority, &auth_key).unwrap();
        assert_eq!(envs.len(), s.actors.len() + s.events.len());
        let auth_pub = PublicKey::new(auth_key.verifying_key());
        assert!(envs[0].is_signed_by(&auth_pub));
        let last = envs.last().unwrap();
        let actor = &s.events.last().unwrap().actor;
        assert!(last.is_signed_by(&PublicKey::new(actor_key(actor.as_str()).verifying_key())));
        assert!(!last.is_signed_by(&auth_pub));
    }
}
