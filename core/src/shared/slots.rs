//! A fixed-size hash table laid out in plain 64-bit words, for state shared between processes.
//!
//! nginx runs several worker processes; limits and bans are only exact if they all count in the
//! same table, which must then live in a shared-memory zone: no pointers, no allocator, no
//! process-local locks. This table is words only. It is set-associative: a key hashes to one
//! bucket of [`WAYS`] slots guarded by one spinlock word, and lives in that bucket or nowhere.
//! Memory is fixed when the zone is made, so a spray of fresh addresses can only evict (by the
//! caller's ranking) inside the buckets it lands in, never grow anything.
//!
//! A slot is `[tag, key_hi, key_lo, values…]`; tag 0 marks an empty slot, and tags keep several
//! logical maps (one per limiter, say) apart in one table. Bucket placement is keyed with a seed
//! chosen when the zone is formatted, so clients cannot aim their addresses at one bucket.
//!
//! The lock is held for a handful of loads and stores, with no allocation and nothing that can
//! panic. A waiter spins, then yields, for at most [`MAX_WAIT`]: an nginx worker is one thread
//! serving thousands of connections and must not sit in a yield loop. Past it the bucket is
//! reported busy and the caller fails closed for that one request (a limit reads as exceeded, a
//! ban check as banned for a second, an answer as not storable), counted in
//! [`lock_timeouts`]. A worker killed inside its section would leave the word set forever: the
//! word holds its holder's process id, and a waiter that finds that process gone (no
//! `/proc/<pid>`) takes the lock over. Release only clears the word if it still holds the
//! releaser's id, so a holder that was merely stalled does not unlock its successor.

use std::hint::spin_loop;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Slots per bucket.
pub const WAYS: usize = 8;
/// Words before the values in a slot: tag, key high, key low.
const KEY_WORDS: usize = 3;
/// Most value words a slot may carry.
pub const MAX_VALUES: usize = 3;
/// Spins with a CPU hint before yielding the thread.
const SPINS: u32 = 64;
/// Longest wait for a bucket's lock; far longer than any critical section (a handful of loads
/// and stores), short enough that a stuck holder costs a request, not a worker.
pub const MAX_WAIT: Duration = Duration::from_millis(50);
/// Times this process gave up waiting for a bucket lock (each failed one request closed).
static LOCK_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Bucket locks this process gave up on after [`MAX_WAIT`] since it started.
pub fn lock_timeouts() -> u64 {
    LOCK_TIMEOUTS.load(Ordering::Relaxed)
}

/// This process's lock word, once [`Region::process_started`](crate::Region::process_started)
/// has recorded it; 0 before. (`std::process::id` is a system call each time.)
static ME: AtomicU64 = AtomicU64::new(0);

/// Records this process's id for its lock words. Call it in each process after `fork`: a copy
/// inherited from the parent would name the parent.
pub(crate) fn process_started() {
    ME.store(u64::from(std::process::id()) | (1 << 32), Ordering::Relaxed);
}

/// The word naming this process as a lock's holder, never 0.
fn me() -> u64 {
    match ME.load(Ordering::Relaxed) {
        0 => u64::from(std::process::id()) | (1 << 32),
        cached => cached,
    }
}

/// A slot's key: which logical map (`tag`, non-zero) and which 128-bit key in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotKey {
    pub tag: u64,
    pub hi: u64,
    pub lo: u64,
}

/// The values of one slot, as read under its bucket's lock.
pub type Values = [u64; MAX_VALUES];

/// One table over `words`, which it owns exclusively (a caller carves a region into tables).
#[derive(Debug)]
pub struct SlotTable {
    words: &'static [AtomicU64],
    values: usize,
    buckets: usize,
    seed: [u64; 2],
}

/// What to do when a bucket has no empty slot for a new key: `rank` orders the occupants (0 means
/// "dead, free to take"); the lowest goes if it is dead, or if `live` allows evicting live keys.
#[derive(Clone, Copy, Debug)]
pub struct Evict<F> {
    pub rank: F,
    pub live: bool,
}

/// Where an insert landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    Empty,
    /// Over a slot whose values ranked 0.
    Dead,
    /// Over a live key.
    Evicted,
}

impl SlotTable {
    /// Words one bucket takes for slots carrying `values` value words.
    pub const fn bucket_words(values: usize) -> usize {
        1 + WAYS * (KEY_WORDS + values)
    }

    /// A table over as many whole buckets as fit in `words`; `None` when not even one does.
    /// `values` is clamped to 1..=[`MAX_VALUES`].
    pub fn new(words: &'static [AtomicU64], values: usize, seed: [u64; 2]) -> Option<Self> {
        let values = values.clamp(1, MAX_VALUES);
        let buckets = words.len() / Self::bucket_words(values);
        (buckets > 0).then(|| Self {
            words: &words[..buckets * Self::bucket_words(values)],
            values,
            buckets,
            seed,
        })
    }

    /// Slots in the table.
    pub fn capacity(&self) -> usize {
        self.buckets * WAYS
    }

    pub fn buckets(&self) -> usize {
        self.buckets
    }

    fn bucket_of(&self, key: &SlotKey) -> usize {
        let mut h = self.seed[0] ^ key.tag.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h = (h ^ key.hi).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
        h = (h ^ key.lo ^ self.seed[1]).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 29;
        ((u128::from(h) * self.buckets as u128) >> 64) as usize
    }

    /// Runs `f` on the bucket `key` belongs to, under its lock; `None` when the lock stayed
    /// taken for [`MAX_WAIT`] (the caller fails closed).
    pub fn with_bucket<R>(&self, key: &SlotKey, f: impl FnOnce(&Bucket<'_>) -> R) -> Option<R> {
        self.locked(self.bucket_of(key), f)
    }

    /// Runs `f` on bucket `i` (`i < buckets()`) under its lock; `None` as for `with_bucket`.
    pub fn locked<R>(&self, i: usize, f: impl FnOnce(&Bucket<'_>) -> R) -> Option<R> {
        self.lock_bucket(i).map(|b| f(&b.bucket))
    }

    /// The bucket `key` belongs to, locked until the result is dropped; `None` when busy.
    pub fn try_bucket(&self, key: &SlotKey) -> Option<Locked<'_>> {
        self.lock_bucket(self.bucket_of(key))
    }

    fn lock_bucket(&self, i: usize) -> Option<Locked<'_>> {
        let width = Self::bucket_words(self.values);
        let words = &self.words[i * width..(i + 1) * width];
        let guard = SpinGuard::try_lock(&words[0])?;
        Some(Locked {
            bucket: Bucket {
                slots: &words[1..],
                values: self.values,
            },
            _guard: guard,
        })
    }
}

/// A bucket under its lock (released on drop).
pub struct Locked<'a> {
    bucket: Bucket<'a>,
    _guard: SpinGuard<'a>,
}

impl<'a> std::ops::Deref for Locked<'a> {
    type Target = Bucket<'a>;

    fn deref(&self) -> &Bucket<'a> {
        &self.bucket
    }
}

/// One locked bucket.
pub struct Bucket<'a> {
    slots: &'a [AtomicU64],
    values: usize,
}

impl Bucket<'_> {
    fn slot(&self, i: usize) -> &[AtomicU64] {
        let w = KEY_WORDS + self.values;
        &self.slots[i * w..(i + 1) * w]
    }

    fn load(word: &AtomicU64) -> u64 {
        word.load(Ordering::Relaxed)
    }

    /// The slot holding `key`.
    pub fn find(&self, key: &SlotKey) -> Option<usize> {
        (0..WAYS).find(|&i| {
            let s = self.slot(i);
            Self::load(&s[0]) == key.tag
                && Self::load(&s[1]) == key.hi
                && Self::load(&s[2]) == key.lo
        })
    }

    /// The values of slot `i`.
    pub fn values(&self, i: usize) -> Values {
        let s = self.slot(i);
        let mut out = [0; MAX_VALUES];
        for (o, w) in out.iter_mut().zip(&s[KEY_WORDS..]) {
            *o = Self::load(w);
        }
        out
    }

    /// The key in slot `i`, `None` when it is empty.
    pub fn key(&self, i: usize) -> Option<SlotKey> {
        let s = self.slot(i);
        let tag = Self::load(&s[0]);
        (tag != 0).then(|| SlotKey {
            tag,
            hi: Self::load(&s[1]),
            lo: Self::load(&s[2]),
        })
    }

    /// Replaces the values of slot `i`.
    pub fn set(&self, i: usize, values: &Values) {
        for (w, v) in self.slot(i)[KEY_WORDS..].iter().zip(values) {
            w.store(*v, Ordering::Relaxed);
        }
    }

    /// Empties slot `i`.
    pub fn clear(&self, i: usize) {
        for w in self.slot(i) {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Puts `key` with `values` in an empty slot, else in the lowest-ranked one as `evict`
    /// allows. `None` when the bucket is full and nothing may go.
    pub fn insert<F: Fn(&Values) -> u64>(
        &self,
        key: &SlotKey,
        values: &Values,
        evict: Evict<F>,
    ) -> Option<Placed> {
        let (i, placed) = match (0..WAYS).find(|&i| self.key(i).is_none()) {
            Some(i) => (i, Placed::Empty),
            None => {
                let (i, r) = (0..WAYS)
                    .map(|i| (i, (evict.rank)(&self.values(i))))
                    .min_by_key(|&(_, r)| r)?;
                match r {
                    0 => (i, Placed::Dead),
                    _ if evict.live => (i, Placed::Evicted),
                    _ => return None,
                }
            }
        };
        let s = self.slot(i);
        s[0].store(key.tag, Ordering::Relaxed);
        s[1].store(key.hi, Ordering::Relaxed);
        s[2].store(key.lo, Ordering::Relaxed);
        self.set(i, values);
        Some(placed)
    }

    /// Empties every occupied slot whose values `dead` says carry nothing; returns how many.
    pub fn purge(&self, dead: impl Fn(&SlotKey, &Values) -> bool) -> usize {
        let mut n = 0;
        for i in 0..WAYS {
            if let Some(k) = self.key(i) {
                if dead(&k, &self.values(i)) {
                    self.clear(i);
                    n += 1;
                }
            }
        }
        n
    }
}

/// Holds a bucket's lock word (set to this process's id); releases it when dropped.
pub(crate) struct SpinGuard<'a> {
    word: &'a AtomicU64,
    me: u64,
}

impl<'a> SpinGuard<'a> {
    /// Takes `word`, waiting at most [`MAX_WAIT`]; `None` (counted) if it stayed taken.
    pub(crate) fn try_lock(word: &'a AtomicU64) -> Option<Self> {
        // The process id, never 0: names the holder across processes sharing the word.
        let me = me();
        let mut tries: u32 = 0;
        let mut since = None;
        loop {
            let seen = match word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(Self { word, me }),
                Err(seen) => seen,
            };
            tries = tries.wrapping_add(1);
            if tries < SPINS {
                spin_loop();
                continue;
            }
            if tries % SPINS == 0 {
                let stolen = holder_gone(seen)
                    && word
                        .compare_exchange(seen, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok();
                if stolen {
                    return Some(Self { word, me });
                }
                if since.get_or_insert_with(Instant::now).elapsed() > MAX_WAIT {
                    LOCK_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
            std::thread::yield_now();
        }
    }
}

/// Whether the process named in a lock word no longer exists (it died inside its section).
fn holder_gone(word: u64) -> bool {
    let pid = word as u32;
    word != me() && Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        // Only our own hold: if ours was taken over, the new holder's stays.
        let _ = self
            .word
            .compare_exchange(self.me, 0, Ordering::Release, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
