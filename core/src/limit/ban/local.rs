//! The in-process ban table: records in a DashMap (hashed with foldhash and a random seed:
//! fast, and not predictable by clients choosing addresses) for the per-request read, and an
//! ordered index by when each record last mattered, for the rare writes.
//!
//! The index makes both bounds cheap. A full table gives up one record, the one that mattered
//! longest ago, in O(log n), never the whole offence history; the sweep pops forgotten records
//! off the front of the index instead of scanning the map. Writers take the index lock, then a
//! map entry, always in that order.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use dashmap::DashMap;
use hashbrown::DefaultHashBuilder;

use super::{forgotten, offend, BanPolicy, BanRecord};
use crate::request::key::ClientKey;
use crate::verdict::Reason;

#[derive(Debug, Default)]
pub struct LocalBans {
    map: DashMap<ClientKey, BanRecord, DefaultHashBuilder>,
    /// `(last_seen_ns, key)` of every record in `map`.
    order: Mutex<BTreeSet<(u64, ClientKey)>>,
    max: AtomicUsize,
    /// Records held; lets the common case (no bans at all) skip the map on every request.
    records: AtomicUsize,
}

impl LocalBans {
    pub(super) fn new(max_bans: usize) -> Self {
        Self {
            max: AtomicUsize::new(max_bans.max(1)),
            ..Self::default()
        }
    }

    pub(super) fn set_max(&self, max_bans: usize) {
        self.max.store(max_bans.max(1), Ordering::Relaxed);
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn get(&self, key: &ClientKey) -> Option<BanRecord> {
        if self.records.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.map.get(key).map(|r| r.clone())
    }

    pub(super) fn snapshot(&self) -> Vec<BanRecord> {
        self.map.iter().map(|r| r.clone()).collect()
    }

    pub(super) fn ban(
        &self,
        key: ClientKey,
        now_ns: u64,
        reason: Reason,
        policy: &BanPolicy,
    ) -> BanRecord {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.map.contains_key(&key) {
            self.make_room(&mut order);
        }
        let out = self.change(&mut order, key, BanRecord::empty(key, reason), |rec| {
            offend(rec, now_ns, reason, policy);
        });
        drop(order);
        self.recount();
        out
    }

    /// Applies `f` to the record of `key` if there is one.
    pub(super) fn modify<R>(
        &self,
        key: &ClientKey,
        f: impl FnOnce(&mut BanRecord) -> R,
    ) -> Option<R> {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rec = self.map.get_mut(key)?;
        order.remove(&(rec.last_seen_ns(), *key));
        let out = f(&mut rec);
        order.insert((rec.last_seen_ns(), *key));
        Some(out)
    }

    /// Refreshes the record count after a change (bans change rarely; reads are per request).
    pub(super) fn recount(&self) {
        self.records.store(self.map.len(), Ordering::Relaxed);
    }

    /// Drops forgotten records: those at the front of the index, however many there are.
    pub(super) fn sweep(&self, now_ns: u64, policy: &BanPolicy) -> usize {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dropped = 0;
        while let Some(&(seen, key)) = order.first() {
            let probe = BanRecord {
                until_ns: seen,
                ..BanRecord::empty(key, Reason::ActiveBan)
            };
            if !forgotten(&probe, now_ns, policy) {
                break;
            }
            order.pop_first();
            self.map.remove(&key);
            dropped += 1;
        }
        drop(order);
        self.recount();
        dropped
    }

    /// A persisted record; one already present keeps the later expiry. Past the bound, the
    /// record that mattered longest ago makes room, as for a new ban.
    pub(super) fn restore(&self, rec: BanRecord) {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.map.contains_key(&rec.key) {
            self.make_room(&mut order);
        }
        let key = rec.key;
        self.change(&mut order, key, rec.clone(), |cur| {
            if rec.until_ns > cur.until_ns {
                *cur = rec;
            }
        });
    }

    /// Writes the record of `key` (`fresh` if absent) through `f`, keeping the index in step.
    fn change(
        &self,
        order: &mut BTreeSet<(u64, ClientKey)>,
        key: ClientKey,
        fresh: BanRecord,
        f: impl FnOnce(&mut BanRecord),
    ) -> BanRecord {
        let mut entry = self.map.entry(key).or_insert(fresh);
        order.remove(&(entry.last_seen_ns(), key));
        f(entry.value_mut());
        order.insert((entry.last_seen_ns(), key));
        entry.value().clone()
    }

    /// Below the bound, nothing; at it, one record goes: the one that mattered longest ago.
    fn make_room(&self, order: &mut BTreeSet<(u64, ClientKey)>) {
        while self.map.len() >= self.max.load(Ordering::Relaxed) {
            let Some((_, key)) = order.pop_first() else {
                return;
            };
            self.map.remove(&key);
        }
    }
}
