//! Bans for extreme clients, with escalating TTLs.
//!
//! A client key that crosses an extreme threshold is refused outright for a TTL. Repeat offences
//! within `forget_after_secs` multiply the TTL by `escalation_factor`, up to `max_ttl_secs`. The
//! table is bounded (`max_bans`); when full, one record makes room: the one that mattered
//! longest ago (an expired record with the oldest offence, else the ban closest to expiry).
//! Records are plain data so a front end can persist them across restarts.

use std::sync::Arc;

use crate::clock::NS_PER_SEC;
use crate::request::key::ClientKey;
use crate::shared::region::Region;
use crate::verdict::Reason;

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
    fn empty(key: ClientKey, reason: Reason) -> Self {
        Self {
            key,
            until_ns: 0,
            offences: 0,
            last_offence_ns: 0,
            reason,
        }
    }

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

/// Bounded table of bans keyed by client: in-process, or in a shared-memory [`Region`] that
/// every worker process sees.
#[derive(Debug)]
pub enum BanTable {
    Local(LocalBans),
    Shared(Arc<Region>),
}

impl Default for BanTable {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl BanTable {
    pub fn new(max_bans: usize) -> Self {
        Self::Local(LocalBans::new(max_bans))
    }

    /// The ban table of `region` (bounded by the zone's size).
    pub fn shared(region: Arc<Region>) -> Self {
        Self::Shared(region)
    }

    pub fn set_max(&self, max_bans: usize) {
        if let Self::Local(l) = self {
            l.set_max(max_bans);
        }
    }

    /// The ban in force for `key` at `now_ns`, if any.
    pub fn active(&self, key: &ClientKey, now_ns: u64) -> Option<BanRecord> {
        let rec = match self {
            Self::Local(l) => l.get(key)?,
            Self::Shared(r) => shared::get(r, key, now_ns)?,
        };
        (rec.until_ns > now_ns).then_some(rec)
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
        match self {
            Self::Local(l) => l.ban(key, now_ns, reason, policy),
            Self::Shared(r) => shared::update(r, key, now_ns, |rec| {
                offend(rec, now_ns, reason, policy);
            }),
        }
    }

    /// Lifts the ban on `key` (its offence count is kept). Returns whether a ban was in force.
    pub fn unban(&self, key: &ClientKey, now_ns: u64) -> bool {
        let lift = |rec: &mut BanRecord| {
            let active = rec.until_ns > now_ns;
            if active {
                rec.until_ns = now_ns;
            }
            active
        };
        match self {
            Self::Local(l) => l.modify(key, lift).unwrap_or(false),
            Self::Shared(r) => shared::modify(r, key, lift).unwrap_or(false),
        }
    }

    /// Drops records whose ban has expired and whose offences are forgotten. (A shared table
    /// is swept a slice at a time by its region.)
    pub fn sweep(&self, now_ns: u64, policy: &BanPolicy) -> usize {
        match self {
            Self::Local(l) => l.sweep(now_ns, policy),
            Self::Shared(_) => 0,
        }
    }

    /// Bans in force now, longest first.
    pub fn active_list(&self, now_ns: u64) -> Vec<BanRecord> {
        let mut out = self.snapshot();
        out.retain(|r| r.until_ns > now_ns);
        out.sort_by_key(|r| std::cmp::Reverse(r.until_ns));
        out
    }

    /// Every record, for persistence.
    pub fn snapshot(&self) -> Vec<BanRecord> {
        match self {
            Self::Local(l) => l.snapshot(),
            Self::Shared(r) => shared::all(r),
        }
    }

    /// Loads persisted records (up to the table's bound); a record already present keeps the
    /// later expiry.
    pub fn restore(&self, records: impl IntoIterator<Item = BanRecord>) {
        for rec in records {
            match self {
                Self::Local(l) => l.restore(rec),
                Self::Shared(r) => {
                    shared::update(r, rec.key, rec.until_ns, |cur| {
                        if rec.until_ns > cur.until_ns {
                            *cur = rec.clone();
                        }
                    });
                }
            }
        }
        if let Self::Local(l) = self {
            l.recount();
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Local(l) => l.len(),
            Self::Shared(r) => r.stats().bans_used as usize,
        }
    }
}

/// One offence at `now_ns`: extends the ban unless one is in force (racing requests count once).
/// Offences older than `forget_after_secs` past the last ban are forgotten first.
fn offend(rec: &mut BanRecord, now_ns: u64, reason: Reason, policy: &BanPolicy) {
    if rec.until_ns > now_ns {
        return;
    }
    let forget_ns = policy.forget_after_secs.saturating_mul(NS_PER_SEC);
    if now_ns.saturating_sub(rec.last_seen_ns()) > forget_ns {
        rec.offences = 0;
    }
    rec.offences = rec.offences.saturating_add(1);
    rec.last_offence_ns = now_ns;
    rec.reason = reason;
    rec.until_ns = now_ns.saturating_add(ttl_ns(policy, rec.offences));
}

/// Whether a record carries nothing any more: expired, and its offences forgotten.
pub(crate) fn forgotten(rec: &BanRecord, now_ns: u64, policy: &BanPolicy) -> bool {
    let forget_ns = policy.forget_after_secs.saturating_mul(NS_PER_SEC);
    now_ns.saturating_sub(rec.last_seen_ns()) > forget_ns
}

/// Ban records in a region's ban table: `[until_ns, last_offence_ns, offences | reason << 32]`.
mod shared {
    use super::*;
    use crate::limit::store::slot_key;
    use crate::shared::slots::{Evict, Placed, Values};

    /// Bans are the only map in their table.
    const TAG: u64 = 1;

    pub(super) fn encode(rec: &BanRecord) -> Values {
        let reason = Reason::ALL
            .iter()
            .position(|r| *r == rec.reason)
            .unwrap_or(0) as u64;
        [
            rec.until_ns,
            rec.last_offence_ns,
            u64::from(rec.offences) | (reason << 32),
        ]
    }

    pub(super) fn decode(key: ClientKey, v: &Values) -> BanRecord {
        let reason = Reason::ALL
            .get((v[2] >> 32) as usize)
            .copied()
            .unwrap_or(Reason::ActiveBan);
        BanRecord {
            key,
            until_ns: v[0],
            last_offence_ns: v[1],
            offences: v[2] as u32,
            reason,
        }
    }

    /// The record of `key`; a bucket that stays busy reads as a one-second ban (fail closed
    /// for this request).
    pub(super) fn get(region: &Region, key: &ClientKey, now_ns: u64) -> Option<BanRecord> {
        if region.stats().bans_used == 0 {
            return None;
        }
        let k = slot_key(TAG, key);
        region
            .bans
            .with_bucket(&k, |b| b.find(&k).map(|i| decode(*key, &b.values(i))))
            .unwrap_or_else(|| {
                Some(BanRecord {
                    until_ns: now_ns.saturating_add(NS_PER_SEC),
                    ..BanRecord::empty(*key, Reason::ActiveBan)
                })
            })
    }

    /// Applies `f` to the record of `key` if there is one.
    pub(super) fn modify<R>(
        region: &Region,
        key: &ClientKey,
        f: impl FnOnce(&mut BanRecord) -> R,
    ) -> Option<R> {
        let k = slot_key(TAG, key);
        region
            .bans
            .with_bucket(&k, |b| {
                let i = b.find(&k)?;
                let mut rec = decode(*key, &b.values(i));
                let out = f(&mut rec);
                b.set(i, &encode(&rec));
                Some(out)
            })
            .flatten()
    }

    /// Applies `f` to the record of `key`, created empty if absent; a full bucket gives up the
    /// ban closest to expiry. Returns the record as written.
    pub(super) fn update(
        region: &Region,
        key: ClientKey,
        now_ns: u64,
        f: impl FnOnce(&mut BanRecord),
    ) -> BanRecord {
        let k = slot_key(TAG, &key);
        let Some(b) = region.bans.try_bucket(&k) else {
            // Busy: this request is answered with the ban; the record is not stored.
            let mut rec = BanRecord::empty(key, Reason::ActiveBan);
            f(&mut rec);
            return rec;
        };
        {
            let found = b.find(&k);
            let mut rec = match found {
                Some(i) => decode(key, &b.values(i)),
                None => BanRecord::empty(key, Reason::ActiveBan),
            };
            f(&mut rec);
            match found {
                Some(i) => b.set(i, &encode(&rec)),
                None => {
                    let rank = move |v: &Values| v[0].saturating_sub(now_ns);
                    let placed = b.insert(&k, &encode(&rec), Evict { rank, live: true });
                    if placed == Some(Placed::Empty) {
                        region.note_ban_placed();
                    }
                }
            }
            rec
        }
    }

    pub(super) fn all(region: &Region) -> Vec<BanRecord> {
        let mut out = Vec::new();
        for i in 0..region.bans.buckets() {
            region.bans.locked(i, |b| {
                for s in 0..crate::shared::slots::WAYS {
                    if let Some(k) = b.key(s) {
                        let key = ClientKey::from_words(k.hi, k.lo);
                        out.push(decode(key, &b.values(s)));
                    }
                }
            });
        }
        out
    }
}

/// Whether a shared ban slot carries nothing any more (for the region's sweep).
pub(crate) fn shared_slot_forgotten(
    v: &crate::shared::slots::Values,
    now_ns: u64,
    policy: &BanPolicy,
) -> bool {
    let rec = shared::decode(ClientKey::from_words(0, 0), v);
    forgotten(&rec, now_ns, policy)
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

mod local;
#[cfg(test)]
mod tests;

use local::LocalBans;
