//! One shared-memory zone, carved into the state every worker must see alike.
//!
//! A front end with several processes (nginx) hands the engine the zone's memory as words; the
//! region lays out a header, the under-attack meter and five [`SlotTable`]s in it:
//! rate counters (every limiter, kept apart by tag), the ledger (penalties and clearance
//! spending: entries ranked in hours, apart so that neither they nor the counters, ranked in
//! seconds, can push the other kind out), bans, solved challenges, and CSP reports (apart, so
//! reports, which cost a client nothing, can never crowd out the record of a solved challenge).
//! The layout is plain words, so it means the same in every process, and the header lets a
//! zone kept across a reload (nginx keeps a zone of the same name and size) be recognised and
//! reused, which is how counters and bans survive `nginx -s reload`.
//!
//! Sizing: counters take nine sixteenths of the zone at 33 bytes a key, the ledger, the bans and
//! solved challenges an eighth each, reports a sixteenth. Solved challenges got their eighth from
//! a measured rate: `tollgate solve` hashes about 17 MH/s a core with SHA-NI (BENCHMARKS.md), so
//! the default 23-bit puzzle's mean 2^23 hashes take about 240 ms on two cores, about 4 solves a
//! second; each id is kept for the 300 s its challenge lives, so an 8m zone's share holds some 25
//! such machines solving flat out (five at the 21-bit default it was sized for). The zone's size is the memory bound; the rules' `max_*` caps
//! apply to in-process state only.

use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::shared::slots::{SlotKey, SlotTable, Values};

/// "TOLLGATE" in ASCII.
const MAGIC: u64 = 0x544F_4C4C_4741_5445;
/// Bumped whenever the layout changes, so an old zone is re-formatted rather than misread.
/// (The metric block checks its own shape: `engine/counted.rs`.)
const LAYOUT: u64 = 6;
const HEADER_WORDS: usize = 16;
pub(crate) const ATTACK_WORDS: usize = 16;
/// The counts behind a worker's `/metrics` (requests by decision and reason, signals, scores).
pub(crate) const METRIC_WORDS: usize = 1024;

/// Header word indices.
const H_MAGIC: usize = 0;
const H_LAYOUT: usize = 1;
const H_LEN: usize = 2;
const H_SEED: usize = 3; // and 4
const H_CURSOR: usize = 5;
const H_EVICTED: usize = 6;
const H_COUNTERS_USED: usize = 7;
const H_BANS_USED: usize = 8;

/// Value words per slot in each table. A counter carries its TAT and the client's request
/// rhythm, which rides along in the "default" map's slot (`KeyStore::update_rider`).
const COUNTER_VALUES: usize = 2;
const LEDGER_VALUES: usize = 1;
const BAN_VALUES: usize = 3;
const REPLAY_VALUES: usize = 1;

/// Buckets of each table examined per [`Region::sweep_step`].
const SWEEP_BUCKETS: usize = 512;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RegionError {
    #[error("shared memory zone too small: {have} bytes, tollgate needs at least {need}")]
    TooSmall { have: usize, need: usize },
}

/// The carved zone. Plain data pointing into the zone: valid in every process that maps it at
/// the same address (nginx workers inherit the master's mapping).
#[derive(Debug)]
pub struct Region {
    header: &'static [AtomicU64],
    pub(crate) attack: &'static [AtomicU64],
    /// What every worker counted, for whichever serves `/metrics`.
    pub(crate) metrics: &'static [AtomicU64],
    pub(crate) counters: SlotTable,
    /// Long-lived per-key entries (penalties, clearance spending), apart from the counters.
    pub(crate) ledger: SlotTable,
    pub(crate) bans: SlotTable,
    pub(crate) replay: SlotTable,
    pub(crate) reports: SlotTable,
}

/// What the region holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegionStats {
    /// Slots of each table: counters, ledger, bans, solved challenges, reports.
    pub table_slots: [usize; 5],
    pub counter_slots: usize,
    pub counters_used: u64,
    pub bans_used: u64,
    pub evicted: u64,
    /// Bucket locks this process gave up on (each failed one request closed).
    pub lock_timeouts: u64,
}

impl Region {
    /// The smallest zone that holds one bucket of every table.
    pub const MIN_BYTES: usize = 8 * 64 * 1024;

    /// The region already formatted in `words`, for a process that must never format a zone
    /// others may be using (an nginx worker). `None` when `words` holds no region of this layout.
    pub fn open(words: &'static [AtomicU64]) -> Option<Self> {
        if words.len() < HEADER_WORDS || !Self::recognises(&words[..HEADER_WORDS], words.len()) {
            return None;
        }
        Self::attach(words, [0, 0]).ok().map(|(r, _)| r)
    }

    /// Lays the region over `words`. A zone that already holds a region of this layout and size
    /// (kept across a reload) is reused as it is; anything else is formatted, with `seed`
    /// keying bucket placement. Returns the region and whether it was formatted.
    pub fn attach(
        words: &'static [AtomicU64],
        seed: [u64; 2],
    ) -> Result<(Self, bool), RegionError> {
        let need = Self::MIN_BYTES / 8;
        if words.len() < need {
            return Err(RegionError::TooSmall {
                have: words.len() * 8,
                need: Self::MIN_BYTES,
            });
        }
        let (header, rest) = words.split_at(HEADER_WORDS);
        let formatted = !Self::recognises(header, words.len());
        if formatted {
            for w in words {
                w.store(0, Ordering::Relaxed);
            }
            header[H_SEED].store(seed[0], Ordering::Relaxed);
            header[H_SEED + 1].store(seed[1], Ordering::Relaxed);
            header[H_LAYOUT].store(LAYOUT, Ordering::Relaxed);
            header[H_LEN].store(words.len() as u64, Ordering::Relaxed);
            header[H_MAGIC].store(MAGIC, Ordering::Release);
        }
        let seed = [
            header[H_SEED].load(Ordering::Relaxed),
            header[H_SEED + 1].load(Ordering::Relaxed),
        ];
        let (attack, rest) = rest.split_at(ATTACK_WORDS);
        let (metrics, rest) = rest.split_at(METRIC_WORDS);
        let sixteenth = rest.len() / 16;
        let (bans, rest) = rest.split_at(2 * sixteenth);
        let (replay, rest) = rest.split_at(2 * sixteenth);
        let (reports, rest) = rest.split_at(sixteenth);
        let (ledger, counters) = rest.split_at(2 * sixteenth);
        let table = |w, values| {
            SlotTable::new(w, values, seed).ok_or(RegionError::TooSmall {
                have: words.len() * 8,
                need: Self::MIN_BYTES,
            })
        };
        let region = Self {
            header,
            attack,
            metrics,
            counters: table(counters, COUNTER_VALUES)?,
            ledger: table(ledger, LEDGER_VALUES)?,
            bans: table(bans, BAN_VALUES)?,
            replay: table(replay, REPLAY_VALUES)?,
            reports: table(reports, REPLAY_VALUES)?,
        };
        Ok((region, formatted))
    }

    fn recognises(header: &[AtomicU64], len: usize) -> bool {
        header[H_MAGIC].load(Ordering::Acquire) == MAGIC
            && header[H_LAYOUT].load(Ordering::Relaxed) == LAYOUT
            && header[H_LEN].load(Ordering::Relaxed) == len as u64
    }

    pub fn stats(&self) -> RegionStats {
        let tables = [
            &self.counters,
            &self.ledger,
            &self.bans,
            &self.replay,
            &self.reports,
        ];
        RegionStats {
            table_slots: tables.map(SlotTable::capacity),
            counter_slots: self.counters.capacity(),
            counters_used: self.header[H_COUNTERS_USED].load(Ordering::Relaxed),
            bans_used: self.header[H_BANS_USED].load(Ordering::Relaxed),
            evicted: self.header[H_EVICTED].load(Ordering::Relaxed),
            lock_timeouts: crate::shared::slots::lock_timeouts(),
        }
    }

    pub(crate) fn note_counter_placed(&self, evicted: bool) {
        let i = if evicted { H_EVICTED } else { H_COUNTERS_USED };
        self.header[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Tells the lock words which process this is, so that taking a lock costs no system call.
    /// Call it once in each process that uses a region, after it forks (nginx: each worker's
    /// `init_process`); without it, each lock asks the kernel.
    pub fn process_started() {
        crate::shared::slots::process_started();
    }

    /// The counter table, or the ledger.
    pub(crate) fn table(&self, ledger: bool) -> &SlotTable {
        if ledger {
            &self.ledger
        } else {
            &self.counters
        }
    }

    pub(crate) fn note_ban_placed(&self) {
        self.header[H_BANS_USED].fetch_add(1, Ordering::Relaxed);
    }

    /// Empties dead slots in the next few buckets of every table, so the cost of sweeping a
    /// large zone is spread over many calls (and over every worker calling it). `counter_dead`,
    /// `ban_dead` and `replay_dead` say which slots carry nothing any more.
    pub(crate) fn sweep_step(
        &self,
        counter_dead: impl Fn(&Values) -> bool,
        ban_dead: impl Fn(&Values) -> bool,
        replay_dead: impl Fn(&Values) -> bool,
    ) -> usize {
        let step = self.header[H_CURSOR].fetch_add(1, Ordering::Relaxed) as usize;
        let mut freed = 0;
        let mut sweep = |t: &SlotTable, dead: &dyn Fn(&Values) -> bool, used: Option<usize>| {
            let chunks = t.buckets().div_ceil(SWEEP_BUCKETS);
            let first = (step % chunks) * SWEEP_BUCKETS;
            let mut n = 0;
            for i in first..(first + SWEEP_BUCKETS).min(t.buckets()) {
                n += t
                    .locked(i, |b| b.purge(|_: &SlotKey, v| dead(v)))
                    .unwrap_or(0);
            }
            if let Some(h) = used {
                let _ = self.header[h].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    Some(u.saturating_sub(n as u64))
                });
            }
            freed += n;
        };
        sweep(&self.counters, &counter_dead, Some(H_COUNTERS_USED));
        sweep(&self.ledger, &counter_dead, None);
        sweep(&self.bans, &ban_dead, Some(H_BANS_USED));
        sweep(&self.replay, &replay_dead, None);
        sweep(&self.reports, &replay_dead, None);
        freed
    }
}

/// A map's tag: a hash of its name (FNV-1a), never 0. Stable across processes and reloads, so
/// a limiter's counters are found again under the same name.
pub(crate) fn tag(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    h | 1
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn zone(bytes: usize) -> &'static [AtomicU64] {
        Box::leak((0..bytes / 8).map(|_| AtomicU64::new(0)).collect())
    }

    #[test]
    fn a_kept_zone_is_recognised_and_a_changed_one_reformatted() {
        let words = zone(Region::MIN_BYTES);
        let (r, fresh) = Region::attach(words, [1, 2]).unwrap();
        assert!(fresh);
        r.note_ban_placed();
        let (r, fresh) = Region::attach(words, [3, 4]).unwrap();
        assert!(!fresh, "same layout and size: reused");
        assert_eq!(r.stats().bans_used, 1);
        assert!(Region::open(words).is_some());
        words[H_LAYOUT].store(LAYOUT + 1, Ordering::Relaxed);
        assert!(Region::open(words).is_none(), "a worker never formats");
        let (r, fresh) = Region::attach(words, [3, 4]).unwrap();
        assert!(fresh);
        assert_eq!(r.stats().bans_used, 0);
    }

    #[test]
    fn an_8m_zone_has_the_slots_the_readme_quotes() {
        let (r, _) = Region::attach(zone(8 << 20), [1, 2]).unwrap();
        assert_eq!(
            r.stats().counter_slots,
            114_968,
            "update README's tollgate_zone row"
        );
        assert_eq!(r.ledger.capacity(), 31_736);
        assert_eq!(
            r.replay.capacity(),
            31_736,
            "update README's tollgate_zone row"
        );
    }

    #[test]
    fn the_smallest_nginx_zone_has_the_slots_the_nginx_tests_overflow() {
        // ngx-module/tests/zone.rs sprays past these with `tollgate_zone tg 576k`, nginx's
        // minimum (the region's plus 64k), of which nginx's slab header takes under 256 bytes.
        let (r, _) = Region::attach(zone(576 * 1024 - 256), [1, 2]).unwrap();
        assert_eq!(r.stats().counter_slots, 7_968);
        assert_eq!(r.bans.capacity(), 1_480);
    }

    #[test]
    fn too_small_a_zone_is_an_error_naming_the_minimum() {
        let err = Region::attach(zone(4096), [0, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "shared memory zone too small: 4096 bytes, tollgate needs at least 524288"
        );
    }

    #[test]
    fn tags_are_stable_and_never_zero() {
        // A literal: the tag names a map inside zones other processes (or an older build
        // across a reload) already wrote, so it must not change with the hasher's seed.
        assert_eq!(tag("default"), 0xebad_a516_8620_c5ff);
        assert_ne!(tag("default"), tag("route:login"));
        assert_ne!(tag(""), 0);
    }
}
