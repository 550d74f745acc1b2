//! The engine: current rules behind one atomic pointer, plus state that outlives any rules.
//!
//! A request loads the rules once (`ArcSwap::load`), so a reload never tears a decision in half.
//! Counters live in [`KeyStore`]s named by what they count ("default", "route:login", …); a reload
//! builds new limiters over the same stores, so spent bursts and bans carry over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::ban::{BanRecord, BanTable};
use crate::client;
use crate::clock::{CoreClock, NS_PER_SEC};
use crate::decide;
use crate::decision::Verdict;
use crate::key::ClientKey;
use crate::limit::{Limiter, Quota};
use crate::request::RequestView;
use crate::respond::{refusal, Refusal};
use crate::route::Action;
use crate::rules::{describe_changes, Rules};
use crate::store::KeyStore;

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
}

/// The decision core's entry point: one per front-end process (or per nginx worker).
#[derive(Debug)]
pub struct Engine {
    active: ArcSwap<Active>,
    stores: Mutex<HashMap<String, Arc<KeyStore>>>,
    bans: BanTable,
    clock: CoreClock,
}

impl Engine {
    pub fn new(rules: Rules, clock: CoreClock) -> Self {
        let engine = Self {
            active: ArcSwap::from_pointee(Active {
                rules: Arc::new(rules.clone()),
                limiters: Limiters::default(),
            }),
            stores: Mutex::new(HashMap::new()),
            bans: BanTable::new(rules.bans.policy.max_bans),
            clock,
        };
        engine.install(rules);
        engine
    }

    /// Decides one request.
    pub fn decide(&self, req: &RequestView<'_>) -> Verdict {
        let active = self.active.load();
        decide::decide(&active, &self.bans, req, self.clock.now_ns())
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
                .or_insert_with(|| Arc::new(KeyStore::new(cap)));
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
        };
        stores.retain(|id, _| used.contains(id));
        self.bans.set_max(rules.bans.policy.max_bans);
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
            .cloned()
            .collect();
        let keys: usize = stores.iter().map(|s| s.sweep(now)).sum();
        keys + self.bans.sweep(now, &rules.bans.policy)
    }

    pub fn stats(&self) -> EngineStats {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        EngineStats {
            tracked_keys: stores.values().map(|s| s.len()).sum(),
            evicted_keys: stores.values().map(|s| s.evicted()).sum(),
            active_bans: self.bans.active_list(self.clock.now_ns()).len(),
            ban_records: self.bans.len(),
        }
    }

    /// Bans in force, longest first.
    pub fn active_bans(&self) -> Vec<BanRecord> {
        self.bans.active_list(self.clock.now_ns())
    }

    /// Every ban record, for persistence.
    pub fn ban_snapshot(&self) -> Vec<BanRecord> {
        self.bans.snapshot()
    }

    pub fn restore_bans(&self, records: impl IntoIterator<Item = BanRecord>) {
        self.bans.restore(records);
    }

    /// Lifts the ban on the client key of `ip` under the current prefix lengths.
    pub fn unban(&self, ip: IpAddr) -> bool {
        self.bans.unban(&self.client_key(ip), self.clock.now_ns())
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
        client::forwarding(
            req,
            &self.active.load().rules.clients.trusted_proxies,
            verdict.client_ip,
        )
    }

    /// The response for a refused verdict (`None`: proxy it), timed by the engine's clock.
    pub fn refusal(&self, verdict: &Verdict) -> Option<Refusal> {
        refusal(&verdict.decision, self.clock.now_ns() / NS_PER_SEC)
    }

    pub fn clock(&self) -> &CoreClock {
        &self.clock
    }
}
