//! One shard of the in-process store: an open-addressing table with keys and values inline.
//!
//! hashbrown finds a key through its control bytes and then the entry: two places in memory,
//! so two cache misses once the table is far larger than the cache (1M clients). Here a lookup
//! reads the slot the key's hash points at and the few after it (linear probing): one cache
//! line, or two adjacent ones. The table is at most three quarters full, so a probe sequence
//! stays short.
//!
//! A slot holds `N` values for its key ("lanes": two limiters that count every request, kept
//! side by side, cost one lookup). A value of 0 is an absent one. Every value stored is a
//! deadline in nanoseconds, and a deadline of 0 is long past, the same as no entry: a slot whose
//! lanes are all 0 is empty.
//!
//! Keys are placed by a hash seeded at random per store (hashbrown's foldhash): clients pick
//! their addresses, and a fixed hash would let them pick addresses that all land in one probe
//! run.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

use crate::request::key::ClientKey;

/// Bits of the key's hash the store spends choosing a shard (the top ones); the table's index
/// comes from the bits below them.
pub(super) const SHARD_BITS: u32 = 6;

const MIN_SLOTS: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Slot<const N: usize> {
    hi: u64,
    lo: u64,
    values: [u64; N],
}

impl<const N: usize> Slot<N> {
    const EMPTY: Self = Self {
        hi: 0,
        lo: 0,
        values: [0; N],
    };

    fn holds(&self, hi: u64, lo: u64) -> bool {
        self.hi == hi && self.lo == lo
    }

    fn is_empty(&self) -> bool {
        self.values.iter().all(|&v| v == 0)
    }
}

/// Where a key is, or where it would go.
enum Probe {
    Found(usize),
    Vacant(usize),
}

/// A present key's slot.
pub(super) struct Entry<'a, const N: usize> {
    table: &'a mut Table<N>,
    i: usize,
}

impl<const N: usize> Entry<'_, N> {
    /// The lane's value, 0 if it has none.
    pub fn value(&self, lane: usize) -> u64 {
        self.table.slots[self.i].values[lane]
    }

    /// Replaces one lane's value; a slot left with no value is removed.
    pub fn set(self, lane: usize, value: u64) {
        let slot = &mut self.table.slots[self.i];
        slot.values[lane] = value;
        if slot.is_empty() {
            self.table.remove_at(self.i);
        }
    }
}

/// Client key → `N` values, linear probing, no tombstones (removal shifts entries back).
#[derive(Debug)]
pub(super) struct Table<const N: usize> {
    slots: Vec<Slot<N>>,
    len: usize,
    hasher: DefaultHashBuilder,
}

impl<const N: usize> Default for Table<N> {
    fn default() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }
}

/// Where `hasher` places `key`: its top [`SHARD_BITS`] choose the shard, the bits below them
/// the slot.
pub(super) fn hash(hasher: &DefaultHashBuilder, key: &ClientKey) -> u64 {
    hasher.hash_one(key)
}

impl<const N: usize> Table<N> {
    /// An empty table placing keys with `hasher` (its store's, shared by every shard).
    pub fn with_hasher(hasher: DefaultHashBuilder) -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            hasher,
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated: what the table costs in memory, 16 + 8 × `N` bytes each.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The lane's value for `key`, if it has one.
    pub fn get(&self, key: &ClientKey, lane: usize) -> Option<u64> {
        match self.probe(key) {
            Some(Probe::Found(i)) => Some(self.slots[i].values[lane]).filter(|&v| v != 0),
            _ => None,
        }
    }

    /// The slot holding `key`, to read and replace in one probe; `None` if absent.
    pub fn entry(&mut self, key: &ClientKey) -> Option<Entry<'_, N>> {
        match self.probe(key) {
            Some(Probe::Found(i)) => Some(Entry { table: self, i }),
            _ => None,
        }
    }

    /// Stores `value` in `key`'s lane (0 clears it), growing the table when it would pass
    /// 3/4 full.
    pub fn insert(&mut self, key: &ClientKey, lane: usize, value: u64) {
        if let Some(e) = self.entry(key) {
            return e.set(lane, value);
        }
        if value == 0 {
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.slots.len() * 2).max(MIN_SLOTS), |_| true);
        }
        if let Some(Probe::Vacant(i)) = self.probe(key) {
            let (hi, lo) = key.words();
            let mut values = [0; N];
            values[lane] = value;
            self.slots[i] = Slot { hi, lo, values };
            self.len += 1;
        }
    }

    /// Keeps the keys whose values pass `keep`; shrinks the table when it is mostly empty.
    pub fn retain(&mut self, keep: impl Fn(&[u64; N]) -> bool) {
        let kept = self
            .slots
            .iter()
            .filter(|s| !s.is_empty() && keep(&s.values));
        let kept = kept.count();
        let mut size = self.slots.len();
        while size > MIN_SLOTS && size > 4 * kept.max(MIN_SLOTS) {
            size /= 2;
        }
        if kept < self.len || size < self.slots.len() {
            self.rebuild(size, keep);
        }
    }

    /// The values of every key held.
    pub fn values(&self) -> impl Iterator<Item = &[u64; N]> + '_ {
        self.slots
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| &s.values)
    }

    /// The key's slot or the empty slot its probe ends at; `None` only for an unallocated table.
    fn probe(&self, key: &ClientKey) -> Option<Probe> {
        if self.slots.is_empty() {
            return None;
        }
        let (hi, lo) = key.words();
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash(&self.hasher, key));
        // At most 3/4 full, so an empty slot ends every probe.
        loop {
            let s = &self.slots[i];
            if s.is_empty() {
                return Some(Probe::Vacant(i));
            }
            if s.holds(hi, lo) {
                return Some(Probe::Found(i));
            }
            i = (i + 1) & mask;
        }
    }

    /// The first slot a hash probes: the bits just below the shard's.
    fn home(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        ((hash << SHARD_BITS) >> (64 - bits)) as usize
    }

    fn home_of(&self, s: &Slot<N>) -> usize {
        self.home(hash(&self.hasher, &ClientKey::from_words(s.hi, s.lo)))
    }

    /// Empties slot `i`, moving later entries of the same probe run back so no probe ends early.
    fn remove_at(&mut self, mut i: usize) {
        let mask = self.slots.len() - 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.is_empty() {
                break;
            }
            // The entry at j may fill the hole at i unless its home lies after i (up to j).
            let home = self.home_of(&s);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(i) & mask) {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = Slot::EMPTY;
        self.len -= 1;
    }

    /// Moves the entries that pass `keep` into a fresh table of `size` slots (a power of two).
    fn rebuild(&mut self, size: usize, keep: impl Fn(&[u64; N]) -> bool) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::EMPTY; size]);
        self.len = 0;
        let mask = size - 1;
        for s in old.into_iter().filter(|s| !s.is_empty() && keep(&s.values)) {
            let mut i = self.home_of(&s);
            while !self.slots[i].is_empty() {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(i: u32) -> ClientKey {
        ClientKey::new(IpAddr::V4(Ipv4Addr::from(i)), 32, 64)
    }

    /// A reference map and the table, driven by the same pseudo-random sets and clears, agree
    /// on every key and lane after every step. The keys are scattered addresses: consecutive
    /// ones hash evenly apart and would never share a probe run.
    #[test]
    fn agrees_with_a_hash_map_through_sets_clears_and_sweeps() {
        let mut t = Table::<2>::default();
        let mut m: HashMap<ClientKey, [u64; 2]> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pool: Vec<ClientKey> = (0..3_000).map(|_| key(next() as u32)).collect();
        for step in 0..60_000u32 {
            let x = next();
            let (k, lane) = (pool[(x % 3_000) as usize], (x >> 20) as usize % 2);
            let v = match (x >> 32) % 5 {
                0 => 0,
                _ => x >> 40,
            };
            let present = m.contains_key(&k);
            if step % 3 == 0 {
                assert_eq!(t.entry(&k).map(|e| e.set(lane, v)).is_some(), present);
            } else {
                t.insert(&k, lane, v);
            }
            if present || step % 3 != 0 {
                m.entry(k).or_default()[lane] = v;
            }
            m.retain(|_, v| v.iter().any(|&v| v != 0));
            if step % 997 == 0 {
                let keep = |v: &[u64; 2]| v.iter().any(|v| v % 7 != 0);
                t.retain(keep);
                m.retain(|_, v| keep(v));
            }
            assert_eq!(t.len(), m.len(), "step {step}");
        }
        for k in &pool {
            for lane in 0..2 {
                let want = m.get(k).map(|v| v[lane]).filter(|&v| v != 0);
                assert_eq!(t.get(k, lane), want, "{k:?} lane {lane}");
            }
        }
        assert_eq!(t.values().count(), m.len());
    }

    #[test]
    fn stays_at_most_three_quarters_full_and_shrinks_when_emptied() {
        let mut t = Table::<1>::default();
        for i in 0..10_000 {
            t.insert(&key(i), 0, u64::from(i) + 1);
            assert!(t.len() * 4 <= t.capacity() * 3);
        }
        assert_eq!(t.capacity(), 16_384);
        t.retain(|v| v[0] <= 100);
        assert_eq!(t.len(), 100);
        assert!(t.capacity() <= 512, "capacity {}", t.capacity());
        assert_eq!(t.get(&key(99), 0), Some(100));
        assert_eq!(t.get(&key(100), 0), None);
    }
}
