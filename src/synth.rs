//! A synthetic rare-earth supply network for load tests and benchmarks: a world of mines,
//! separation plants, metal and magnet makers, manufacturers, recyclers and certifiers, and
//! endless streams of signed events that obey every ledger rule (docs/EVENTS.md, docs/MODEL.md).
//!
//! Everything is deterministic from one seed: the actors, their keys (SHA-256 of the seed and the
//! actor id — test keys, never for real use), the events and their bytes. The PRNG is
//! splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014),
//! written out here so that no dependency can change the streams.
//!
//! Mines are spread over countries, and extractions drawn, by the 2024 production table in
//! `fixtures/synth/production-2024.json` (China 69.2%, United States 11.5%, ...). Each
//! extraction starts a *flow* that follows the chain from mine to magnet and back: extract →
//! merge → beneficiation → ship/receive (small transit loss) → cracking → separation → assay →
//! split → reduction → alloying → magnet making (iron and boron added) → split into lots →
//! assembly into motors and products, with retirements, scrap recycling and certificates along
//! the way (the flow planner, `src/synth/flow.rs`, draws the picture).
//!
//! A [`Lane`] interleaves several flows. Lanes never share a batch, so the events of different
//! lanes may be appended in any interleaving — which is what concurrent clients do — while each
//! lane's own events must keep their order. [`Lane::deep_dag`] builds a batch whose upstream
//! provenance DAG has about a thousand nodes, for the provenance benchmark.

mod dag;
mod flow;

use std::collections::{BTreeSet, VecDeque};

use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::envelope::Envelope;
use crate::model::event::{Event, EventBody, RegisterActor, SiteDeclaration};
use crate::model::ids::{ActorId, BatchPrefix, CountryCode, EventId, SiteId, Timestamp};
use crate::model::material::{Role, SiteKind};
use crate::model::PublicKey;

pub use dag::{DeepDag, DEEP_DAG_LAYERS, DEEP_DAG_WIDTH};

/// The embedded production table (see the fixture for its sources).
const PRODUCTION_2024: &str = include_str!("../fixtures/synth/production-2024.json");

/// Unix milliseconds of 2026-01-01T00:00:00Z: by default synthetic events happen after it,
/// registrations a day before ([`World::starting_at`] moves both).
pub const EVENTS_START_MS: u64 = 1_767_225_600_000;
/// How long before the first event the authority registers the actors.
const REGISTRATION_LEAD_MS: u64 = 86_400_000;
/// The checkpoint origin synthetic events name unless told otherwise ([`World::for_log`]): the
/// default origin of `lodestone init`.
pub const DEFAULT_LOG: &str = "lodestone.example/rare-earths";
/// Flows a lane keeps in progress at once (their events interleave).
const FLOWS_PER_LANE: usize = 6;

/// splitmix64: a tiny, fast, well-mixed 64-bit PRNG. Deterministic across platforms.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (Lemire); the bias is below 2^-40 for the
    /// small ranges used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn with probability proportional to `weights` (not all zero).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// What a country's mines yield.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deposit {
    /// Bastnäsite or monazite rock: extracted as `ore`, light rare earths.
    HardRock,
    /// Ion-adsorption clay leached in situ: extracted as `mixed_compound`, heavy rare earths.
    IonicClay,
}

/// One row of the production table.
#[derive(Clone, Debug, Deserialize)]
pub struct CountryShare {
    /// ISO 3166-1 alpha-2 code.
    pub country: CountryCode,
    /// English name.
    pub name: String,
    /// Share of 2024 world mine output, in percent.
    pub share_pct: f64,
    /// What its mines yield.
    pub deposit: Deposit,
}

impl CountryShare {
    /// The share as an integer weight (thousandths of a percent), for drawing.
    pub fn weight(&self) -> u64 {
        (self.share_pct * 1000.0).round() as u64
    }
}

#[derive(Deserialize)]
struct ProductionTable {
    countries: Vec<CountryShare>,
}

/// The 2024 production table, largest producer first.
pub fn production_2024() -> Vec<CountryShare> {
    let table: ProductionTable = serde_json::from_str(PRODUCTION_2024)
        .expect("fixtures/synth/production-2024.json is valid (checked by tests/synth.rs)");
    let mut rows = table.countries;
    rows.sort_by(|a, b| b.share_pct.total_cmp(&a.share_pct));
    rows
}

/// How many actors of each role a world has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldSize {
    /// Mining companies, one mine each.
    pub miners: usize,
    /// Cracking and separation plants.
    pub separators: usize,
    /// Oxide-to-metal reduction and alloy plants.
    pub metallizers: usize,
    /// Magnet makers.
    pub magnet_makers: usize,
    /// Motor and product manufacturers.
    pub manufacturers: usize,
    /// Recyclers.
    pub recyclers: usize,
    /// Assay labs and auditors.
    pub certifiers: usize,
}

impl Default for WorldSize {
    fn default() -> Self {
        WorldSize {
            miners: 24,
            separators: 8,
            metallizers: 6,
            magnet_makers: 6,
            manufacturers: 12,
            recyclers: 4,
            certifiers: 3,
        }
    }
}

/// One participant: its registry data and its (deterministic, test-only) key.
pub struct Actor {
    /// Its id.
    pub id: ActorId,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: CountryCode,
    /// Its one role.
    pub role: Role,
    /// Its mine or plant (certifiers have none).
    pub site: Option<SiteDeclaration>,
    /// Its signing key.
    pub key: SigningKey,
    /// The one batch id prefix it creates batches under: its id and a `/` (actor ids have no
    /// `/`, so no actor's prefix starts another's).
    pub prefix: BatchPrefix,
}

impl Actor {
    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.key.verifying_key())
    }
}

/// Countries of the plants downstream of the mines, cycled through in order. Separation is
/// mostly Chinese (about 90% of refining), with Lynas in Malaysia, MP in the US and Neo in
/// Estonia; magnets mostly Chinese and Japanese; the rest where motors and recyclers are.
const SEPARATOR_COUNTRIES: &[&str] = &["CN", "CN", "MY", "CN", "US", "EE", "CN", "JP"];
const METALLIZER_COUNTRIES: &[&str] = &["CN", "CN", "VN", "JP", "US", "GB"];
const MAGNET_COUNTRIES: &[&str] = &["CN", "JP", "CN", "DE", "US", "CN", "SI"];
const MANUFACTURER_COUNTRIES: &[&str] = &["DE", "US", "JP", "CN", "KR", "FR", "CN", "SE"];
const RECYCLER_COUNTRIES: &[&str] = &["JP", "US", "GB", "DE", "CN"];
const CERTIFIER_COUNTRIES: &[&str] = &["CH", "GB", "US", "DE"];

/// The synthetic world: actors and the mine-country weights. Build once, then draw [`Lane`]s.
pub struct World {
    seed: u64,
    log: String,
    start_ms: u64,
    actors: Vec<Actor>,
    /// Per producing country that has a mine: (weight, deposit, indexes of its miners).
    mining: Vec<(u64, Deposit, Vec<usize>)>,
    by_role: Vec<(Role, Vec<usize>)>,
}

fn country(code: &str) -> CountryCode {
    CountryCode::new(code).expect("built-in country codes are assigned")
}

impl World {
    /// Builds the world for `seed` with `size` actors per role. Every role needs at least one
    /// actor; miners are spread over the largest producers first, one country each until the
    /// table runs out, then extra mines go to countries drawn by share.
    pub fn new(seed: u64, size: WorldSize) -> World {
        assert!(
            size.miners > 0
                && size.separators > 0
                && size.metallizers > 0
                && size.magnet_makers > 0
                && size.manufacturers > 0
                && size.recyclers > 0
                && size.certifiers > 0,
            "a synthetic world needs at least one actor of every role"
        );
        let mut rng = SplitMix64::new(seed ^ 0x0005_EED0_FA11_3A27);
        let table = production_2024();
        let weights: Vec<u64> = table.iter().map(CountryShare::weight).collect();
        let mut mines_per_country = vec![0usize; table.len()];
        for m in 0..size.miners {
            let row = if m < table.len() {
                m
            } else {
                rng.weighted(&weights)
            };
            mines_per_country[row] += 1;
        }
        let mut world = World {
            seed,
            log: DEFAULT_LOG.to_owned(),
            start_ms: EVENTS_START_MS,
            actors: Vec::new(),
            mining: Vec::new(),
            by_role: Vec::new(),
        };
        for (row, count) in table.iter().zip(&mines_per_country) {
            let mut miners = Vec::new();
            for n in 1..=*count {
                let code = row.country.as_str().to_ascii_lowercase();
                let name = format!("{} Mining Co. {n}", row.name);
                let site = format!("mine-{code}-{n:02}");
                miners.push(world.add(
                    Role::Miner,
                    &format!("miner-{code}-{n:02}"),
                    name,
                    &row.country,
                    Some((site, SiteKind::Mine)),
                ));
            }
            if !miners.is_empty() {
                world.mining.push((row.weight(), row.deposit, miners));
            }
        }
        let downstream: [(Role, &str, &str, usize, &[&str]); 6] = [
            (
                Role::Separator,
                "separator",
                "Separation Plant",
                size.separators,
                SEPARATOR_COUNTRIES,
            ),
            (
                Role::Metallizer,
                "metallizer",
                "Metals",
                size.metallizers,
                METALLIZER_COUNTRIES,
            ),
            (
                Role::MagnetMaker,
                "magnet-maker",
                "Magnetics",
                size.magnet_makers,
                MAGNET_COUNTRIES,
            ),
            (
                Role::Manufacturer,
                "manufacturer",
                "Motors",
                size.manufacturers,
                MANUFACTURER_COUNTRIES,
            ),
            (
                Role::Recycler,
                "recycler",
                "Recovery",
                size.recyclers,
                RECYCLER_COUNTRIES,
            ),
            (
                Role::Certifier,
                "certifier",
                "Assay & Audit",
                size.certifiers,
                CERTIFIER_COUNTRIES,
            ),
        ];
        for (role, slug, label, count, countries) in downstream {
            for n in 1..=count {
                let site = (role != Role::Certifier)
                    .then(|| (format!("plant-{slug}-{n:02}"), SiteKind::Plant));
                world.add(
                    role,
                    &format!("{slug}-{n:02}"),
                    format!("Synthetic {label} {n}"),
                    &country(countries[(n - 1) % countries.len()]),
                    site,
                );
            }
        }
        world
    }

    fn add(
        &mut self,
        role: Role,
        id: &str,
        name: String,
        country: &CountryCode,
        site: Option<(String, SiteKind)>,
    ) -> usize {
        let id = ActorId::new(id).expect("synthetic actor ids follow the syntax");
        let key = SigningKey::from_bytes(
            &Sha256::digest(format!("lodestone-synth-key:{}:{id}", self.seed)).into(),
        );
        let site = site.map(|(site, kind)| SiteDeclaration {
            id: SiteId::new(site).expect("synthetic site ids follow the syntax"),
            name: format!(
                "{name} {}",
                if kind == SiteKind::Mine {
                    "mine"
                } else {
                    "plant"
                }
            ),
            country: country.clone(),
            kind,
        });
        let index = self.actors.len();
        let prefix =
            BatchPrefix::new(format!("{id}/")).expect("an actor id and a slash make a prefix");
        self.actors.push(Actor {
            prefix,
            id,
            name,
            country: country.clone(),
            role,
            site,
            key,
        });
        match self.by_role.iter_mut().find(|(r, _)| *r == role) {
            Some((_, list)) => list.push(index),
            None => self.by_role.push((role, vec![index])),
        }
        index
    }

    /// The seed it was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The same world writing for the log named `origin`: every event it makes names it as its
    /// `log` (an event is only valid on the log it names). The default is [`DEFAULT_LOG`].
    pub fn for_log(mut self, origin: &str) -> World {
        self.log = origin.to_owned();
        self
    }

    /// The checkpoint origin its events name.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The same world with its events starting at `start_ms` (Unix ms) and its registrations a
    /// day before; the default is [`EVENTS_START_MS`]. A live ledger refuses events dated more
    /// than its backfill window (90 days by default) before their signer's registration, or
    /// after its own clock: for one created now, start a few weeks back (each lane advances
    /// 1–5 s per event).
    pub fn starting_at(mut self, start_ms: u64) -> World {
        self.start_ms = start_ms.max(REGISTRATION_LEAD_MS);
        self
    }

    /// Every actor, in registration order.
    pub fn actors(&self) -> &[Actor] {
        &self.actors
    }

    /// Indexes (into [`World::actors`]) of the actors with `role`.
    pub fn with_role(&self, role: Role) -> &[usize] {
        self.by_role
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(&[], |(_, list)| list.as_slice())
    }

    /// A miner drawn by its country's production share, and what its mine yields.
    fn draw_miner(&self, rng: &mut SplitMix64) -> (usize, Deposit) {
        let weights: Vec<u64> = self.mining.iter().map(|(w, ..)| *w).collect();
        let (_, deposit, miners) = &self.mining[rng.weighted(&weights)];
        (rng.pick(miners), *deposit)
    }

    /// The `register_actor` envelopes for every actor, signed by the ledger authority. Submit
    /// them (in order or not) after genesis and before any lane's events.
    pub fn registrations(&self, authority: &ActorId, key: &SigningKey) -> Vec<Envelope> {
        let at = Timestamp::from_unix_millis(self.start_ms - REGISTRATION_LEAD_MS)
            .expect("a valid instant");
        self.actors
            .iter()
            .map(|actor| {
                let event = Event {
                    id: EventId::new(format!("synth-register-{}", actor.id))
                        .expect("synthetic event ids follow the syntax"),
                    actor: authority.clone(),
                    log: Some(self.log.clone()),
                    occurred_at: at.clone(),
                    body: EventBody::RegisterActor(RegisterActor {
                        subject: actor.id.clone(),
                        name: actor.name.clone(),
                        country: actor.country.clone(),
                        roles: BTreeSet::from([actor.role]),
                        sites: actor.site.iter().cloned().collect(),
                        public_keys: vec![actor.public_key()],
                        prefixes: BTreeSet::from([actor.prefix.clone()]),
                    }),
                };
                sign(&event, key)
            })
            .collect()
    }

    /// Lane `lane`: an endless, deterministic stream of events whose batches no other lane
    /// touches.
    pub fn lane(&self, lane: u32) -> Lane<'_> {
        Lane {
            world: self,
            lane,
            rng: SplitMix64::new(
                self.seed ^ (u64::from(lane) + 1).wrapping_mul(0xA24B_AED4_963E_E407),
            ),
            clock_ms: self.start_ms,
            events: 0,
            flows_started: 0,
            flows: Vec::new(),
        }
    }

    /// The first `n` events of lane 0, signed.
    pub fn events(&self, n: usize) -> Vec<Envelope> {
        let drafts: Vec<SyntheticEvent> = self.lane(0).take(n).collect();
        self.sign_all(&drafts)
    }

    /// Signs one event with its actor's key.
    pub fn sign(&self, event: &SyntheticEvent) -> Envelope {
        sign(&event.event, &self.actors[event.signer].key)
    }

    /// Signs many events on all cores (client-side work: not a cost of the ledger).
    pub fn sign_all(&self, events: &[SyntheticEvent]) -> Vec<Envelope> {
        events.par_iter().map(|e| self.sign(e)).collect()
    }
}

fn sign(event: &Event, key: &SigningKey) -> Envelope {
    Envelope::sign(event.to_json(), &[key])
        .expect("a synthetic envelope has one signature and a small payload")
}

/// An event and the actor (index into [`World::actors`]) who must sign it.
#[derive(Clone, Debug)]
pub struct SyntheticEvent {
    /// The event.
    pub event: Event,
    /// Index of the signer in [`World::actors`].
    pub signer: usize,
}

/// An event not yet given its id and time: flows are planned ahead, stamped when emitted, so
/// that times grow in emission order whatever the interleaving.
struct Draft {
    signer: usize,
    body: EventBody,
}

/// One lane's event stream (an endless [`Iterator`]). See the module doc.
pub struct Lane<'w> {
    world: &'w World,
    lane: u32,
    rng: SplitMix64,
    clock_ms: u64,
    events: u64,
    flows_started: u64,
    flows: Vec<VecDeque<Draft>>,
}

impl Lane<'_> {
    /// The lane number.
    pub fn number(&self) -> u32 {
        self.lane
    }

    /// The next `n` events, signed on all cores.
    pub fn signed(&mut self, n: usize) -> Vec<Envelope> {
        let drafts: Vec<SyntheticEvent> = self.take(n).collect();
        self.world.sign_all(&drafts)
    }

    fn stamp(&mut self, draft: Draft) -> SyntheticEvent {
        // 1 to 5 s between events: a million events of one lane span about five weeks.
        self.clock_ms += self.rng.between(1_000, 5_000);
        self.events += 1;
        let actor = &self.world.actors[draft.signer];
        SyntheticEvent {
            event: Event {
                id: EventId::new(format!("synth-{}-{}", self.lane, self.events))
                    .expect("synthetic event ids follow the syntax"),
                actor: actor.id.clone(),
                log: Some(self.world.log.clone()),
                occurred_at: Timestamp::from_unix_millis(self.clock_ms).expect("a valid instant"),
                body: draft.body,
            },
            signer: draft.signer,
        }
    }
}

impl Iterator for Lane<'_> {
    type Item = SyntheticEvent;

    fn next(&mut self) -> Option<SyntheticEvent> {
        while self.flows.len() < FLOWS_PER_LANE {
            self.flows_started += 1;
            let prefix = format!("L{}-F{}", self.lane, self.flows_started);
            let flow = flow::plan(self.world, &mut self.rng, &prefix);
            self.flows.push(flow);
        }
        let pick = self.rng.below(self.flows.len() as u64) as usize;
        let draft = self.flows[pick]
            .pop_front()
            .expect("finished flows are removed at once");
        if self.flows[pick].is_empty() {
            self.flows.swap_remove(pick);
        }
        Some(self.stamp(draft))
    }
}
