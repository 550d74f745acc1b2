//! The engine: current rules behind one atomic pointer, plus state that outlives any rules.
//!
//! A request loads the rules once (`ArcSwap::load`), so a reload never tears a decision in half.
//! Counters live in [`KeyStore`]s named by what they count ("default", "route:login", …); a reload
//! builds new limiters over the same stores, so spent bursts and bans carry over. The request's
//! path through the checks is in `gates`; what a front end asks besides a decision (forwarding
//! headers, rendering, upstream outcomes) in `front`; the operator's views in `admin`.

mod active;
mod admin;
mod auth;
mod connection;
mod counted;
mod crawlers;
mod fleet;
mod front;
mod gates;
mod state;

pub use auth::{
    is_auth_path, AUTH_COOKIE_HEADER, AUTH_PATH, AUTH_REQUEST_PATH, HELD_REPLY_HEADER,
    HELD_REPLY_PATH,
};

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

pub use admin::EngineStats;
pub use connection::ConnectionSlot;

use crate::clock::{CoreClock, NS_PER_SEC};
use crate::crawl::verdicts::Verdicts;
use crate::fleet::{Outbox, Tally};
use crate::limit::ban;
use crate::limit::limiter::{Limiter, Quota};
use crate::limit::store::KeyStore;
use crate::request::{Action, RequestView};
use crate::rules::{describe_changes, Rules};
use crate::shared::Region;
use crate::toll::clearance::Usage;
use crate::toll::penalty::Penalties;
use crate::toll::replay;
use crate::toll::{Keyring, Tolls};
use crate::verdict::Verdict;
use active::{Active, Limiters};
use state::{Memory, State, LANES};

/// The decision core's entry point: one per front-end process (or per nginx worker).
#[derive(Debug)]
pub struct Engine {
    active: ArcSwap<Active>,
    stores: Mutex<HashMap<String, Arc<KeyStore>>>,
    state: State,
    memory: Memory,
    clock: CoreClock,
}

impl Engine {
    /// An engine deciding by `rules`, signing with `keys`, reading time from `clock`, with its
    /// state in this process.
    pub fn new(rules: Rules, keys: Keyring, clock: CoreClock) -> Self {
        Self::build(rules, keys, clock, Memory::Local)
    }

    /// An engine whose counters, bans, replay caches and under-attack meter live in `region`,
    /// so every process attached to the same region decides on the same state.
    pub fn shared(rules: Rules, keys: Keyring, clock: CoreClock, region: Arc<Region>) -> Self {
        Self::build(rules, keys, clock, Memory::Shared(region))
    }

    fn build(rules: Rules, keys: Keyring, clock: CoreClock, memory: Memory) -> Self {
        let cap = rules.clients.max_tracked_keys;
        let max_solved = rules.challenge.max_solved;
        let tally = Arc::new(Tally::default());
        let penalties = memory.ledger("penalties", cap);
        let usage = memory.ledger("usage", cap);
        let verdicts = memory.ledger("crawler-verdicts", cap);
        let tolls = Tolls::new(
            keys,
            memory.replay(replay::Kind::Solved, max_solved),
            memory.replay(replay::Kind::Reports, max_solved),
            Penalties::new(penalties.clone(), tally.clone()),
            Usage::new(usage.clone(), tally.clone()),
            clock.now_ns(),
            match memory {
                Memory::Local => clock.now_ns(),
                Memory::Shared(_) => 0,
            },
        );
        let engine = Self {
            active: ArcSwap::from_pointee(Active {
                rules: Arc::new(rules.clone()),
                limiters: Limiters::default(),
            }),
            stores: Mutex::new(HashMap::new()),
            state: State {
                bans: memory.bans(rules.bans.policy.max_bans),
                tolls,
                attack: memory.attack(),
                connections: Arc::default(),
                fleet: Outbox::default(),
                tally,
                crawlers: Verdicts::new(verdicts.clone()),
                lookups: AtomicBool::new(false),
                exact_limits: AtomicBool::new(false),
                fixed_stores: [penalties, usage, verdicts],
                lanes: memory.lanes(cap),
            },
            memory,
            clock,
        };
        engine.install(rules);
        engine.prepare_shared_metrics();
        engine
    }

    /// Decides one request.
    pub fn decide(&self, req: &RequestView<'_>) -> Verdict {
        let active = self.active.load();
        gates::decide(&active, &self.state, req, self.clock.now_ns(), None)
    }

    /// The current rules (a counted reference: for keeping; use [`Engine::with_rules`] per request).
    pub fn rules(&self) -> Arc<Rules> {
        self.active.load().rules.clone()
    }

    /// Runs `f` on the current rules without bumping a shared reference count, so per-request
    /// readers on several threads do not contend on one cache line.
    pub fn with_rules<R>(&self, f: impl FnOnce(&Rules) -> R) -> R {
        f(&self.active.load().rules)
    }

    /// Installs already-validated rules; returns what changed, one line per difference.
    pub fn reload(&self, rules: Rules) -> Vec<String> {
        let changes = describe_changes(&self.rules(), &rules);
        self.install(rules);
        changes
    }

    fn install(&self, rules: Rules) {
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        let cap = rules.clients.max_tracked_keys;
        let mut used = Vec::new();
        let mut limiter = |id: String, quota: Option<Quota>| {
            let quota = quota?;
            let store = match LANES.iter().position(|l| *l == id) {
                Some(lane) => &self.state.lanes[lane],
                None => stores
                    .entry(id.clone())
                    .or_insert_with(|| self.memory.store(&id, cap)),
            };
            store.set_max_keys(cap);
            let limiter = Limiter::new(quota, store.clone(), &self.clock);
            let limiter = match self.state.tally.enabled() {
                true => limiter.shared_as(&id, self.state.tally.clone()),
                false => limiter,
            };
            used.push(id);
            Some(limiter)
        };
        let limiters = Limiters {
            default: limiter("default".into(), rules.default_quota),
            routes: rules
                .routes
                .iter()
                .map(|r| match r.action {
                    Action::Limit | Action::Challenge => {
                        limiter(format!("route:{}", r.name), r.quota)
                    }
                    Action::Allow | Action::Deny { .. } => None,
                })
                .collect(),
            extreme: limiter("extreme".into(), rules.bans.extreme),
            violations: limiter("violations".into(), rules.bans.violations),
            clearance: limiter("clearance".into(), rules.clearance.rate),
            grants: limiter("grants".into(), rules.clearance.grants_per_hour),
            passes: limiter("passes".into(), rules.score.as_ref().and_then(|s| s.passes)),
            solved: limiter("solved".into(), rules.challenge.solved_per_client),
            network: limiter("network".into(), rules.networks.as_ref().map(|n| n.quota)),
            network_violations: limiter(
                "network-violations".into(),
                rules.networks.as_ref().and_then(|n| n.violations),
            ),
            crawlers: rules
                .crawlers
                .iter()
                .flat_map(|c| &c.defs)
                .map(|d| limiter(format!("crawler:{}", d.name), Some(d.quota)))
                .collect(),
        };
        stores.retain(|id, _| used.contains(id));
        for s in self.state.fixed_stores.iter().chain(&self.state.lanes) {
            s.set_max_keys(cap);
        }
        self.state.bans.set_max(rules.bans.policy.max_bans);
        let crawlers = rules.crawlers.iter().flat_map(|c| &c.defs);
        self.state.crawlers.defined(crawlers.map(|d| &*d.name));
        self.state.tolls.replay.set_max(rules.challenge.max_solved);
        self.state.tolls.reports.set_max(rules.challenge.max_solved);
        self.active.store(Arc::new(Active {
            rules: Arc::new(rules),
            limiters,
        }));
    }

    /// Drops state that carries no information any more. Front ends call it about once a second.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now_ns();
        let rules = self.rules();
        let stores: Vec<Arc<KeyStore>> = self
            .stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .chain(&self.state.fixed_stores)
            .chain(&self.state.lanes)
            .cloned()
            .collect();
        let keys: usize = stores.iter().map(|s| s.sweep(now)).sum();
        if let Some(a) = &rules.under_attack {
            self.state.attack.roll(a, now / NS_PER_SEC);
        }
        let solved = self.state.tolls.replay.sweep(now / NS_PER_SEC)
            + self.state.tolls.reports.sweep(now / NS_PER_SEC);
        let shared = match &self.memory {
            Memory::Local => 0,
            Memory::Shared(region) => {
                let policy = &rules.bans.policy;
                region.sweep_step(
                    |v| KeyStore::shared_slot_passed(v, now),
                    |v| ban::shared_slot_forgotten(v, now, policy),
                    |v| v[0] <= now / NS_PER_SEC,
                )
            }
        };
        keys + solved + shared + self.state.bans.sweep(now, &rules.bans.policy)
    }
}
