//! The in-process backing of [`KeyStore`](super::KeyStore): 64 shards, each an open-addressing
//! [`Table`] behind its own lock, with a hard cap on keys and eviction that keeps the heaviest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::DefaultHashBuilder;

use super::table::{hash, Table, SHARD_BITS};
use crate::request::key::ClientKey;

const SHARDS: usize = 1 << SHARD_BITS;

/// Sharded in-process map of client key → `N` values (lanes), with a hard cap on keys.
#[derive(Debug)]
pub struct LocalStore<const N: usize = 1> {
    shards: Box<[Mutex<Table<N>>]>,
    /// Seeded at random: which shard and slot a key lands in is not the client's to choose.
    hasher: DefaultHashBuilder,
    shard_cap: AtomicUsize,
    evicted: AtomicUsize,
    /// Lanes that rank a key for eviction (the first ones); the rest ride along: they keep a
    /// key from the sweep until they pass, but a key held only by them is at rest when the
    /// store must make room. (The request rhythm rides with the limits every request meets: a
    /// spray of fresh addresses must not outrank a flooder's debt.)
    ranked: usize,
}

impl<const N: usize> LocalStore<N> {
    /// A store holding at most about `max_keys` keys (rounded up to a multiple of the shard count).
    pub fn new(max_keys: usize) -> Self {
        Self::with_riders(max_keys, 0)
    }

    /// A store whose last `riders` lanes never rank a key for eviction.
    pub fn with_riders(max_keys: usize, riders: usize) -> Self {
        let hasher = DefaultHashBuilder::default();
        let table = || Mutex::new(Table::with_hasher(hasher));
        let shards = (0..SHARDS).map(|_| table()).collect();
        let store = Self {
            shards,
            hasher,
            shard_cap: AtomicUsize::new(1),
            evicted: AtomicUsize::new(0),
            ranked: N.saturating_sub(riders).max(1),
        };
        store.set_max_keys(max_keys);
        store
    }

    /// Changes the cap; shards above it shrink on their next insert.
    pub fn set_max_keys(&self, max_keys: usize) {
        let cap = max_keys.div_ceil(SHARDS).max(1);
        self.shard_cap.store(cap, Ordering::Relaxed);
    }

    fn shard(&self, key: &ClientKey) -> MutexGuard<'_, Table<N>> {
        let idx = (hash(&self.hasher, key) >> (64 - SHARD_BITS)) as usize;
        // A poisoned shard only means a panic elsewhere mid-update of plain integers: keep using it.
        self.shards[idx]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// [`KeyStore::update`](super::KeyStore::update) of one lane, under one shard lock.
    pub fn update<T, E>(
        &self,
        key: &ClientKey,
        lane: usize,
        now_ns: impl FnOnce() -> u64,
        f: impl FnOnce(Option<u64>) -> Result<(T, u64), E>,
    ) -> Result<T, E> {
        let mut shard = self.shard(key);
        // One probe on the common path: update in place.
        if let Some(entry) = shard.entry(key) {
            let old = Some(entry.value(lane)).filter(|&v| v != 0);
            let (out, new) = f(old)?;
            entry.set(lane, new);
            return Ok(out);
        }
        let (out, value) = f(None)?;
        let cap = self.shard_cap.load(Ordering::Relaxed);
        if shard.len() >= cap {
            let freed = make_room(&mut shard, now_ns(), cap, self.ranked);
            self.evicted.fetch_add(freed, Ordering::Relaxed);
        }
        shard.insert(key, lane, value);
        Ok(out)
    }

    /// Sets a rider lane of `key` to `f` of its old value (0: none), and returns the new one. A
    /// key met first here takes a place only if the shard has room, counting keys at rest as
    /// room: a rider never evicts a key that still carries debt.
    pub fn ride(
        &self,
        key: &ClientKey,
        lane: usize,
        now_ns: impl FnOnce() -> u64,
        f: impl FnOnce(u64) -> u64,
    ) -> u64 {
        let mut shard = self.shard(key);
        if let Some(entry) = shard.entry(key) {
            let new = f(entry.value(lane));
            entry.set(lane, new);
            return new;
        }
        let new = f(0);
        let cap = self.shard_cap.load(Ordering::Relaxed);
        if shard.len() >= cap {
            let now = now_ns();
            shard.retain(|v| debt(v, self.ranked) > now);
        }
        if new != 0 && shard.len() < cap {
            shard.insert(key, lane, new);
        }
        new
    }

    /// The lane's value for `key`, if any.
    pub fn get(&self, key: &ClientKey, lane: usize) -> Option<u64> {
        self.shard(key).get(key, lane)
    }

    /// Drops every key whose values have all passed: such a key would start afresh anyway.
    pub fn sweep(&self, now_ns: u64) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let before = shard.len();
            shard.retain(|v| latest(v) > now_ns);
            removed += before - shard.len();
        }
        removed
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Keys evicted while still in debt because the store was full.
    pub fn evicted(&self) -> usize {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// A key's latest deadline over all lanes: past it, the key carries nothing.
fn latest<const N: usize>(values: &[u64; N]) -> u64 {
    values.iter().copied().max().unwrap_or(0)
}

/// A key's rank for eviction: its latest deadline over the first `ranked` lanes.
fn debt<const N: usize>(values: &[u64; N], ranked: usize) -> u64 {
    values.iter().take(ranked).copied().max().unwrap_or(0)
}

/// Frees room in a full shard: first keys already at rest, then, if that freed less than a
/// sixteenth of the cap, the keys with the least debt, down to fifteen sixteenths of the cap.
/// The heaviest clients (largest TAT) are the last to be forgotten, so filling the table with
/// fresh addresses does not reset a flooder's counter; and each call frees a sixteenth at once,
/// so a table at its cap is rebuilt once per sixteenth of new keys, not for every key.
fn make_room<const N: usize>(
    shard: &mut Table<N>,
    now_ns: u64,
    cap: usize,
    ranked: usize,
) -> usize {
    let before = shard.len();
    let target = cap - (cap / 16).max(1).min(cap);
    shard.retain(|v| debt(v, ranked) > now_ns);
    if shard.len() > target {
        let mut ranks: Vec<u64> = shard.values().map(|v| debt(v, ranked)).collect();
        // Sized by the cap, not the length, so shrinking the cap on reload keeps the heaviest
        // `target` keys.
        let cut = (shard.len() - target).min(ranks.len() - 1);
        let (_, threshold, _) = ranks.select_nth_unstable(cut);
        let threshold = *threshold;
        shard.retain(|v| debt(v, ranked) > threshold);
    }
    before - shard.len()
}
