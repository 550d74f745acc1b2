//! Bans for extreme clients, with escalating TTLs.
//!
//! A client key that crosses an extreme threshold is refused outright for a TTL. Repeat offences
//! within `forget_after_secs` multiply the TTL by `escalation_factor`, up to `max_ttl_secs`. The
//! table is bounded (`max_bans`); when full, expired records go first, then the ban closest to
//! expiry. Records are plain data so a front end can persist them across restarts.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use hashbrown::DefaultHashBuilder;

use crate::clock::NS_PER_SEC;
use crate::decision::Reason;
use crate::key::ClientKey;

/// How bans are timed and bounded (from the `[bans]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanPolicy {
    pub ttl_secs: u64,
    pub max_ttl_secs: u64,
    pub escalation_factor: u32,
    pub forget_after_secs: u64,
    pub max_bans: usize,
}

/// One client's ban history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanRecord {
    pub key: ClientKey,
    pub until_ns: u64,
    pub offences: u32,
    pub last_offence_ns: u64,
    pub reason: Reason,
}

impl BanRecord {
    pub fn until_unix_secs(&self) -> u64 {
        self.until_ns.div_ceil(NS_PER_SEC)
    }

    /// When this client last mattered: the end of its ban, or its last offence if later.
    /// Offences are forgotten `forget_after_secs` after this, so a long ban does not expire
    /// straight into a clean record.
    pub fn last_seen_ns(&self) -> u64 {
        self.until_ns.max(self.last_offence_ns)
    }
}

/// Concurrent, bounded table of bans keyed by client. Hashing is foldhash with a random seed
/// (fast, and not predictable by clients choosing addresses).
#[derive(Debug, Default)]
pub struct BanTable {
    map: DashMap<ClientKey, BanRecord, DefaultHashBuilder>,
    max: AtomicUsize,
    /// Records held; lets the common case (no bans at all) skip the map on every request.
    records: AtomicUsize,
}

impl BanTable {
    pub fn new(max_bans: usize) -> Self {
        Self {
            map: DashMap::default(),
            max: AtomicUsize::new(max_bans.max(1)),
            records: AtomicUsize::new(0),
        }
    }

    pub fn set_max(&self, max_bans: usize) {
        self.max.store(max_bans.max(1), Ordering::Relaxed);
    }

    /// The ban in force for `key` at `now_ns`, if any.
    pub fn active(&self, key: &ClientKey, now_ns: u64) -> Option<BanRecord> {
        if self.records.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let rec = self.map.get(key)?;
        (rec.until_ns > now_ns).then(|| rec.clone())
    }

    /// Bans `key` (or extends its ban) and returns the record. The TTL escalates with offences
    /// remembered within the policy's `forget_after_secs`.
    pub fn ban(
        &self,
        key: ClientKey,
        now_ns: u64,
        reason: Reason,
        policy: &BanPolicy,
    ) -> BanRecord {
        if !self.map.contains_key(&key) && self.map.len() >= self.max.load(Ordering::Relaxed) {
            self.make_room(now_ns, policy);
        }
        let forget_ns = policy.forget_after_secs.saturating_mul(NS_PER_SEC);
        let mut entry = self.map.entry(key).or_insert(BanRecord {
            key,
            until_ns: 0,
            offences: 0,
            last_offence_ns: 0,
            reason,
        });
        let rec = entry.value_mut();
        if rec.until_ns > now_ns {
            return rec.clone(); // racing threads banned it already: one offence, not two
        }
        if now_ns.saturating_sub(rec.last_seen_ns()) > forget_ns {
            rec.offences = 0;
        }
        rec.offences = rec.offences.saturating_add(1);
        rec.last_offence_ns = now_ns;
        rec.reason = reason;
        rec.until_ns = now_ns.saturating_add(ttl_ns(policy, rec.offences));
        let out = rec.clone();
        drop(entry);
        self.recount();
        out
    }

    /// Refreshes the record count after a change (bans change rarely; reads are per request).
    fn recount(&self) {
        self.records.store(self.map.len(), Ordering::Relaxed);
    }

    /// Lifts the ban on `key` (its offence count is kept). Returns whether a ban was in force.
    pub fn unban(&self, key: &ClientKey, now_ns: u64) -> bool {
        match self.map.get_mut(key) {
            Some(mut rec) if rec.until_ns > now_ns => {
                rec.until_ns = now_ns;
                true
            }
            _ => false,
        }
    }

    /// Drops records whose ban has expired and whose offences are forgotten.
    pub fn sweep(&self, now_ns: u64, policy: &BanPolicy) -> usize {
        let before = self.map.len();
        let forget_ns = policy.forget_after_secs.saturating_mul(NS_PER_SEC);
        self.map
            .retain(|_, rec| now_ns.saturating_sub(rec.last_seen_ns()) <= forget_ns);
        before.saturating_sub(self.map.len())
    }

    /// Bans in force now.
    pub fn active_list(&self, now_ns: u64) -> Vec<BanRecord> {
        let mut out: Vec<BanRecord> = self
            .map
            .iter()
            .filter(|r| r.until_ns > now_ns)
            .map(|r| r.clone())
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.until_ns));
        out
    }

    /// Every record, for persistence.
    pub fn snapshot(&self) -> Vec<BanRecord> {
        self.map.iter().map(|r| r.clone()).collect()
    }

    /// Loads persisted records (up to the table's bound); a record already present keeps the
    /// later expiry.
    pub fn restore(&self, records: impl IntoIterator<Item = BanRecord>) {
        for rec in records {
            if self.map.len() >= self.max.load(Ordering::Relaxed)
                && !self.map.contains_key(&rec.key)
            {
                continue;
            }
            let mut entry = self.map.entry(rec.key).or_insert(rec.clone());
            if rec.until_ns > entry.until_ns {
                *entry = rec;
            }
        }
        self.recount();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn make_room(&self, now_ns: u64, policy: &BanPolicy) {
        self.sweep(now_ns, policy);
        self.map.retain(|_, rec| rec.until_ns > now_ns);
        if self.map.len() < self.max.load(Ordering::Relaxed) {
            return;
        }
        let soonest = self.map.iter().min_by_key(|r| r.until_ns).map(|r| *r.key());
        if let Some(key) = soonest {
            self.map.remove(&key);
        }
    }
}

fn ttl_ns(policy: &BanPolicy, offences: u32) -> u64 {
    let factor = u64::from(policy.escalation_factor.max(1));
    let mut ttl = policy.ttl_secs;
    for _ in 1..offences.min(64) {
        ttl = ttl.saturating_mul(factor);
        if ttl >= policy.max_ttl_secs {
            break;
        }
    }
    ttl.min(policy.max_ttl_secs).saturating_mul(NS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BanPolicy {
        BanPolicy {
            ttl_secs: 60,
            max_ttl_secs: 300,
            escalation_factor: 2,
            forget_after_secs: 3_600,
            max_bans: 3,
        }
    }

    fn key(s: &str) -> ClientKey {
        ClientKey::new(s.parse().unwrap(), 32, 64)
    }

    #[test]
    fn escalates_up_to_the_maximum_and_forgets() {
        let t = BanTable::new(10);
        let k = key("192.0.2.1");
        let mut now = 0;
        let mut ttls = Vec::new();
        for _ in 0..5 {
            let rec = t.ban(k, now, Reason::ExtremeRate, &policy());
            ttls.push((rec.until_ns - now) / NS_PER_SEC);
            now = rec.until_ns;
        }
        assert_eq!(ttls, [60, 120, 240, 300, 300]);
        now += 3_601 * NS_PER_SEC;
        let rec = t.ban(k, now, Reason::ExtremeRate, &policy());
        assert_eq!(rec.offences, 1);
    }

    #[test]
    fn a_ban_longer_than_the_forget_window_still_escalates() {
        // forget_after (3600 s) shorter than the ban (7200 s): counting from the ban's end, the
        // next offence soon after expiry is the second, not a fresh first.
        let p = BanPolicy {
            ttl_secs: 7_200,
            max_ttl_secs: 100_000,
            ..policy()
        };
        let t = BanTable::new(10);
        let k = key("192.0.2.9");
        let first = t.ban(k, 0, Reason::ExtremeRate, &p);
        assert_eq!(
            t.sweep(first.until_ns + NS_PER_SEC, &p),
            0,
            "record swept at expiry"
        );
        let second = t.ban(k, first.until_ns + 10 * NS_PER_SEC, Reason::ExtremeRate, &p);
        assert_eq!(second.offences, 2);
        assert_eq!(
            (second.until_ns - second.last_offence_ns) / NS_PER_SEC,
            14_400
        );
    }

    #[test]
    fn active_only_until_expiry_and_unban_lifts() {
        let t = BanTable::new(10);
        let k = key("192.0.2.1");
        t.ban(k, 0, Reason::ExtremeRate, &policy());
        assert!(t.active(&k, 59 * NS_PER_SEC).is_some());
        assert!(t.active(&k, 60 * NS_PER_SEC).is_none());
        t.ban(k, 100 * NS_PER_SEC, Reason::Manual, &policy());
        assert!(t.unban(&k, 101 * NS_PER_SEC));
        assert!(t.active(&k, 101 * NS_PER_SEC).is_none());
    }

    #[test]
    fn bounded_and_evicts_the_soonest_expiry() {
        let t = BanTable::new(3);
        for (i, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
            .iter()
            .enumerate()
        {
            t.ban(
                key(ip),
                i as u64 * NS_PER_SEC,
                Reason::ExtremeRate,
                &policy(),
            );
        }
        assert_eq!(t.len(), 3);
        assert!(t.active(&key("192.0.2.1"), 5 * NS_PER_SEC).is_none());
        assert!(t.active(&key("192.0.2.4"), 5 * NS_PER_SEC).is_some());
    }

    #[test]
    fn snapshot_restores() {
        let t = BanTable::new(10);
        t.ban(key("192.0.2.1"), 0, Reason::ExtremeRate, &policy());
        let u = BanTable::new(10);
        u.restore(t.snapshot());
        assert_eq!(u.active_list(1).len(), 1);
    }
}
