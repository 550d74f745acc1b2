//! What this instance let through since the front end last looked, per limiter (or clearance
//! budget) and key: the counts the fleet adds to every other instance's, so a limit holds
//! across the fleet within one reconciliation's slack.
//!
//! Sharded like the stores, and bounded: past [`MAX_ENTRIES`] keys between two drains a count
//! is not shared (and is counted as such), which only widens the slack.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::request::ClientKey;

const SHARDS: usize = 16;
/// Most distinct (counter, key) pairs held between two drains.
pub const MAX_ENTRIES: usize = 65_536;

/// One count to share: `n` uses of `key` in counter `counter` (a limiter's store name, or
/// "usage" for clearance budgets, whose `base` says where the key's budget starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub counter: Arc<str>,
    pub key: ClientKey,
    pub n: u32,
    pub base: u64,
}

type Shard = HashMap<(Arc<str>, ClientKey), (u32, u64)>;

#[derive(Debug)]
pub(crate) struct Tally {
    on: AtomicBool,
    shards: Vec<Mutex<Shard>>,
    lost: AtomicU64,
    /// Requests and upstream errors the under-attack meter counted here since the last drain.
    requests: AtomicU64,
    errors: AtomicU64,
}

/// The fleet's names for the under-attack meter's counts (one count each, key all zeros).
pub const ATTACK_REQUESTS: &str = "attack:requests";
pub const ATTACK_ERRORS: &str = "attack:errors";

impl Default for Tally {
    fn default() -> Self {
        Self {
            on: AtomicBool::new(false),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            lost: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl Tally {
    pub fn enable(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Counts one use, when a fleet is listening.
    pub fn add(&self, counter: &Arc<str>, key: &ClientKey, base: u64) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        // The product's high bits are the well-mixed ones (as the stores pick their shards).
        let i = (key.mix() >> 60) as usize % SHARDS;
        let mut shard = self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(&(counter.clone(), *key)) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let e = shard.entry((counter.clone(), *key)).or_insert((0, base));
        e.0 = e.0.saturating_add(1);
    }

    /// One request the under-attack meter counted (`error`: an upstream error).
    pub fn metered(&self, error: bool) {
        if self.enabled() {
            let c = if error { &self.errors } else { &self.requests };
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every count since the last call.
    pub fn take(&self) -> Vec<Count> {
        let mut out = Vec::new();
        for (name, c) in [
            (ATTACK_REQUESTS, &self.requests),
            (ATTACK_ERRORS, &self.errors),
        ] {
            let n = c.swap(0, Ordering::Relaxed);
            if n > 0 {
                let key = ClientKey::from_bytes([0; 16]);
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                out.push(Count {
                    counter: Arc::from(name),
                    key,
                    n,
                    base: 0,
                });
            }
        }
        for s in &self.shards {
            let drained: Shard =
                std::mem::take(&mut *s.lock().unwrap_or_else(PoisonError::into_inner));
            out.extend(
                drained
                    .into_iter()
                    .map(|((counter, key), (n, base))| Count {
                        counter,
                        key,
                        n,
                        base,
                    }),
            );
        }
        out
    }

    /// Uses not shared because the tally was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_counter_and_key_and_the_tally_is_bounded() {
        let t = Tally::default();
        let name: Arc<str> = "default".into();
        let k = ClientKey::new("192.0.2.1".parse().unwrap(), 32, 64);
        t.add(&name, &k, 0);
        assert!(t.take().is_empty(), "off until a fleet listens");
        t.enable();
        for _ in 0..3 {
            t.add(&name, &k, 0);
        }
        assert_eq!(
            t.take(),
            [Count {
                counter: name.clone(),
                key: k,
                n: 3,
                base: 0
            }]
        );
        for i in 0..(MAX_ENTRIES as u32 * 2) {
            let k = ClientKey::new(std::net::Ipv4Addr::from(i).into(), 32, 64);
            t.add(&name, &k, 0);
        }
        let kept = t.take().len();
        assert!(kept <= MAX_ENTRIES && kept > MAX_ENTRIES / 2, "{kept}");
        assert_eq!(t.lost() as usize + kept, MAX_ENTRIES * 2);
    }
}
