//! Paying in time: a visitor without JavaScript on a `nojs = "wait"` route follows the page's
//! `<noscript>` refresh to `/.tollgate/wait`, which grants a clearance once the challenge is
//! `nojs_wait_secs` old. The link is the challenge token itself: signed, bound to the client,
//! expiring with the challenge, and used once (the same replay cache as answers, so one
//! challenge buys one clearance, by work or by time). The clearance is worth no work
//! ([`WAITED`]) and has the smaller `nojs_requests` budget, so it opens only waiting routes.

use super::clearance::WAITED;
use super::endpoints::{query_value, route_of, Paid};
use super::page;
use super::pow::{self, PowError};
use super::replay::Insert;
use super::{Ask, Tolls};
use crate::verdict::{Claim, Decision, Reason};

impl Tolls {
    /// `GET /.tollgate/wait?challenge=…&return=…`.
    pub(super) fn wait(&self, ask: &Ask<'_, '_>) -> Decision {
        let q = ask.req.query;
        let back = page::local_return(&query_value(q, "return").unwrap_or_default());
        let Some(token) = query_value(q, "challenge") else {
            return Decision::deny(400, Reason::ChallengeInvalid);
        };
        let keys = self.keys.load();
        let now = ask.now_secs();
        let opened = match pow::open_token(&keys, &token, &ask.binding(), now) {
            Ok(o) => o,
            Err(e @ (PowError::Expired | PowError::OtherClient | PowError::UnknownKey)) => {
                let reason = match e {
                    PowError::Expired => Reason::ChallengeExpired,
                    _ => Reason::ChallengeInvalid,
                };
                return self.challenge(ask, route_of(ask, &back), back, reason);
            }
            Err(_) => {
                self.offence(ask);
                return Decision::deny(403, Reason::ChallengeInvalid);
            }
        };
        let route = ask.rules.route_named(&opened.route);
        if !route
            .and_then(|id| ask.rules.route(id))
            .is_some_and(|r| r.nojs_wait)
        {
            // Only a waiting route's page carries the link: anything else is made up.
            self.offence(ask);
            return Decision::deny(403, Reason::ChallengeInvalid);
        }
        let ready = opened
            .issued_unix_secs
            .saturating_add(ask.rules.challenge.nojs_wait_secs);
        if now < ready {
            return self.challenge(ask, route, back, Reason::NojsTooEarly);
        }
        if let Some(l) = ask.limiters.solved {
            if l.check(ask.key, ask.now_ns).is_err() {
                return Decision::deny(429, Reason::ChallengeBusy);
            }
        }
        match self.replay.insert(opened.id, opened.expires_unix_secs, now) {
            Insert::New => {
                let paid = Paid {
                    serial: opened.id,
                    work_bits: WAITED,
                    budget: ask.rules.clearance.nojs_budget,
                    reason: Reason::NojsWaited,
                };
                let then = self.clearance_for(ask, &keys, paid, back);
                // In a fleet, once across it, like an answer (and under the same name).
                match ask.fleet {
                    true => Decision::Claim {
                        reason: Reason::AnswerClaim,
                        claim: Box::new(Claim::new(
                            opened.id,
                            opened.expires_unix_secs,
                            *ask.key,
                            then,
                        )),
                    },
                    false => then,
                }
            }
            Insert::Replayed => {
                self.offence(ask);
                Decision::deny(403, Reason::ChallengeReplayed)
            }
            Insert::Full => Decision::deny(503, Reason::ChallengeBusy),
        }
    }
}
