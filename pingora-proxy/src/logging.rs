//! Structured logs, and a budget so a flood cannot turn into a log flood.
//!
//! Each refusal is logged with its decision, reason, client and route, up to N lines per second;
//! Pingora's own per-connection warnings and errors (a reset, a failed handshake, a bad request)
//! draw on the same budget, so a flood turns into neither. Lines over budget are counted (metric
//! and a once-a-second summary line), never silently lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default level (info).
pub fn init(format: LogFormat, budget: Arc<LogBudget>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let budgeted = PingoraBudget(budget);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(budgeted)
            .try_init(),
        LogFormat::Text => builder.finish().with(budgeted).try_init(),
    };
}

/// Lets Pingora's warnings and errors through only within the log budget.
struct PingoraBudget(Arc<LogBudget>);

impl<S: Subscriber> Layer<S> for PingoraBudget {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        // Pingora logs through `log`; its records arrive with their real target normalized.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let pingora = meta.target().starts_with("pingora");
        !(pingora && *meta.level() <= Level::WARN) || self.0.take()
    }
}

/// Allows `per_sec` lines in each wall-clock second.
pub struct LogBudget {
    per_sec: u64,
    /// High 32 bits: the second; low 32 bits: lines used in it.
    window: AtomicU64,
    suppressed: AtomicU64,
}

impl LogBudget {
    pub fn new(per_sec: u64) -> Self {
        Self {
            per_sec,
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether one more line fits this second.
    pub fn take(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.take_at(now)
    }

    /// Whether one more line fits second `now_secs`.
    fn take_at(&self, now_secs: u64) -> bool {
        let now = now_secs & 0xFFFF_FFFF;
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (sec, used) = (cur >> 32, cur & 0xFFFF_FFFF);
            let next = if sec == now {
                (now << 32) | (used + 1)
            } else {
                (now << 32) | 1
            };
            if sec == now && used >= self.per_sec {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Lines suppressed since the last call.
    pub fn drain_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_caps_lines_per_second() {
        let b = LogBudget::new(3);
        let taken = (0..10).filter(|_| b.take_at(100)).count();
        assert_eq!(taken, 3, "exactly the cap within one second");
        assert_eq!(b.drain_suppressed(), 7);
        assert_eq!(b.drain_suppressed(), 0);
        let next = (0..10).filter(|_| b.take_at(101)).count();
        assert_eq!(next, 3, "a new second has the whole budget again");
    }
}
