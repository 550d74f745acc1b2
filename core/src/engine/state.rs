//! State that outlives any rules (bans, the toll's memory, the under-attack meter), and where
//! it lives: in this process or in a shared-memory region.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::connection::OpenConnections;
use crate::crawl::verdicts::Verdicts;
use crate::fleet::{Outbox, Tally};
use crate::limit::ban::BanTable;
use crate::limit::store::KeyStore;
use crate::score::attack::AttackMeter;
use crate::shared::Region;
use crate::toll::replay::{self, ReplayCache};
use crate::toll::{Tolls, MAX_CHALLENGE_TTL_SECS};

/// State that outlives rules: bans and the toll's memory.
#[derive(Debug)]
pub(crate) struct State {
    pub bans: BanTable,
    pub tolls: Tolls,
    /// Request and upstream-error rates for under-attack mode.
    pub attack: AttackMeter,
    /// Connections each client key holds open (this process's own: never shared).
    pub connections: Arc<OpenConnections>,
    /// Bans to publish to the fleet, when the front end joined one.
    pub fleet: Outbox,
    /// Passes of every limiter and clearance budget, for the fleet.
    pub tally: Arc<Tally>,
    /// What crawler lookups found.
    pub crawlers: Verdicts,
    /// Whether the front end runs crawler lookups ([`Decision::Verify`](crate::Decision)).
    pub lookups: AtomicBool,
    /// Whether the front end meters route limits in the fleet's store
    /// ([`Decision::Meter`](crate::Decision)).
    pub exact_limits: AtomicBool,
    /// Stores that are not behind a limiter (penalties, clearance spending, crawler verdicts),
    /// capped like the rest.
    pub fixed_stores: [Arc<KeyStore>; 3],
    /// The stores of the limiters named in [`LANES`], kept across reloads like the others.
    pub lanes: [Arc<KeyStore>; 2],
}

/// The limiters every request meets: in this process, the two lanes of one store, so both
/// counts cost one lookup.
pub(crate) const LANES: [&str; 2] = ["default", "extreme"];

/// Where state lives: in this process, or in a shared-memory region every worker attaches to.
#[derive(Debug)]
pub(crate) enum Memory {
    Local,
    Shared(Arc<Region>),
}

impl Memory {
    /// The counter store called `name`, bounded by `cap` keys when in-process.
    pub fn store(&self, name: &str, cap: usize) -> Arc<KeyStore> {
        Arc::new(match self {
            Memory::Local => KeyStore::new(cap),
            Memory::Shared(r) => KeyStore::shared(r.clone(), name),
        })
    }

    /// The stores of the [`LANES`] limiters.
    pub fn lanes(&self, cap: usize) -> [Arc<KeyStore>; 2] {
        match self {
            Memory::Local => KeyStore::lanes(cap).map(Arc::new),
            Memory::Shared(r) => LANES.map(|name| Arc::new(KeyStore::shared(r.clone(), name))),
        }
    }

    /// A store of long-lived entries (penalties, clearance spending, crawler verdicts): in a
    /// shared region, its
    /// ledger table, so rate counters and these never evict each other.
    pub fn ledger(&self, name: &str, cap: usize) -> Arc<KeyStore> {
        Arc::new(match self {
            Memory::Local => KeyStore::new(cap),
            Memory::Shared(r) => KeyStore::shared_ledger(r.clone(), name),
        })
    }

    pub fn replay(&self, kind: replay::Kind, max: usize) -> ReplayCache {
        match self {
            Memory::Local => ReplayCache::new(MAX_CHALLENGE_TTL_SECS, max),
            Memory::Shared(r) => ReplayCache::shared(r.clone(), kind),
        }
    }

    pub fn bans(&self, max: usize) -> BanTable {
        match self {
            Memory::Local => BanTable::new(max),
            Memory::Shared(r) => BanTable::shared(r.clone()),
        }
    }

    pub fn attack(&self) -> AttackMeter {
        match self {
            Memory::Local => AttackMeter::default(),
            Memory::Shared(r) => AttackMeter::shared(r.attack),
        }
    }
}
