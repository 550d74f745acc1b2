//! One-time use of solved challenges.
//!
//! A challenge is stateless until it is solved; then its id goes here, and a second submission of
//! the same solution (or a concurrent one) finds it. An id only needs remembering until its
//! challenge expires, so ids are filed in buckets by expiry time, and a bucket is emptied whole
//! when its time comes round again. Inserting is check-and-insert under the bucket's lock, so of
//! any number of concurrent submissions exactly one wins. The total is capped: when full, new
//! solutions are refused (fail closed) rather than forgetting ids that are still live.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::shared::region::{self, Region};
use crate::shared::slots::{Evict, SlotKey, Values};

/// Width of one expiry bucket.
const BUCKET_SECS: u64 = 60;

/// Outcome of recording a solution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// First use: accept.
    New,
    /// Seen before: refuse.
    Replayed,
    /// The cache is full of live ids: refuse for now.
    Full,
}

#[derive(Debug, Default)]
struct Bucket {
    /// `expiry / BUCKET_SECS` of the ids held.
    epoch: u64,
    ids: HashSet<[u8; 16]>,
}

/// Bounded set of used challenge ids: in-process, or one tagged map in a shared-memory
/// [`Region`] (where a full bucket of live ids refuses, like a full local cache).
#[derive(Debug)]
pub enum ReplayCache {
    Local(LocalReplay),
    Shared {
        region: Arc<Region>,
        tag: u64,
        kind: Kind,
    },
}

/// Which shared table a cache lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Solved challenges: a full table refuses new answers.
    Solved,
    /// CSP reports: a full table only loses a bonus.
    Reports,
}

impl ReplayCache {
    /// Holds ids of challenges living up to `max_ttl_secs`, at most `max` of them.
    pub fn new(max_ttl_secs: u64, max: usize) -> Self {
        Self::Local(LocalReplay::new(max_ttl_secs, max))
    }

    /// The cache of `kind` in `region`, shared by every process attached to it.
    pub fn shared(region: Arc<Region>, kind: Kind) -> Self {
        Self::Shared {
            tag: region::tag(&format!("{kind:?}")),
            region,
            kind,
        }
    }

    fn table(region: &Region, kind: Kind) -> &crate::shared::slots::SlotTable {
        match kind {
            Kind::Solved => &region.replay,
            Kind::Reports => &region.reports,
        }
    }

    pub fn set_max(&self, max: usize) {
        if let Self::Local(l) = self {
            l.max.store(max, Ordering::Relaxed);
        }
    }

    /// Records `id` of a challenge expiring at `expires_secs` (which must be in the future and at
    /// most `max_ttl_secs` away) at `now_secs`.
    pub fn insert(&self, id: [u8; 16], expires_secs: u64, now_secs: u64) -> Insert {
        match self {
            Self::Local(l) => l.insert(id, expires_secs),
            Self::Shared { region, tag, kind } => {
                let k = slot_key(*tag, &id);
                Self::table(region, *kind)
                    .with_bucket(&k, |b| {
                        if b.find(&k).is_some() {
                            return Insert::Replayed;
                        }
                        let rank = move |v: &Values| v[0].saturating_sub(now_secs);
                        match b.insert(&k, &[expires_secs, 0, 0], Evict { rank, live: false }) {
                            Some(_) => Insert::New,
                            None => Insert::Full,
                        }
                    })
                    // A bucket stuck busy: the answer cannot be recorded, so it is not taken now.
                    .unwrap_or(Insert::Full)
            }
        }
    }

    /// Whether `id` (of a challenge expiring at `expires_secs`) is remembered.
    pub fn contains(&self, id: &[u8; 16], expires_secs: u64) -> bool {
        match self {
            Self::Local(l) => l.contains(id, expires_secs),
            Self::Shared { region, tag, kind } => {
                let k = slot_key(*tag, id);
                Self::table(region, *kind)
                    .with_bucket(&k, |b| b.find(&k).is_some())
                    .unwrap_or(false)
            }
        }
    }

    /// Forgets expired ids (a shared cache is swept a slice at a time by its region).
    pub fn sweep(&self, now_secs: u64) -> usize {
        match self {
            Self::Local(l) => l.sweep(now_secs),
            Self::Shared { .. } => 0,
        }
    }

    /// Ids remembered (in-process caches only).
    pub fn len(&self) -> usize {
        match self {
            Self::Local(l) => l.len.load(Ordering::Relaxed),
            Self::Shared { .. } => 0,
        }
    }
}

fn slot_key(tag: u64, id: &[u8; 16]) -> SlotKey {
    let word = |s: &[u8]| s.iter().fold(0u64, |w, &x| (w << 8) | u64::from(x));
    SlotKey {
        tag,
        hi: word(&id[..8]),
        lo: word(&id[8..]),
    }
}

/// The in-process cache: ids filed in buckets by expiry time.
#[derive(Debug)]
pub struct LocalReplay {
    buckets: Box<[Mutex<Bucket>]>,
    len: AtomicUsize,
    max: AtomicUsize,
}

impl LocalReplay {
    fn new(max_ttl_secs: u64, max: usize) -> Self {
        // Enough buckets that a bucket is reused only after every id in it has expired.
        let n = max_ttl_secs.div_ceil(BUCKET_SECS) + 2;
        Self {
            buckets: (0..n).map(|_| Mutex::new(Bucket::default())).collect(),
            len: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        }
    }

    fn insert(&self, id: [u8; 16], expires_secs: u64) -> Insert {
        let epoch = expires_secs / BUCKET_SECS;
        let i = (epoch % self.buckets.len() as u64) as usize;
        let mut b = self.buckets[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if b.epoch < epoch {
            // Every id in the bucket belongs to a challenge that has expired.
            self.len.fetch_sub(b.ids.len(), Ordering::Relaxed);
            b.ids.clear();
            b.epoch = epoch;
        } else if b.epoch > epoch {
            // Only an expired challenge could map here: refuse it.
            return Insert::Replayed;
        }
        if b.ids.contains(&id) {
            return Insert::Replayed;
        }
        if self.len.load(Ordering::Relaxed) >= self.max.load(Ordering::Relaxed) {
            return Insert::Full;
        }
        b.ids.insert(id);
        self.len.fetch_add(1, Ordering::Relaxed);
        Insert::New
    }

    fn contains(&self, id: &[u8; 16], expires_secs: u64) -> bool {
        let epoch = expires_secs / BUCKET_SECS;
        let i = (epoch % self.buckets.len() as u64) as usize;
        let b = self.buckets[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        b.epoch == epoch && b.ids.contains(id)
    }

    /// Empties buckets whose every id has expired by `now_secs`, so dead ids stop counting
    /// toward the cap. Returns how many ids were dropped.
    fn sweep(&self, now_secs: u64) -> usize {
        let mut dropped = 0;
        for b in self.buckets.iter() {
            let mut b = b.lock().unwrap_or_else(PoisonError::into_inner);
            if (b.epoch + 1) * BUCKET_SECS <= now_secs && !b.ids.is_empty() {
                dropped += b.ids.len();
                self.len.fetch_sub(b.ids.len(), Ordering::Relaxed);
                b.ids = HashSet::new();
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn each_id_is_accepted_once_even_concurrently() {
        let cache = Arc::new(ReplayCache::new(300, 1_000));
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|_| s.spawn(|| (cache.insert([9; 16], 1_000, 0) == Insert::New) as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
        assert_eq!(cache.insert([9; 16], 1_000, 0), Insert::Replayed);
    }

    #[test]
    fn full_cache_fails_closed_and_expired_buckets_are_reused() {
        let cache = ReplayCache::new(120, 2);
        assert_eq!(cache.insert([1; 16], 1_000, 0), Insert::New);
        assert_eq!(cache.insert([2; 16], 1_000, 0), Insert::New);
        assert_eq!(cache.insert([3; 16], 1_000, 0), Insert::Full);
        // Four buckets of 60 s: expiry 1 240 s reuses the bucket of 1 000 s, whose ids are dead.
        assert_eq!(cache.insert([3; 16], 1_000 + 4 * 60, 0), Insert::New);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.insert([4; 16], 1_000, 0), Insert::Replayed);
    }

    #[test]
    fn a_shared_cache_accepts_each_id_once_across_handles_and_reuses_dead_slots() {
        let (region, _) = Region::attach(
            crate::shared::region::tests::zone(Region::MIN_BYTES),
            [2, 2],
        )
        .unwrap();
        let region = Arc::new(region);
        let a = ReplayCache::shared(region.clone(), Kind::Solved);
        let b = ReplayCache::shared(region.clone(), Kind::Solved);
        let reports = ReplayCache::shared(region, Kind::Reports);
        assert_eq!(a.insert([1; 16], 1_000, 900), Insert::New);
        assert_eq!(b.insert([1; 16], 1_000, 900), Insert::Replayed);
        assert!(!reports.contains(&[1; 16], 1_000));
        // Fill far past one bucket with live ids: some bucket fills and refuses (fails closed)...
        let id = |i: u32| {
            let mut id = [7; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id
        };
        let full = (0..200_000u32).find(|&i| a.insert(id(i), 1_000, 900) == Insert::Full);
        let full = full.expect("a bucket of live ids refuses");
        // ...until the ids in it have expired: then their slots are taken again.
        assert_eq!(a.insert(id(full), 2_000, 1_500), Insert::New);
    }

    #[test]
    fn sweeping_frees_room_held_by_expired_ids() {
        let cache = ReplayCache::new(3_600, 2);
        assert_eq!(cache.insert([1; 16], 1_000, 0), Insert::New);
        assert_eq!(cache.insert([2; 16], 1_000, 0), Insert::New);
        assert_eq!(
            cache.sweep(1_000),
            0,
            "ids expiring in [960, 1020) may still be live at 1000"
        );
        assert_eq!(cache.sweep(1_020), 2);
        assert_eq!(cache.insert([3; 16], 1_300, 0), Insert::New);
    }
}
