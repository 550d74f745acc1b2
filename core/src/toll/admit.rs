//! A challenge route after its rate limit: pass with a clearance or a good score, else pay.

use super::clearance::{self, Clearance, ClearanceError, COOKIE};
use super::{Ask, Tolls};
use crate::request::cookie::cookie_value;
use crate::request::{ClientKey, RouteId};
use crate::verdict::{Decision, Reason};

impl Tolls {
    /// A challenge route `route` whose rate limit the client is within.
    pub fn admit(&self, ask: &Ask<'_, '_>, route: RouteId) -> Decision {
        let keys = self.keys.load();
        let Some(value) = cookie_value(ask.req.cookie, COOKIE) else {
            return self.unpaid(ask, route, Reason::RouteChallenge);
        };
        // What this route asks of this client's band now, penalties aside: a clearance paid in
        // the trusted band stays good while the client still looks trusted.
        let needed = self
            .base_puzzle(ask.rules, Some(route))
            .adjust(self.band_steps(ask))
            .work_bits();
        let reason = match clearance::check(&keys, value, &ask.binding(), ask.now_secs()) {
            Ok(c) if c.work_bits < needed => Reason::ClearanceTooWeak,
            Ok(c) if self.spend(ask, &c) => {
                return Decision::Allow {
                    reason: Reason::Cleared,
                }
            }
            Ok(_) => Reason::ClearanceSpent,
            Err(ClearanceError::Expired) => Reason::ClearanceExpired,
            Err(_) => Reason::ClearanceInvalid,
        };
        if matches!(reason, Reason::ClearanceSpent | Reason::ClearanceInvalid) {
            self.offence(ask);
        }
        self.unpaid(ask, route, reason)
    }

    /// A challenge route without a usable clearance: the score's band decides between passing
    /// (where the route allows it and the client has no penalty), refusing below the floor,
    /// and a challenge priced by the band.
    fn unpaid(&self, ask: &Ask<'_, '_>, route: RouteId, reason: Reason) -> Decision {
        if self.below_floor(ask) {
            return Decision::deny(403, Reason::ScoreTooLow);
        }
        if self.passes_on_score(ask, route) {
            return Decision::Allow {
                reason: Reason::ScorePass,
            };
        }
        self.challenge(ask, Some(route), ask.here(), reason)
    }

    /// The client's band passes, the route allows passing on score, and the client has no
    /// penalty.
    fn passes_on_score(&self, ask: &Ask<'_, '_>, route: RouteId) -> bool {
        let (Some(sr), Some(score)) = (&ask.rules.score, ask.score) else {
            return false;
        };
        let passes =
            sr.band(score.value).is_some_and(|b| b.pass) && score.signals.consistent_browser();
        let allowed = ask.rules.route(route).is_some_and(|r| r.pass_on_score);
        passes && allowed && self.penalty_steps(ask) == 0
    }

    /// Counts one request against the clearance's budget and rate.
    fn spend(&self, ask: &Ask<'_, '_>, c: &Clearance) -> bool {
        let within_rate = match ask.limiters.clearance {
            Some(l) => l
                .check(&ClientKey::from_bytes(c.serial), ask.now_ns)
                .is_ok(),
            None => true,
        };
        within_rate && self.usage.spend(c, ask.now_ns)
    }
}
