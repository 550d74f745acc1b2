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
//! Memory per tracked key: a 24-byte entry (16-byte key + 8-byte TAT) and one control byte, at a
//! hash-table load factor between 7/16 and 7/8: 28–57 bytes.
//! `benches/decide.rs` measures it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use governor::nanos::Nanos;
use governor::state::StateStore;
use hashbrown::HashMap;

use crate::clock::CoreClock;
use crate::request::key::ClientKey;
use crate::shared::region::{self, Region};
use crate::shared::slots::{Evict, Placed, SlotKey, Values};

const SHARDS: usize = 64;

/// What a busy shared bucket reads as: a TAT far in the future, so every check on it fails
/// closed (and arithmetic on it cannot overflow).
const BUSY: u64 = u64::MAX / 4;

type Shard = HashMap<ClientKey, u64>;

/// Map of client key → absolute TAT in nanoseconds, with a hard bound on memory.
#[derive(Debug)]
pub enum KeyStore {
    Local(LocalStore),
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

    /// Changes the cap of an in-process store (a shared one is bounded by its zone).
    pub fn set_max_keys(&self, max_keys: usize) {
        if let Self::Local(l) = self {
            l.set_max_keys(max_keys);
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
            Self::Local(l) => l.update(key, now_ns, f),
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
                    let (out, tat) = f(Some(b.values(i)[0]))?;
                    b.set(i, &[tat, 0, 0]);
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

    /// The stored value for `key`, if any.
    pub fn get(&self, key: &ClientKey) -> Option<u64> {
        match self {
            Self::Local(l) => l.get(key),
            Self::Shared {
                region,
                tag,
                ledger,
            } => {
                let k = slot_key(*tag, key);
                // Busy: as deep in debt (e.g. a penalty reads as the most steps).
                region
                    .table(*ledger)
                    .with_bucket(&k, |b| b.find(&k).map(|i| b.values(i)[0]))
                    .unwrap_or(Some(BUSY))
            }
        }
    }

    /// Drops every key whose TAT has passed. A shared store is swept by its region instead.
    pub fn sweep(&self, now_ns: u64) -> usize {
        match self {
            Self::Local(l) => l.sweep(now_ns),
            Self::Shared { .. } => 0,
        }
    }

    /// Keys tracked now (in-process stores; a shared region counts for all its maps).
    pub fn len(&self) -> usize {
        match self {
            Self::Local(l) => l.len(),
            Self::Shared { .. } => 0,
        }
    }

    /// Keys evicted while still in debt because the store was full.
    pub fn evicted(&self) -> usize {
        match self {
            Self::Local(l) => l.evicted(),
            Self::Shared { .. } => 0,
        }
    }
}

pub(crate) fn slot_key(tag: u64, key: &ClientKey) -> SlotKey {
    let (hi, lo) = key.words();
    SlotKey { tag, hi, lo }
}

/// Sharded in-process map with a hard cap on keys.
#[derive(Debug)]
pub struct LocalStore {
    shards: Box<[Mutex<Shard>]>,
    shard_cap: AtomicUsize,
    evicted: AtomicUsize,
}

impl LocalStore {
    /// A store holding at most about `max_keys` keys (rounded up to a multiple of the shard count).
    pub fn new(max_keys: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        let store = Self {
            shards,
            shard_cap: AtomicUsize::new(1),
            evicted: AtomicUsize::new(0),
        };
        store.set_max_keys(max_keys);
        store
    }

    /// Changes the cap; shards above it shrink on their next insert.
    fn set_max_keys(&self, max_keys: usize) {
        let cap = max_keys.div_ceil(SHARDS).max(1);
        self.shard_cap.store(cap, Ordering::Relaxed);
    }

    fn shard(&self, key: &ClientKey) -> MutexGuard<'_, Shard> {
        let idx = (key.mix() >> 58) as usize % SHARDS;
        // A poisoned shard only means a panic elsewhere mid-update of plain integers: keep using it.
        self.shards[idx]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// [`KeyStore::update`] under one shard lock.
    fn update<T, E>(
        &self,
        key: &ClientKey,
        now_ns: impl FnOnce() -> u64,
        f: impl FnOnce(Option<u64>) -> Result<(T, u64), E>,
    ) -> Result<T, E> {
        let mut shard = self.shard(key);
        // One hash lookup on the common path: update in place.
        if let Some(tat) = shard.get_mut(key) {
            let (out, new_tat) = f(Some(*tat))?;
            *tat = new_tat;
            return Ok(out);
        }
        let (out, tat) = f(None)?;
        let cap = self.shard_cap.load(Ordering::Relaxed);
        if shard.len() >= cap {
            let freed = make_room(&mut shard, now_ns(), cap);
            self.evicted.fetch_add(freed, Ordering::Relaxed);
        }
        shard.insert(*key, tat);
        Ok(out)
    }

    /// The stored value for `key`, if any.
    fn get(&self, key: &ClientKey) -> Option<u64> {
        self.shard(key).get(key).copied()
    }

    /// Drops every key whose TAT has passed: such a key would start with a full burst anyway.
    fn sweep(&self, now_ns: u64) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let before = shard.len();
            shard.retain(|_, tat| *tat > now_ns);
            removed += before - shard.len();
            if shard.capacity() > 4 * shard.len().max(16) {
                shard.shrink_to_fit();
            }
        }
        removed
    }

    /// Keys tracked now.
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Keys evicted while still in debt because the store was full.
    fn evicted(&self) -> usize {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// Frees room in a full shard: first keys already at rest, then the sixteenth of keys with the
/// least debt. The heaviest clients (largest TAT) are the last to be forgotten, so filling the
/// table with fresh addresses does not reset a flooder's counter.
fn make_room(shard: &mut Shard, now_ns: u64, cap: usize) -> usize {
    let before = shard.len();
    shard.retain(|_, tat| *tat > now_ns);
    if shard.len() >= cap {
        let mut tats: Vec<u64> = shard.values().copied().collect();
        // Remove what is over the cap plus a sixteenth of the cap, keeping the heaviest. Sized by
        // the cap, not the length, so shrinking the cap on reload keeps the heaviest `cap` keys.
        let cut = (shard.len() - cap) + (cap / 16).max(1);
        let cut = cut.min(tats.len() - 1);
        let (_, threshold, _) = tats.select_nth_unstable(cut);
        let threshold = *threshold;
        shard.retain(|_, tat| *tat > threshold);
    }
    before - shard.len()
}

/// One limiter's window onto a shared [`KeyStore`], translating governor's limiter-relative
/// times to the store's absolute ones.
#[derive(Clone, Debug)]
pub struct StoreView {
    store: Arc<KeyStore>,
    origin_ns: u64,
    clock: CoreClock,
}

impl StoreView {
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// `origin_ns` must be the clock reading at which the limiter using this view was created.
    pub fn new(store: Arc<KeyStore>, origin_ns: u64, clock: CoreClock) -> Self {
        Self {
            store,
            origin_ns,
            clock,
        }
    }
}

impl StateStore for StoreView {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let origin = self.origin_ns;
        self.store.update(
            key,
            || self.clock.now_ns(),
            |prev| {
                let rel = prev.map(|abs| Nanos::from(abs.saturating_sub(origin)));
                let (out, tat) = f(rel)?;
                Ok((out, tat.as_u64().saturating_add(origin)))
            },
        )
    }
}

#[cfg(test)]
mod tests;
