//! Prometheus metrics, served on the admin listener.
//!
//! Per-request counters sit in a table indexed by decision kind and reason, each resolved on first
//! use, so counting a request is an array index and an atomic add, not a label hash, and only
//! pairs that occurred are exported.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tollgate_core::Score;
use tollgate_core::Signal;
use tollgate_core::{Decision, Engine, Kind, Reason};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    by_decision: Vec<OnceLock<IntCounter>>,
    decision_seconds: Histogram,
    reloads_ok: IntCounter,
    reloads_failed: IntCounter,
    pub log_suppressed: IntCounter,
    active_bans: IntGauge,
    ban_records: IntGauge,
    tracked_keys: IntGauge,
    evicted_keys: IntGauge,
    solved_challenges: IntGauge,
    /// Per signal, indexed like `Signal::ALL`.
    signals: Vec<IntCounter>,
    score: Histogram,
    under_attack: IntGauge,
    upstream_errors: IntCounter,
    /// Connections tollgate closed before a complete request, by why.
    connections_closed: IntCounterVec,
    /// TLS connections by the JA4 of their ClientHello.
    tls_hellos: IntCounterVec,
    /// Crawler claims looked up in DNS, by outcome.
    crawler_lookups: IntCounterVec,
    /// JA4 values with a series of their own; past [`MAX_JA4_SERIES`] the rest count as "other".
    ja4_seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Distinct JA4 label values exported: a spray of made-up hellos must not grow the registry.
const MAX_JA4_SERIES: usize = 100;

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "tollgate_requests_total",
                "Requests by decision and reason.",
            ),
            &["decision", "reason"],
        )?;
        let by_decision = (0..Kind::ALL.len() * Reason::ALL.len())
            .map(|_| OnceLock::new())
            .collect();
        let buckets = vec![
            1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 5e-5, 1e-4, 1e-3,
        ];
        let decision_seconds = Histogram::with_opts(
            HistogramOpts::new("tollgate_decision_seconds", "Time the core took to decide.")
                .buckets(buckets),
        )?;
        let reloads = IntCounterVec::new(
            Opts::new("tollgate_reloads_total", "Rules reloads by result."),
            &["result"],
        )?;
        let signal_vec = IntCounterVec::new(
            Opts::new(
                "tollgate_signals_total",
                "Environment signals that fired, by name (scored requests and answers).",
            ),
            &["signal"],
        )?;
        let signals = Signal::ALL
            .iter()
            .map(|s| signal_vec.get_metric_with_label_values(&[s.as_str()]))
            .collect::<prometheus::Result<Vec<_>>>()?;
        let score = Histogram::with_opts(
            HistogramOpts::new("tollgate_score", "Environment scores of scored requests.")
                .buckets((-2..=10).map(|b| f64::from(b * 10)).collect()),
        )?;
        let m = Self {
            signals,
            tls_hellos: IntCounterVec::new(
                Opts::new(
                    "tollgate_tls_hellos_total",
                    "TLS connections by the JA4 fingerprint of their ClientHello (the first 100 distinct, then \"other\").",
                ),
                &["ja4"],
            )?,
            ja4_seen: Default::default(),
            crawler_lookups: IntCounterVec::new(
                Opts::new(
                    "tollgate_crawler_lookups_total",
                    "Crawler claims looked up in DNS: verified (forward-confirmed), refused (no name in the crawler's domains resolves back), unknown (deadline or resolver failure).",
                ),
                &["result"],
            )?,
            score,
            under_attack: IntGauge::new(
                "tollgate_under_attack",
                "1 while under-attack mode is engaged.",
            )?,
            upstream_errors: IntCounter::new(
                "tollgate_upstream_errors_total",
                "Proxied requests the upstream failed (connect error or 502-504).",
            )?,
            connections_closed: IntCounterVec::new(
                Opts::new(
                    "tollgate_connections_closed_total",
                    "Connections closed before a complete request: active_ban or too_many_connections at accept, header_timeout or header_too_large while the header arrived.",
                ),
                &["reason"],
            )?,
            reloads_ok: reloads.get_metric_with_label_values(&["ok"])?,
            reloads_failed: reloads.get_metric_with_label_values(&["failed"])?,
            log_suppressed: IntCounter::new(
                "tollgate_log_lines_suppressed_total",
                "Log lines dropped by the log budget: refusals, and Pingora's own warnings and errors.",
            )?,
            active_bans: IntGauge::new("tollgate_active_bans", "Bans in force.")?,
            ban_records: IntGauge::new(
                "tollgate_ban_records",
                "Ban records kept (active or remembered offences).",
            )?,
            tracked_keys: IntGauge::new(
                "tollgate_tracked_keys",
                "Client keys held by rate counters.",
            )?,
            solved_challenges: IntGauge::new(
                "tollgate_solved_challenges",
                "Solved challenges remembered against replay (bounded by [challenge] max_solved).",
            )?,
            evicted_keys: IntGauge::new(
                "tollgate_evicted_keys",
                "Client keys evicted from full counters since start.",
            )?,
            registry,
            requests,
            by_decision,
            decision_seconds,
        };
        m.registry.register(Box::new(m.requests.clone()))?;
        m.registry.register(Box::new(reloads))?;
        m.registry.register(Box::new(m.decision_seconds.clone()))?;
        for g in [
            &m.active_bans,
            &m.ban_records,
            &m.tracked_keys,
            &m.solved_challenges,
            &m.evicted_keys,
        ] {
            m.registry.register(Box::new(g.clone()))?;
        }
        m.registry.register(Box::new(m.log_suppressed.clone()))?;
        m.registry.register(Box::new(m.tls_hellos.clone()))?;
        m.registry.register(Box::new(m.crawler_lookups.clone()))?;
        m.registry.register(Box::new(signal_vec))?;
        m.registry.register(Box::new(m.score.clone()))?;
        m.registry.register(Box::new(m.under_attack.clone()))?;
        m.registry.register(Box::new(m.upstream_errors.clone()))?;
        m.registry
            .register(Box::new(m.connections_closed.clone()))?;
        Ok(m)
    }

    /// Adds series kept elsewhere (the fleet's) to the exposition.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> prometheus::Result<()> {
        self.registry.register(c)
    }

    pub fn count(&self, decision: &Decision, took: Duration) {
        let idx = decision.kind().index() * Reason::ALL.len() + decision.reason().index();
        if let Some(slot) = self.by_decision.get(idx) {
            let labels = [decision.kind().as_str(), decision.reason().as_str()];
            slot.get_or_init(|| self.requests.with_label_values(&labels))
                .inc();
        }
        self.decision_seconds.observe(took.as_secs_f64());
    }

    /// One TLS connection whose ClientHello fingerprints as `ja4`.
    pub fn tls_hello(&self, ja4: &str) {
        let mut seen = self
            .ja4_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = seen.contains(ja4) || (seen.len() < MAX_JA4_SERIES && seen.insert(ja4.into()));
        let label = if known { ja4 } else { "other" };
        self.tls_hellos.with_label_values(&[label]).inc();
    }

    pub fn score(&self, score: &Score) {
        self.score.observe(f64::from(score.value));
        for s in score.signals.iter() {
            if let Some(c) = self.signals.get(s as usize) {
                c.inc();
            }
        }
    }

    /// One crawler lookup's outcome: proved, disproved or unknown.
    pub fn crawler_lookup(&self, proved: Option<bool>) {
        let result = match proved {
            Some(true) => "verified",
            Some(false) => "refused",
            None => "unknown",
        };
        self.crawler_lookups.with_label_values(&[result]).inc();
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// A connection closed before its request was complete; `reason` is one of a fixed few.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }

    pub fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .inc();
    }

    /// The text exposition, with gauges read from the engine now.
    pub fn render(&self, engine: &Engine) -> Vec<u8> {
        let s = engine.stats();
        self.active_bans.set(s.active_bans as i64);
        self.ban_records.set(s.ban_records as i64);
        self.tracked_keys.set(s.tracked_keys as i64);
        self.solved_challenges.set(s.solved_challenges as i64);
        self.evicted_keys.set(s.evicted_keys as i64);
        self.under_attack
            .set(i64::from(engine.attack_status().engaged));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}
