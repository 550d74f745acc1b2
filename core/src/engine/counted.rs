//! The counts a multi-process front end keeps in its shared zone, so that whichever worker
//! serves `/metrics` answers for all of them (nginx's `tollgate_metrics`): requests by decision
//! and reason, the signals that fired, the score histogram and upstream errors, with gauges read
//! off the zone itself. The series are named as on the proxy's `/metrics`, so one dashboard
//! serves both front ends.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::state::Memory;
use super::Engine;
use crate::score::{Score, Signal};
use crate::shared::region::METRIC_WORDS;
use crate::verdict::{Kind, Reason, Reply, Verdict};

/// Upper bounds of the score histogram's buckets, as on the proxy.
const SCORE_BUCKETS: [i32; 13] = [-20, -10, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/// Word offsets in the zone's metric block: first the shape it was laid out for.
const SHAPE_WORD: usize = 0;
const REQUESTS: usize = 1;
const SIGNALS: usize = REQUESTS + Kind::ALL.len() * Reason::ALL.len();
const SCORE: usize = SIGNALS + Signal::ALL.len();
/// Buckets, then +Inf, then the sum (two's complement) and the count.
const SCORE_SUM: usize = SCORE + SCORE_BUCKETS.len() + 1;
const SCORE_COUNT: usize = SCORE_SUM + 1;
const UPSTREAM_ERRORS: usize = SCORE_COUNT + 1;
const USED: usize = UPSTREAM_ERRORS + 1;
const _: () = assert!(USED <= METRIC_WORDS, "the zone's metric block is too small");

/// What the metric block's layout depends on (how many kinds, reasons and signals it counts):
/// a worker built with other code tables starts the block afresh rather than count under the
/// wrong labels.
const METRIC_SHAPE: u64 =
    ((Kind::ALL.len() * 1_000 + Reason::ALL.len()) * 1_000 + Signal::ALL.len()) as u64;

const TABLES: [&str; 5] = ["counters", "ledger", "bans", "solved", "reports"];

impl Engine {
    fn metric_words(&self) -> Option<&'static [AtomicU64]> {
        match &self.memory {
            Memory::Shared(r) => Some(r.metrics),
            Memory::Local => None,
        }
    }

    /// Lays the zone's metric block out for this build's code tables, unless it already is
    /// (each worker calls it once; the first with a new shape zeroes the counts).
    pub(super) fn prepare_shared_metrics(&self) {
        let Some(w) = self.metric_words() else {
            return;
        };
        let was = w[SHAPE_WORD].swap(METRIC_SHAPE, Ordering::AcqRel);
        if was != METRIC_SHAPE {
            w[REQUESTS..]
                .iter()
                .for_each(|c| c.store(0, Ordering::Relaxed));
        }
    }

    /// Counts `verdict` in the shared zone (in-process engines: nothing; the proxy counts in
    /// its own registry).
    pub fn count_shared(&self, verdict: &Verdict) {
        let Some(w) = self.metric_words() else {
            return;
        };
        let d = &verdict.decision;
        let i = REQUESTS + d.kind().index() * Reason::ALL.len() + d.reason().index();
        w[i].fetch_add(1, Ordering::Relaxed);
        if let Some(score) = &verdict.score {
            count_score(w, score);
        }
    }

    /// An upstream failure, counted in the shared zone.
    pub(super) fn count_shared_upstream_error(&self) {
        if let Some(w) = self.metric_words() {
            w[UPSTREAM_ERRORS].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The shared zone's `/metrics` in Prometheus' text format; `None` in-process.
    pub fn shared_metrics(&self) -> Option<Reply> {
        let w = self.metric_words()?;
        let mut t = String::with_capacity(4096);
        counter_family(
            &mut t,
            "tollgate_requests_total",
            "Requests by decision and reason.",
        );
        for (k, kind) in Kind::ALL.iter().enumerate() {
            for (r, reason) in Reason::ALL.iter().enumerate() {
                let n = w[REQUESTS + k * Reason::ALL.len() + r].load(Ordering::Relaxed);
                if n > 0 {
                    let (k, r) = (kind.as_str(), reason.as_str());
                    let _ = writeln!(
                        t,
                        "tollgate_requests_total{{decision=\"{k}\",reason=\"{r}\"}} {n}"
                    );
                }
            }
        }
        counter_family(
            &mut t,
            "tollgate_signals_total",
            "Environment signals that fired, by name.",
        );
        for (i, s) in Signal::ALL.iter().enumerate() {
            let n = w[SIGNALS + i].load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(t, "tollgate_signals_total{{signal=\"{}\"}} {n}", s.as_str());
            }
        }
        score_family(&mut t, w);
        let errors = w[UPSTREAM_ERRORS].load(Ordering::Relaxed);
        counter_family(
            &mut t,
            "tollgate_upstream_errors_total",
            "Upstream failures (502-504).",
        );
        let _ = writeln!(t, "tollgate_upstream_errors_total {errors}");
        self.zone_gauges(&mut t);
        let reply = Reply::new(
            200,
            Reason::Endpoint,
            "text/plain; version=0.0.4; charset=utf-8",
        );
        Some(reply.body(t).no_store())
    }

    fn zone_gauges(&self, t: &mut String) {
        let now = self.clock.now_ns();
        let gauge = |t: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let attack = u64::from(self.attack_status().engaged);
        gauge(
            t,
            "tollgate_under_attack",
            "1 while under-attack mode is engaged.",
            attack,
        );
        let bans = self.state.bans.active_list(now).len() as u64;
        gauge(t, "tollgate_active_bans", "Bans in force.", bans);
        let Some(stats) = self.region_stats() else {
            return;
        };
        gauge(
            t,
            "tollgate_evicted_keys",
            "Counters evicted while in debt.",
            stats.evicted,
        );
        let _ = writeln!(
            t,
            "# HELP tollgate_zone_slots Slots of each table of the zone."
        );
        let _ = writeln!(t, "# TYPE tollgate_zone_slots gauge");
        for (name, slots) in TABLES.iter().zip(stats.table_slots) {
            let _ = writeln!(t, "tollgate_zone_slots{{table=\"{name}\"}} {slots}");
        }
        let _ = writeln!(
            t,
            "# HELP tollgate_zone_used Slots placed in the zone's tables."
        );
        let _ = writeln!(t, "# TYPE tollgate_zone_used gauge");
        let _ = writeln!(
            t,
            "tollgate_zone_used{{table=\"counters\"}} {}",
            stats.counters_used
        );
        let _ = writeln!(
            t,
            "tollgate_zone_used{{table=\"bans\"}} {}",
            stats.bans_used
        );
    }
}

fn count_score(w: &[AtomicU64], score: &Score) {
    for s in score.signals.iter() {
        w[SIGNALS + s.index()].fetch_add(1, Ordering::Relaxed);
    }
    let bucket = SCORE_BUCKETS
        .iter()
        .position(|&b| score.value <= b)
        .unwrap_or(SCORE_BUCKETS.len());
    w[SCORE + bucket].fetch_add(1, Ordering::Relaxed);
    w[SCORE_SUM].fetch_add(i64::from(score.value) as u64, Ordering::Relaxed);
    w[SCORE_COUNT].fetch_add(1, Ordering::Relaxed);
}

fn counter_family(t: &mut String, name: &str, help: &str) {
    let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} counter");
}

/// The score histogram, cumulative as Prometheus wants it.
fn score_family(t: &mut String, w: &[AtomicU64]) {
    let _ = writeln!(
        t,
        "# HELP tollgate_score Environment scores of scored requests."
    );
    let _ = writeln!(t, "# TYPE tollgate_score histogram");
    let mut below = 0;
    for (i, b) in SCORE_BUCKETS.iter().enumerate() {
        below += w[SCORE + i].load(Ordering::Relaxed);
        let _ = writeln!(t, "tollgate_score_bucket{{le=\"{b}\"}} {below}");
    }
    below += w[SCORE + SCORE_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(t, "tollgate_score_bucket{{le=\"+Inf\"}} {below}");
    let sum = w[SCORE_SUM].load(Ordering::Relaxed) as i64;
    let _ = writeln!(t, "tollgate_score_sum {sum}");
    let _ = writeln!(
        t,
        "tollgate_score_count {}",
        w[SCORE_COUNT].load(Ordering::Relaxed)
    );
}
