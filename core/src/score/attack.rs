//! Under-attack mode: tighten every score band while the site is flooded, relax with hysteresis.
//!
//! The meter counts requests and upstream errors per wall-clock second with two atomics. At each
//! second boundary one caller (a request or the front end's sweep) closes the second and decides:
//! over either threshold engages; engaged mode is released only after `cooldown_secs` in a row
//! below `release_percent` of both thresholds, so a flood that pulses does not flap the mode.
//! While engaged, the [`Signal::UnderAttack`](crate::score::signal::Signal::UnderAttack) signal fires on
//! every scored request, and its (negative) weight moves everyone down the bands.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::shared::slots::SpinGuard;

/// The `[under_attack]` section, compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttackRules {
    /// Requests per second (all clients) that engage the mode; `None`: not a trigger.
    pub requests_per_sec: Option<u64>,
    /// Upstream errors (connection failures, 502–504) per second that engage it.
    pub upstream_errors_per_sec: Option<u64>,
    /// Below this percentage of every threshold counts as calm.
    pub release_percent: u64,
    /// Seconds of calm in a row before the mode is released.
    pub cooldown_secs: u64,
}

/// What the last closed second looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttackStatus {
    pub engaged: bool,
    pub last_requests_per_sec: u64,
    pub last_upstream_errors_per_sec: u64,
}

/// The meter's words: its own, or a slice of a shared region (so every worker process counts
/// toward one rate and sees one verdict).
#[derive(Debug)]
enum Words {
    Own(Box<[AtomicU64]>),
    Shared(&'static [AtomicU64]),
}

/// Word indices.
const SECOND: usize = 0;
const REQUESTS: usize = 1;
const ERRORS: usize = 2;
const ENGAGED: usize = 3;
/// First calm second of the current calm run; 0 when not calm.
const CALM_SINCE: usize = 4;
const LAST_REQUESTS: usize = 5;
const LAST_ERRORS: usize = 6;
/// Serialises judging: two winners of different seconds must not interleave their verdicts.
const JUDGING: usize = 7;
pub(crate) const METER_WORDS: usize = 8;

#[derive(Debug)]
pub(crate) struct AttackMeter {
    words: Words,
}

impl Default for AttackMeter {
    fn default() -> Self {
        Self {
            words: Words::Own((0..METER_WORDS).map(|_| AtomicU64::new(0)).collect()),
        }
    }
}

impl AttackMeter {
    /// A meter over `words` (at least [`METER_WORDS`]) of a shared region.
    pub fn shared(words: &'static [AtomicU64]) -> Self {
        Self {
            words: Words::Shared(words),
        }
    }

    fn w(&self, i: usize) -> &AtomicU64 {
        match &self.words {
            Words::Own(w) => &w[i],
            Words::Shared(w) => &w[i],
        }
    }

    /// Counts one request at `now_secs`; returns whether the mode is engaged.
    pub fn request(&self, rules: &AttackRules, now_secs: u64) -> bool {
        self.roll(rules, now_secs);
        self.w(REQUESTS).fetch_add(1, Ordering::Relaxed);
        self.engaged()
    }

    fn engaged(&self) -> bool {
        self.w(ENGAGED).load(Ordering::Relaxed) != 0
    }

    /// Adds what other instances of a fleet counted to the open second.
    pub fn add(&self, rules: &AttackRules, now_secs: u64, requests: u64, errors: u64) {
        self.roll(rules, now_secs);
        self.w(REQUESTS).fetch_add(requests, Ordering::Relaxed);
        self.w(ERRORS).fetch_add(errors, Ordering::Relaxed);
    }

    pub fn upstream_error(&self, rules: &AttackRules, now_secs: u64) {
        self.roll(rules, now_secs);
        self.w(ERRORS).fetch_add(1, Ordering::Relaxed);
    }

    pub fn status(&self) -> AttackStatus {
        AttackStatus {
            engaged: self.engaged(),
            last_requests_per_sec: self.w(LAST_REQUESTS).load(Ordering::Relaxed),
            last_upstream_errors_per_sec: self.w(LAST_ERRORS).load(Ordering::Relaxed),
        }
    }

    /// Closes the counting second if `now_secs` is past it. Exactly one caller wins the swap,
    /// so each second is judged once; counts racing the swap land in the next second.
    pub fn roll(&self, rules: &AttackRules, now_secs: u64) {
        let open = self.w(SECOND).load(Ordering::Relaxed);
        if now_secs <= open {
            return;
        }
        if self
            .w(SECOND)
            .compare_exchange(open, now_secs, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let requests = self.w(REQUESTS).swap(0, Ordering::Relaxed);
        let errors = self.w(ERRORS).swap(0, Ordering::Relaxed);
        self.w(LAST_REQUESTS).store(requests, Ordering::Relaxed);
        self.w(LAST_ERRORS).store(errors, Ordering::Relaxed);
        if open == 0 {
            return; // the first second: its counts cover an unknown span
        }
        // Another worker judging for long: skip this second's verdict rather than wait.
        let Some(_one_at_a_time) = SpinGuard::try_lock(self.w(JUDGING)) else {
            return;
        };
        self.judge(rules, requests, errors, open);
        // Seconds with no traffic at all are calm too.
        if now_secs > open + 1 {
            self.judge(rules, 0, 0, now_secs - 1);
        }
    }

    fn judge(&self, rules: &AttackRules, requests: u64, errors: u64, second: u64) {
        let over = |n: u64, limit: Option<u64>| limit.is_some_and(|l| n >= l);
        let calm = |n: u64, limit: Option<u64>| {
            limit.is_none_or(|l| n.saturating_mul(100) < l.saturating_mul(rules.release_percent))
        };
        if over(requests, rules.requests_per_sec) || over(errors, rules.upstream_errors_per_sec) {
            self.w(ENGAGED).store(1, Ordering::Relaxed);
            self.w(CALM_SINCE).store(0, Ordering::Relaxed);
            return;
        }
        if !(calm(requests, rules.requests_per_sec) && calm(errors, rules.upstream_errors_per_sec))
        {
            self.w(CALM_SINCE).store(0, Ordering::Relaxed);
            return;
        }
        let since = match self.w(CALM_SINCE).load(Ordering::Relaxed) {
            0 => {
                self.w(CALM_SINCE).store(second, Ordering::Relaxed);
                second
            }
            s => s,
        };
        // Seconds may be judged out of order under preemption: never underflow.
        if (second + 1).saturating_sub(since) >= rules.cooldown_secs {
            self.w(ENGAGED).store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: AttackRules = AttackRules {
        requests_per_sec: Some(100),
        upstream_errors_per_sec: Some(10),
        release_percent: 50,
        cooldown_secs: 3,
    };

    fn load(m: &AttackMeter, second: u64, requests: u64) -> bool {
        (0..requests).fold(false, |_, _| m.request(&RULES, second))
    }

    #[test]
    fn engages_over_the_threshold_and_releases_after_the_cooldown() {
        let m = AttackMeter::default();
        load(&m, 1, 5);
        load(&m, 2, 150);
        assert!(load(&m, 3, 1), "judged at the end of second 2");
        assert!(m.status().engaged);
        assert_eq!(m.status().last_requests_per_sec, 150);
        // 60 req/s: under the trigger but above the release line: stays engaged.
        load(&m, 4, 60);
        load(&m, 5, 60);
        load(&m, 6, 10);
        assert!(m.status().engaged);
        load(&m, 7, 10);
        load(&m, 8, 10);
        assert!(m.status().engaged, "two calm seconds of three");
        m.roll(&RULES, 9);
        assert!(!m.status().engaged);
    }

    #[test]
    fn upstream_errors_engage_and_silence_is_calm() {
        let m = AttackMeter::default();
        m.roll(&RULES, 1);
        for _ in 0..10 {
            m.upstream_error(&RULES, 2);
        }
        m.roll(&RULES, 3);
        assert!(m.status().engaged);
        m.roll(&RULES, 4);
        m.roll(&RULES, 5);
        assert!(m.status().engaged, "two calm seconds of three");
        m.roll(&RULES, 6);
        assert!(!m.status().engaged);
        // A long silence (no request, one sweep) is a calm run as long as the gap.
        for _ in 0..10 {
            m.upstream_error(&RULES, 7);
        }
        m.roll(&RULES, 8);
        assert!(m.status().engaged);
        m.roll(&RULES, 30);
        assert!(!m.status().engaged);
    }
}
