//! The fleet's meter: with exact limits (`[fleet] limits = "exact"`), a request the route's
//! limit would count is metered by the store first. Asked right after routing, before anything
//! counts the request here, since the front end decides it again with the reading and it must
//! count once. Not asked for what never meets that limit: tollgate's own endpoints, allow and
//! deny routes, proved or disproved crawlers, targets refused as malformed. (A request the
//! extreme-rate counter then bans has spent its place in the store's bucket: it was over every
//! limit anyway.)

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{crawler, Trip};
use crate::fleet::{Meter, Metered};
use crate::limit::limiter::Limiter;
use crate::request::Action;
use crate::toll::PREFIX;
use crate::verdict::{Decision, Reason};

/// The store's reading of one limit.
pub(super) struct Reading {
    counter: Arc<str>,
    metered: Metered,
}

impl Reading {
    pub fn of(meter: &Meter, metered: Metered) -> Self {
        Self {
            counter: meter.counter().into(),
            metered,
        }
    }
}

impl Trip<'_, '_> {
    /// Asks for the store's reading of the route's limit, when the fleet meters it and this
    /// request would meet it.
    pub(super) fn fleet_meter(&self) -> ControlFlow<Decision> {
        let ordinary = matches!(self.claim, None | Some(crawler::Claim::Visitor));
        if self.reading.is_some()
            || !self.state.exact_limits.load(Ordering::Relaxed)
            || !ordinary
            || self.path.starts_with(PREFIX)
            || self.target_refusal().is_some()
        {
            return Continue(());
        }
        let (Action::Limit | Action::Challenge, Some(limiter)) = self.route_rule() else {
            return Continue(());
        };
        let Some(counter) = limiter.shared_name() else {
            return Continue(());
        };
        let meter = Meter::new(counter, *self.ask.key, limiter.quota());
        Break(Decision::Meter {
            reason: Reason::FleetMeter,
            meter: Box::new(meter),
        })
    }

    /// Counts the request against `limiter`: by the store's reading when the store metered
    /// this limit (a pass is copied into the local bucket, which decides while the store is
    /// away), else by the local bucket.
    pub(super) fn limit_check(&self, limiter: &Limiter) -> Result<(), Duration> {
        let (key, now) = (self.ask.key, self.ask.now_ns);
        match &self.reading {
            Some(r) if limiter.name() == Some(&*r.counter) => match r.metered {
                Metered::Within => {
                    limiter.charge(key, 1, now);
                    Ok(())
                }
                Metered::Over(wait) => Err(wait),
                Metered::Unknown => limiter.check(key, now),
            },
            _ => limiter.check(key, now),
        }
    }
}
