//! Bounded per-client limiter state.
//!
//! governor's own keyed stores grow one entry per key forever. This store caps the number of keys
//! (an attacker spraying a million addresses must not grow memory past the cap) and is cheap to
//! sweep: it keeps each key's GCRA "theoretical arrival time" (TAT) as absolute nanoseconds, and a
//! key whose TAT has passed is indistinguishable from an absent key, so sweeping it loses nothing.
//!
//! Absolute times are also what lets counters survive a reload: governor stores times relative to
//! each limiter's creation, so [`StoreView`] translates for one limiter while the store itself
//! outlives limiters.
//!
//! Two backings: in-process shards (the Pingora proxy), or one tagged map in a shared-memory
//! [`Region`] (nginx's workers, which must all count in the same place). Both evict the same
//! way: keys at rest first, then the least debt.
//!
//! In-process shards are open-addressing tables with keys inline (`table.rs`): one cache line
//! per lookup. Memory per tracked key: a slot of the 16-byte key and 8 bytes per value, at a
//! load factor between 3/8 and 3/4. The default limit and the extreme-rate counter, which every
//! request meets, are two lanes of one store, and the request rhythm rides in a third (40-byte
//! slots: 53–107 bytes per client, one lookup for both limits); other stores hold one value
//! (24-byte slots: 32–64 bytes per key).
//! `benches/decide.rs` measures it.

use std::cell::Cell;
use std::sync::Arc;

use governor::nanos::Nanos;
use governor::state::StateStore;

use crate::clock::CoreClock;
use crate::request::key::ClientKey;
use crate::shared::region::{self, Region};
use crate::shared::slots::{Evict, Placed, SlotKey, Values};
pub use local::LocalStore;

mod local;
mod table;

/// What a busy shared bucket reads as: a TAT far in the future, so every check on it fails
/// closed (and arithmetic on it cannot overflow).
const BUSY: u64 = u64::MAX / 4;

/// The lane of the in-process lanes store, and the value of a shared slot, that carry the
/// rider (see [`KeyStore::update_rider`]).
const RIDER: usize = 2;
const RIDER_VALUE: usize = 1;

/// Map of client key → absolute TAT in nanoseconds, with a hard bound on memory.
#[derive(Debug)]
pub enum KeyStore {
    Local(LocalStore),
    /// One lane of an in-process store whose keys carry several values side by side: the
    /// limiters every request meets share one lookup.
    Lane {
        store: Arc<LocalStore<3>>,
        lane: usize,
    },
    /// One map (`tag`) in a shared region's counter table, or its ledger (`ledger`).
    Shared {
        region: Arc<Region>,
        tag: u64,
        ledger: bool,
    },
}

impl KeyStore {
    /// An in-process store holding at most about `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self::Local(LocalStore::new(max_keys))
    }

    /// The map called `name` in `region`: every process attached to the region sees the same
    /// counts, and the same name finds them again after a reload.
    pub fn shared(region: Arc<Region>, name: &str) -> Self {
        Self::Shared {
            tag: region::tag(name),
            ledger: false,
            region,
        }
    }

    /// Like [`KeyStore::shared`], in the region's ledger: the table of long-lived entries
    /// (penalties, clearance spending), ranked in hours, kept apart from the rate counters
    /// (ranked in seconds) so that neither kind can evict the other.
    pub fn shared_ledger(region: Arc<Region>, name: &str) -> Self {
        Self::Shared {
            tag: region::tag(name),
            ledger: true,
            region,
        }
    }

    /// The two lanes of one new in-process store of at most about `max_keys` keys (with a
    /// third for the value that rides along: see [`KeyStore::update_rider`]).
    pub fn lanes(max_keys: usize) -> [Self; 2] {
        let store = Arc::new(LocalStore::<3>::with_riders(max_keys, 1));
        [0, 1].map(|lane| Self::Lane {
            store: store.clone(),
            lane,
        })
    }

    /// Changes the cap of an in-process store (a shared one is bounded by its zone).
    pub fn set_max_keys(&self, max_keys: usize) {
        match self {
            Self::Local(l) => l.set_max_keys(max_keys),
            Self::Lane { store, .. } => store.set_max_keys(max_keys),
            Self::Shared { .. } => {}
        }
    }

    /// Reads and replaces one key's TAT atomically. `f` gets the old TAT (if any) and returns
    /// the value to hand back plus the new TAT, or an error to leave the state untouched.
    /// `now_ns` is read only when the store must make room.
    pub fn update<T, E>(
        &self,
        key: &ClientKey,
        now_ns: impl FnOnce() -> u64,
        f: impl FnOnce(Option<u64>) -> Result<(T, u64), E>,
    ) -> Result<T, E> {
        match self {
            Self::Local(l) => l.update(key, 0, now_ns, f),
            Self::Lane { store, lane } => store.update(key, *lane, now_ns, f),
            Self::Shared {
                region,
                tag,
                ledger,
            } => {
                let k = slot_key(*tag, key);
                let Some(b) = region.table(*ledger).try_bucket(&k) else {
                    // Busy bucket: answer as for a key deep in debt (a limit reads as exceeded,
                    // a budget as spent) and store nothing: the request fails closed.
                    return f(Some(BUSY)).map(|(out, _)| out);
                };
                if let Some(i) = b.find(&k) {
                    let mut values = b.values(i);
                    let (out, tat) = f(Some(values[0]).filter(|&v| v != 0))?;
                    values[0] = tat; // the rider, if any, stays
                    b.set(i, &values);
                    return Ok(out);
                }
                let (out, tat) = f(None)?;
                let now = now_ns();
                let rank = move |v: &Values| v[0].saturating_sub(now);
                let placed = b.insert(&k, &[tat, 0, 0], Evict { rank, live: true });
                match placed {
                    Some(Placed::Empty) => region.note_counter_placed(false),
                    Some(Placed::Evicted) => region.note_counter_placed(true),
                    Some(Placed::Dead) | None => {}
                }
                Ok(out)
            }
        }
    }

    /// Replaces the value riding along with `key`'s count (the request rhythm) by `f` of the
    /// old one (0: none), and returns the new one. A rider keeps its key from the sweep until
    /// it passes (it is a deadline, like a TAT) but never ranks the key for eviction, nor
    /// evicts a key that carries debt: in a full store it is forgotten first, or not kept.
    /// Only the first lane of the lanes store and a shared store carry riders; elsewhere
    /// nothing is kept.
    pub fn update_rider(
        &self,
        key: &ClientKey,
        now_ns: impl FnOnce() -> u64,
        f: impl FnOnce(u64) -> u64,
    ) -> u64 {
        match self {
            Self::Lane { store, lane: 0 } => store.ride(key, RIDER, now_ns, f),
            Self::Shared {
                region,
                tag,
                ledger: false,
            } => {
                let k = slot_key(*tag, key);
                let Some(b) = region.table(false).try_bucket(&k) else {
                    return f(0); // busy: this request is not counted
                };
                if let Some(i) = b.find(&k) {
                    let mut values = b.values(i);
                    values[RIDER_VALUE] = f(values[RIDER_VALUE]);
                    b.set(i, &values);
                    return values[RIDER_VALUE];
                }
                let mut values = Values::default();
                values[RIDER_VALUE] = f(0);
                let now = now_ns();
                let rank = move |v: &Values| v[0].saturating_sub(now);
                let evict = Evict { rank, live: false };
                if let Some(Placed::Empty) = b.insert(&k, &values, evict) {
                    region.note_counter_placed(false);
                }
                values[RIDER_VALUE]
            }
            _ => f(0),
        }
    }

    /// The stored value for `key`, if any.
    pub fn get(&self, key: &ClientKey) -> Option<u64> {
        match self {
            Self::Local(l) => l.get(key, 0),
            Self::Lane { store, lane } => store.get(key, *lane),
            Self::Shared {
                region,
                tag,
                ledger,
            } => {
                let k = slot_key(*tag, key);
                // Busy: as deep in debt (e.g. a penalty reads as the most steps).
                region
                    .table(*ledger)
                    .with_bucket(&k, |b| {
                        let tat = b.find(&k).map(|i| b.values(i)[0]);
                        tat.filter(|&v| v != 0) // a slot holding only a rider has no count
                    })
                    .unwrap_or(Some(BUSY))
            }
        }
    }

    /// Drops every key whose TAT has passed. A shared store is swept by its region instead; a
    /// store of lanes through its first lane.
    pub fn sweep(&self, now_ns: u64) -> usize {
        match self {
            Self::Local(l) => l.sweep(now_ns),
            Self::Lane { store, lane: 0 } => store.sweep(now_ns),
            Self::Lane { .. } | Self::Shared { .. } => 0,
        }
    }

    /// Keys tracked now (in-process stores; a shared region counts for all its maps). A store
    /// of lanes counts its keys once, in its first lane.
    pub fn len(&self) -> usize {
        match self {
            Self::Local(l) => l.len(),
            Self::Lane { store, lane: 0 } => store.len(),
            Self::Lane { .. } | Self::Shared { .. } => 0,
        }
    }

    /// Keys evicted while still in debt because the store was full (a store of lanes: in its
    /// first lane).
    pub fn evicted(&self) -> usize {
        match self {
            Self::Local(l) => l.evicted(),
            Self::Lane { store, lane: 0 } => store.evicted(),
            Self::Lane { .. } | Self::Shared { .. } => 0,
        }
    }
}

impl KeyStore {
    /// Whether a shared counter slot carries nothing any more: its TAT and its rider passed.
    pub(crate) fn shared_slot_passed(v: &Values, now_ns: u64) -> bool {
        v[0] <= now_ns && v[RIDER_VALUE] <= now_ns
    }
}

pub(crate) fn slot_key(tag: u64, key: &ClientKey) -> SlotKey {
    let (hi, lo) = key.words();
    SlotKey { tag, hi, lo }
}

/// One limiter's window onto a shared [`KeyStore`], translating governor's limiter-relative
/// times to the store's absolute ones.
#[derive(Clone, Debug)]
pub struct StoreView {
    store: Arc<KeyStore>,
    origin_ns: u64,
    clock: CoreClock,
    /// The deepest debt a client can honestly be in (a full burst, plus a second of slack): a
    /// stored TAT further ahead of the check's clock reading than this is not a debt but a wall
    /// clock stepped back, and is forgiven.
    max_debt_ns: u64,
}

thread_local! {
    /// The clock reading of the check running on this thread (0: none), set by
    /// [`StoreView::checking_at`]: governor's store interface does not pass it.
    static CHECK_NOW: Cell<u64> = const { Cell::new(0) };
}

impl StoreView {
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// `origin_ns` must be the clock reading at which the limiter using this view was created.
    pub fn new(store: Arc<KeyStore>, origin_ns: u64, clock: CoreClock, max_debt_ns: u64) -> Self {
        Self {
            store,
            origin_ns,
            clock,
            max_debt_ns,
        }
    }

    /// Runs `check` (a governor check through this view) knowing it reads the clock at `now_ns`.
    pub fn checking_at<T>(now_ns: u64, check: impl FnOnce() -> T) -> T {
        CHECK_NOW.with(|n| n.set(now_ns));
        let out = check();
        CHECK_NOW.with(|n| n.set(0));
        out
    }
}

impl StateStore for StoreView {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let origin = self.origin_ns;
        // Governor counts from its creation (`origin`): a clock reading before it is the
        // origin to governor, so it is to the horizon too.
        let now = CHECK_NOW.with(Cell::get);
        let horizon = now.max(origin).saturating_add(self.max_debt_ns);
        self.store.update(
            key,
            || self.clock.now_ns(),
            |prev| {
                // A busy shared bucket stays closed: BUSY is no stepped clock.
                let prev = prev.filter(|&tat| now == 0 || tat <= horizon || tat == BUSY);
                let rel = prev.map(|abs| Nanos::from(abs.saturating_sub(origin)));
                let (out, tat) = f(rel)?;
                Ok((out, tat.as_u64().saturating_add(origin)))
            },
        )
    }
}

#[cfg(test)]
mod tests;
