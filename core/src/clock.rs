//! The one clock the core reads.
//!
//! Time is wall-clock nanoseconds since the Unix epoch, so ban expiries can be persisted and shown
//! to operators as they are. Tests use a manual clock they advance by hand; governor's limiters run
//! on the same clock, so a test controls every time the core sees.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::nanos::Nanos;

/// System time, or a manual time for tests. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CoreClock {
    manual: Option<Arc<AtomicU64>>,
}

impl CoreClock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start_ns` until [`CoreClock::advance`] moves it.
    pub fn manual(start_ns: u64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicU64::new(start_ns))),
        }
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            let by_ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            t.fetch_add(by_ns, Ordering::Relaxed);
        }
    }

    /// Moves a manual clock back, as an NTP step moves the wall clock (never before the
    /// epoch); does nothing to the system clock.
    pub fn step_back(&self, by: Duration) {
        if let Some(t) = &self.manual {
            let by_ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            let back = |now: u64| Some(now.saturating_sub(by_ns));
            let _ = t.fetch_update(Ordering::Relaxed, Ordering::Relaxed, back);
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }
}

impl governor::clock::Clock for CoreClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.now_ns())
    }
}

/// Nanoseconds in one second, for unit conversions at the edges.
pub const NS_PER_SEC: u64 = 1_000_000_000;
