//! Per-client rate limits: governor's GCRA over the bounded [`KeyStore`].
//!
//! A [`Limiter`] is rebuilt on every reload (its quota may have changed) but keeps using the same
//! store, so a client's spent burst is remembered across reloads.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::{Quota as GQuota, RateLimiter};

use crate::clock::{CoreClock, NS_PER_SEC};
use crate::fleet::Tally;
use crate::limit::store::{KeyStore, StoreView};
use crate::request::key::ClientKey;

/// `requests` per `per_secs` seconds, with up to `burst` at once. Zero is unrepresentable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub requests: NonZeroU32,
    pub per_secs: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Quota {
    /// The deepest debt a client honestly reaches (a full burst), plus a second of slack for
    /// clock readings taken a little apart.
    fn max_debt_ns(self) -> u64 {
        self.period_ns()
            .saturating_mul(u64::from(self.burst.get()) + 1)
            .saturating_add(NS_PER_SEC)
    }

    /// The time one request costs: `per_secs` / `requests`, in nanoseconds.
    fn period_ns(self) -> u64 {
        u64::from(self.per_secs.get()) * NS_PER_SEC / u64::from(self.requests.get())
    }

    fn to_governor(self) -> GQuota {
        let period = Duration::from_nanos(self.period_ns().max(1));
        // with_period only fails on a zero period, excluded by `max(1)` above.
        GQuota::with_period(period)
            .unwrap_or_else(|| GQuota::per_second(self.requests))
            .allow_burst(self.burst)
    }
}

/// One quota applied to every client key, state in a shared store.
#[derive(Debug)]
pub struct Limiter {
    inner: RateLimiter<ClientKey, StoreView, CoreClock, NoOpMiddleware<Nanos>>,
    quota: Quota,
    store: Arc<KeyStore>,
    /// In a fleet: its store's name, and where its passes are counted for the others.
    shared: Option<(Arc<str>, Arc<Tally>)>,
}

impl Limiter {
    pub fn new(quota: Quota, store: Arc<KeyStore>, clock: &CoreClock) -> Self {
        // governor reads the clock again in `new`; under the system clock the two readings differ
        // by nanoseconds, which shifts remembered state by as much.
        let origin = clock.now_ns();
        let view = StoreView::new(store, origin, clock.clone(), quota.max_debt_ns());
        Self {
            inner: RateLimiter::new(quota.to_governor(), view.clone(), clock.clone()),
            quota,
            store: view.store().clone(),
            shared: None,
        }
    }

    /// Counts this limiter's passes in `tally` under `name`, for the fleet.
    pub fn shared_as(mut self, name: &str, tally: Arc<Tally>) -> Self {
        self.shared = Some((Arc::from(name), tally));
        self
    }

    /// The name the fleet knows this limiter by, when shared.
    pub fn name(&self) -> Option<&str> {
        self.shared.as_ref().map(|(n, _)| &**n)
    }

    /// The name the fleet knows this limiter by, as a counted reference.
    pub fn shared_name(&self) -> Option<Arc<str>> {
        self.shared.as_ref().map(|(n, _)| n.clone())
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Charges `n` requests other instances let through for `key`: its bucket fills as if they
    /// had come here (never past a full burst, so a key is not refused for longer than here).
    pub fn charge(&self, key: &ClientKey, n: u32, now_ns: u64) {
        let q = self.quota;
        let t = q.period_ns();
        let full = now_ns.saturating_add(t.saturating_mul(u64::from(q.burst.get())));
        let _ = self.store.update(
            key,
            || now_ns,
            |tat| {
                let from = tat.unwrap_or(now_ns).max(now_ns);
                let next = from
                    .saturating_add(t.saturating_mul(u64::from(n)))
                    .min(full);
                Ok::<_, std::convert::Infallible>(((), next))
            },
        );
    }

    /// Counts one request. `Err` carries how long until the next one would conform.
    pub fn check(&self, key: &ClientKey, now_ns: u64) -> Result<(), Duration> {
        StoreView::checking_at(now_ns, || self.inner.check_key(key))
            .map_err(|not_until| not_until.wait_time_from(now_ns.into()))?;
        if let Some((name, tally)) = &self.shared {
            tally.add(name, key, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn quota(requests: u32, per_secs: u32, burst: u32) -> Quota {
        Quota {
            requests: nz(requests),
            per_secs: nz(per_secs),
            burst: nz(burst),
        }
    }

    #[test]
    fn burst_then_limited_then_replenished() {
        let clock = CoreClock::manual(1_000 * NS_PER_SEC);
        let store = Arc::new(KeyStore::new(1_000));
        let lim = Limiter::new(quota(1, 1, 3), store, &clock);
        let key = ClientKey::new("192.0.2.1".parse::<IpAddr>().unwrap(), 32, 64);
        for _ in 0..3 {
            assert!(lim.check(&key, clock.now_ns()).is_ok());
        }
        let wait = lim.check(&key, clock.now_ns()).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        clock.advance(Duration::from_secs(1));
        assert!(lim.check(&key, clock.now_ns()).is_ok());
        assert!(lim.check(&key, clock.now_ns()).is_err());
    }

    /// A wall clock stepped back leaves every recent client's TAT ahead of the new time: past a
    /// full burst of debt, that is the step, not the client, and it is forgiven; a real debt
    /// (a step within it) is kept.
    #[test]
    fn a_clock_stepped_back_past_a_burst_forgives_the_debt_it_made_up() {
        let clock = CoreClock::manual(10_000 * NS_PER_SEC);
        let store = Arc::new(KeyStore::new(1_000));
        let lim = Limiter::new(quota(1, 1, 3), store, &clock);
        // (Back to before the limiter's creation, governor's time stands still: README.)
        clock.advance(Duration::from_secs(7_200));
        let key = ClientKey::new("192.0.2.1".parse::<IpAddr>().unwrap(), 32, 64);
        let spend = |n| (0..n).all(|_| lim.check(&key, clock.now_ns()).is_ok());
        assert!(spend(3) && !spend(1), "a burst of 3, then refused");
        clock.step_back(Duration::from_secs(2));
        assert!(
            !spend(1),
            "2 s back: within a burst's debt plus a second (5 s), still refused"
        );
        clock.step_back(Duration::from_secs(3_600));
        assert!(
            spend(3),
            "an hour back: the made-up debt is forgiven, a fresh burst"
        );
        assert!(!spend(1), "and the fresh burst is counted");
    }

    #[test]
    fn state_survives_a_rebuilt_limiter() {
        let clock = CoreClock::manual(5 * NS_PER_SEC);
        let store = Arc::new(KeyStore::new(1_000));
        let key = ClientKey::new("192.0.2.1".parse::<IpAddr>().unwrap(), 32, 64);
        let old = Limiter::new(quota(1, 10, 2), store.clone(), &clock);
        assert!(old.check(&key, clock.now_ns()).is_ok());
        assert!(old.check(&key, clock.now_ns()).is_ok());
        clock.advance(Duration::from_secs(1));
        let new = Limiter::new(quota(1, 10, 2), store, &clock);
        assert!(
            new.check(&key, clock.now_ns()).is_err(),
            "spent burst was forgotten"
        );
    }
}
