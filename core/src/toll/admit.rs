//! A challenge route after its rate limit: pass with a clearance or a good score, else pay.

use super::clearance::{self, cookie_name, Clearance, ClearanceError, WAITED};
use super::{Ask, Tolls};
use crate::request::cookie::cookie_values;
use crate::request::{client, ClientKey, HttpVersion, RouteId};
use crate::verdict::{Decision, Reason};

/// Clearance cookies checked per request: a browser sends one or two; a flood of planted ones
/// must not buy a flood of MAC checks.
const MAX_COOKIES_CHECKED: usize = 4;

/// Why a presented clearance did not clear, best first: the one shown is the best of all the
/// values sent, so a planted cookie never hides a real one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Unusable {
    /// Good, but paid for a cheaper route: kept.
    TooWeak,
    Spent,
    Expired,
    /// Ours but not this client's, signed with a retired key, or not a cookie at all.
    Stale,
    /// A bad MAC under a key we hold: the only offence.
    Forged,
}

impl Unusable {
    fn of(e: ClearanceError) -> Self {
        match e {
            ClearanceError::Expired => Self::Expired,
            ClearanceError::Forged => Self::Forged,
            ClearanceError::Malformed
            | ClearanceError::OtherClient
            | ClearanceError::UnknownKey => Self::Stale,
        }
    }

    fn reason(self) -> Reason {
        match self {
            Self::TooWeak => Reason::ClearanceTooWeak,
            Self::Spent => Reason::ClearanceSpent,
            Self::Expired => Reason::ClearanceExpired,
            Self::Stale | Self::Forged => Reason::ClearanceInvalid,
        }
    }
}

impl Tolls {
    /// A challenge route `route` whose rate limit the client is within. Any clearance value
    /// that verifies lets the request through; when none does, only forgery is an offence
    /// (staleness is honest), and the challenge expires the dead cookie.
    pub fn admit(&self, ask: &Ask<'_, '_>, route: RouteId) -> Decision {
        let keys = self.keys.load();
        // What this route asks of this client's band now, penalties aside: a clearance paid in
        // the trusted band stays good while the client still looks trusted.
        let needed = self
            .base_puzzle(ask.rules, Some(route))
            .adjust(self.band_steps(ask))
            .work_bits();
        let waits = ask.rules.route(route).is_some_and(|r| r.nojs_wait);
        let mut best: Option<Unusable> = None;
        let values = cookie_values(ask.req.cookie, cookie_name(ask.https()));
        for value in values.take(MAX_COOKIES_CHECKED) {
            let why = match clearance::check(&keys, value, &ask.binding(), ask.now_secs()) {
                Ok(c) if c.work_bits < needed && !(waits && c.work_bits == WAITED) => {
                    Unusable::TooWeak
                }
                Ok(c) if self.spend(ask, &c) => {
                    return Decision::Allow {
                        reason: Reason::Cleared,
                    }
                }
                Ok(_) => Unusable::Spent,
                Err(e) => Unusable::of(e),
            };
            best = Some(best.map_or(why, |b| b.min(why)));
        }
        let Some(best) = best else {
            return self.unpaid(ask, route, Reason::RouteChallenge);
        };
        if best == Unusable::Forged {
            self.offence(ask);
        }
        let mut d = self.unpaid(ask, route, best.reason());
        if let (Decision::Challenge { page, .. }, true) = (&mut d, best != Unusable::TooWeak) {
            page.expire_clearance = true;
        }
        d
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

    /// The client's band passes, the route allows passing on score, the client has no penalty,
    /// it came straight to us over TLS and HTTP/2 (headers alone are easy to copy; a cleartext
    /// or forwarded connection shows nothing else), and it is within its per-minute allowance
    /// of passes.
    fn passes_on_score(&self, ask: &Ask<'_, '_>, route: RouteId) -> bool {
        let (Some(sr), Some(score)) = (&ask.rules.score, ask.score) else {
            return false;
        };
        let passes =
            sr.band(score.value).is_some_and(|b| b.pass) && score.signals.consistent_browser();
        let allowed = ask.rules.route(route).is_some_and(|r| r.pass_on_score);
        let conn = &ask.req.conn;
        let direct = !client::connection_is_proxys(ask.req, &ask.rules.clients.trusted_proxies);
        let stack = conn.tls && conn.version >= HttpVersion::H2 && direct;
        let within = || {
            ask.limiters
                .passes
                .is_none_or(|l| l.check(ask.key, ask.now_ns).is_ok())
        };
        passes && allowed && stack && self.penalty_steps(ask) == 0 && within()
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
