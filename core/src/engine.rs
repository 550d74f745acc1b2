//! The engine: current rules behind one atomic pointer, plus state that outlives any rules.
//!
//! A request loads the rules once (`ArcSwap::load`), so a reload never tears a decision in half.
//! Counters live in [`KeyStore`]s named by what they count ("default", "route:login", …); a reload
//! builds new limiters over the same stores, so spent bursts and bans carry over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::attack::{AttackMeter, AttackStatus};
use crate::ban::{self, BanRecord, BanTable};
use crate::clearance::Usage;
use crate::client;
use crate::clock::{CoreClock, NS_PER_SEC};
use crate::decide;
use crate::decision::Verdict;
use crate::key::ClientKey;
use crate::limit::{Limiter, Quota};
use crate::penalty::Penalties;
use crate::region::{Region, RegionStats};
use crate::replay::{self, ReplayCache};
use crate::request::RequestView;
use crate::respond::{respond, Reply};
use crate::route::Action;
use crate::rules::{describe_changes, Rules, MAX_CHALLENGE_TTL_SECS};
use crate::secret::Keyring;
use crate::store::KeyStore;
use crate::toll::Tolls;

/// Rules plus the limiters compiled for them. Swapped as one.
#[derive(Debug)]
pub struct Active {
    pub rules: Arc<Rules>,
    pub(crate) limiters: Limiters,
}

#[derive(Debug, Default)]
pub(crate) struct Limiters {
    pub default: Option<Limiter>,
    /// One per route, `None` where the route uses the default quota or none.
    routes: Vec<Option<Limiter>>,
    pub extreme: Option<Limiter>,
    pub violations: Option<Limiter>,
    /// Per clearance cookie (keyed by its serial).
    pub clearance: Option<Limiter>,
    /// Clearances granted per client key.
    pub grants: Option<Limiter>,
}

impl Limiters {
    /// The limiter route `i` applies: its own, else the default.
    pub fn for_route(&self, i: usize) -> Option<&Limiter> {
        match self.routes.get(i) {
            Some(Some(own)) => Some(own),
            _ => self.default.as_ref(),
        }
    }
}

/// Counts for metrics and the admin API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub tracked_keys: usize,
    pub evicted_keys: usize,
    pub active_bans: usize,
    pub ban_records: usize,
    /// Solved challenges remembered against replay.
    pub solved_challenges: usize,
}

/// Where state lives: in this process, or in a shared-memory region every worker attaches to.
#[derive(Debug)]
enum Memory {
    Local,
    Shared(Arc<Region>),
}

impl Memory {
    /// The counter store called `name`, bounded by `cap` keys when in-process.
    fn store(&self, name: &str, cap: usize) -> Arc<KeyStore> {
        Arc::new(match self {
            Memory::Local => KeyStore::new(cap),
            Memory::Shared(r) => KeyStore::shared(r.clone(), name),
        })
    }

    fn replay(&self, kind: replay::Kind, max: usize) -> ReplayCache {
        match self {
            Memory::Local => ReplayCache::new(MAX_CHALLENGE_TTL_SECS, max),
            Memory::Shared(r) => ReplayCache::shared(r.clone(), kind),
        }
    }

    fn bans(&self, max: usize) -> BanTable {
        match self {
            Memory::Local => BanTable::new(max),
            Memory::Shared(r) => BanTable::shared(r.clone()),
        }
    }

    fn attack(&self) -> AttackMeter {
        match self {
            Memory::Local => AttackMeter::default(),
            Memory::Shared(r) => AttackMeter::shared(r.attack),
        }
    }
}

/// State that outlives rules: bans and the toll's memory.
#[derive(Debug)]
pub(crate) struct State {
    pub bans: BanTable,
    pub tolls: Tolls,
    /// Request and upstream-error rates for under-attack mode.
    pub attack: AttackMeter,
    /// Stores that are not behind a limiter (penalties, clearance spending), capped like the rest.
    fixed_stores: [Arc<KeyStore>; 2],
}

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
        let penalties = memory.store("penalties", cap);
        let usage = memory.store("usage", cap);
        let tolls = Tolls::new(
            keys,
            memory.replay(replay::Kind::Solved, max_solved),
            memory.replay(replay::Kind::Reports, max_solved),
            Penalties::new(penalties.clone()),
            Usage::new(usage.clone()),
            clock.now_ns(),
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
                fixed_stores: [penalties, usage],
            },
            memory,
            clock,
        };
        engine.install(rules);
        engine
    }

    /// Decides one request.
    pub fn decide(&self, req: &RequestView<'_>) -> Verdict {
        let active = self.active.load();
        decide::decide(&active, &self.state, req, self.clock.now_ns())
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
            let store = stores
                .entry(id.clone())
                .or_insert_with(|| self.memory.store(&id, cap));
            store.set_max_keys(cap);
            used.push(id);
            Some(Limiter::new(quota, store.clone(), &self.clock))
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
        };
        stores.retain(|id, _| used.contains(id));
        for s in &self.state.fixed_stores {
            s.set_max_keys(cap);
        }
        self.state.bans.set_max(rules.bans.policy.max_bans);
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
                    |v| v[0] <= now,
                    |v| ban::shared_slot_forgotten(v, now, policy),
                    |v| v[0] <= now / NS_PER_SEC,
                )
            }
        };
        keys + solved + shared + self.state.bans.sweep(now, &rules.bans.policy)
    }

    /// The shared region's fill, when state lives in one.
    pub fn region_stats(&self) -> Option<RegionStats> {
        match &self.memory {
            Memory::Local => None,
            Memory::Shared(r) => Some(r.stats()),
        }
    }

    pub fn stats(&self) -> EngineStats {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        EngineStats {
            tracked_keys: stores.values().map(|s| s.len()).sum(),
            evicted_keys: stores.values().map(|s| s.evicted()).sum(),
            active_bans: self.state.bans.active_list(self.clock.now_ns()).len(),
            ban_records: self.state.bans.len(),
            solved_challenges: self.state.tolls.replay.len(),
        }
    }

    /// How the upstream handled a proxied request: the response status (if any) and whether the
    /// front end's error came from the upstream side (connect failure, reset, timeout). Failures
    /// (those, and 502–504) count toward under-attack mode; a client aborting its own request
    /// never does. Returns whether it counted.
    pub fn upstream_outcome(&self, status: Option<u16>, upstream_failed: bool) -> bool {
        let failed = upstream_failed || matches!(status, Some(502..=504));
        let active = self.active.load();
        if let (true, Some(a)) = (failed, &active.rules.under_attack) {
            let now = self.clock.now_ns() / NS_PER_SEC;
            self.state.attack.upstream_error(a, now);
        }
        failed
    }

    /// Whether under-attack mode is engaged, and the last second's rates.
    pub fn attack_status(&self) -> AttackStatus {
        self.state.attack.status()
    }

    /// Bans in force, longest first.
    pub fn active_bans(&self) -> Vec<BanRecord> {
        self.state.bans.active_list(self.clock.now_ns())
    }

    /// Every ban record, for persistence.
    pub fn ban_snapshot(&self) -> Vec<BanRecord> {
        self.state.bans.snapshot()
    }

    pub fn restore_bans(&self, records: impl IntoIterator<Item = BanRecord>) {
        self.state.bans.restore(records);
    }

    /// Lifts the ban on the client key of `ip` under the current prefix lengths.
    pub fn unban(&self, ip: IpAddr) -> bool {
        self.state
            .bans
            .unban(&self.client_key(ip), self.clock.now_ns())
    }

    pub fn client_key(&self, ip: IpAddr) -> ClientKey {
        self.with_rules(|r| {
            ClientKey::new(ip, r.clients.ipv4_prefix_len, r.clients.ipv6_prefix_len)
        })
    }

    /// The network a key stands for under the current prefix lengths.
    pub fn network(&self, key: &ClientKey) -> String {
        self.with_rules(|r| key.network(r.clients.ipv4_prefix_len, r.clients.ipv6_prefix_len))
    }

    /// The `X-Forwarded-For` to send upstream for `req`.
    pub fn forwarded_for(&self, req: &RequestView<'_>) -> String {
        client::forwarded_for(req, &self.active.load().rules.clients.trusted_proxies)
    }

    /// Headers to set and remove before proxying `req`, whose verdict was `verdict`.
    pub fn forwarding(&self, req: &RequestView<'_>, verdict: &Verdict) -> client::Forwarding {
        let mut fwd = client::forwarding(
            req,
            &self.active.load().rules.clients.trusted_proxies,
            verdict.client_ip,
        );
        fwd.cookie = crate::clearance::strip(req.cookie);
        fwd
    }

    /// The response tollgate gives itself (`None`: proxy the request), timed by the engine's
    /// clock.
    pub fn respond(&self, verdict: &Verdict) -> Option<Reply> {
        respond(&verdict.decision, self.clock.now_ns() / NS_PER_SEC)
    }

    /// Replaces the signing keys (e.g. after a rotation). Tokens signed with a key the new
    /// keyring does not know stop working.
    pub fn set_keys(&self, keys: Keyring) {
        self.state.tolls.keys.store(Arc::new(keys));
    }

    /// The current signing keys, for tools that mint tokens.
    pub fn keys(&self) -> Arc<Keyring> {
        self.state.tolls.keys.load_full()
    }

    pub fn clock(&self) -> &CoreClock {
        &self.clock
    }
}
