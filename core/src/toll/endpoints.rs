//! Tollgate's own endpoints under [`PREFIX`](super::PREFIX): the solver scripts, the JSON offer,
//! `verify` (answer in, clearance out) and the CSP report sink; and the challenge they issue.

use super::page::{self, CSP_PATH, OFFER_PATH, SCRIPT_PATH, VERIFY_PATH, WAIT_PATH};
use super::page::{WASM_PATH, WASM_SIMD_PATH, WORKER_PATH};
use super::pow::{self, IssueParams, PowError, Solved};
use super::replay::Insert;
use super::{clearance, Ask, Clearance, Keyring, Tolls};
use crate::request::route::first_match;
use crate::request::{RequestView, RouteId};
use crate::score::evidence;
use crate::score::{Signal, Signals};
use crate::verdict::{Asset, ChallengePage, Claim, Decision, Grant, Lang, Reason};

impl Tolls {
    /// A request under the reserved prefix (`path` canonical).
    pub fn endpoint(&self, ask: &mut Ask<'_, '_>, path: &str) -> Decision {
        let read_only = matches!(ask.req.method, "GET" | "HEAD");
        match path {
            SCRIPT_PATH if read_only => serve(Asset::ChallengeScript),
            WORKER_PATH if read_only => serve(Asset::WorkerScript),
            WASM_PATH if read_only => serve(Asset::SearchWasm),
            WASM_SIMD_PATH if read_only => serve(Asset::SearchWasmSimd),
            OFFER_PATH if read_only => self.offer(ask),
            VERIFY_PATH if read_only => self.verify(ask),
            WAIT_PATH if read_only => self.wait(ask),
            CSP_PATH if ask.req.method == "POST" => self.csp_report(ask),
            SCRIPT_PATH | WORKER_PATH | WASM_PATH | WASM_SIMD_PATH | OFFER_PATH | VERIFY_PATH
            | WAIT_PATH | CSP_PATH => Decision::deny(405, Reason::UnknownEndpoint),
            _ => Decision::deny(404, Reason::UnknownEndpoint),
        }
    }

    /// `GET /.tollgate/challenge?return=/path`: the challenge for that path, as JSON.
    fn offer(&self, ask: &Ask<'_, '_>) -> Decision {
        let target = page::local_return(&query_value(ask.req.query, "return").unwrap_or_default());
        let route = route_of(ask, &target);
        if self.below_floor(ask) {
            return Decision::deny(403, Reason::ScoreTooLow);
        }
        let mut d = self.challenge(ask, route, target, Reason::Endpoint);
        if let Decision::Challenge { page, .. } = &mut d {
            page.json = true;
        }
        d
    }

    /// `GET /.tollgate/verify?challenge=…&nonce=…&return=…`.
    fn verify(&self, ask: &mut Ask<'_, '_>) -> Decision {
        let q = ask.req.query;
        let token = query_value(q, "challenge");
        let nonce = query_value(q, "nonce").and_then(|n| n.parse::<u64>().ok());
        let back = page::local_return(&query_value(q, "return").unwrap_or_default());
        let (Some(token), Some(nonce)) = (token, nonce) else {
            return Decision::deny(400, Reason::ChallengeInvalid);
        };
        let keys = self.keys.load();
        let solved = match pow::check(&keys, &token, nonce, &ask.binding(), ask.now_secs()) {
            Ok(s) => s,
            // Honest staleness, never an offence: a fresh challenge for the page, at the price
            // of the client's band (a dual-stack client whose address family changed between
            // the challenge and the answer lands here).
            Err(e @ (PowError::Expired | PowError::OtherClient | PowError::UnknownKey)) => {
                let reason = match e {
                    PowError::Expired => Reason::ChallengeExpired,
                    _ => Reason::ChallengeInvalid,
                };
                let route = route_of(ask, &back);
                return self.challenge(ask, route, back, reason);
            }
            Err(e) => {
                self.offence(ask);
                let reason = match e {
                    PowError::WrongAnswer => Reason::ChallengeFailed,
                    _ => Reason::ChallengeInvalid,
                };
                return Decision::deny(403, reason);
            }
        };
        self.accept(ask, &keys, &solved, back)
    }

    /// A correct answer. The token names its route: the answer must be worth what that route
    /// asks of this client now, whichever route (or endpoint) the puzzle was fetched for, and
    /// whatever offences the client committed since. Checked before the answer is used up: an
    /// answer refused here is not spent, and the offences of concurrent replays of the same
    /// answer (which can only follow its use) cannot price the first submission out. (A
    /// replay still checking its price while another copy records its offence may be refused
    /// as too easy instead: either way it does not pass.)
    fn accept(
        &self,
        ask: &mut Ask<'_, '_>,
        keys: &Keyring,
        solved: &Solved,
        back: String,
    ) -> Decision {
        if self.replay.contains(&solved.id, solved.expires_unix_secs) {
            return self.replayed(ask);
        }
        let route = ask.rules.route_named(&solved.route);
        if solved.issued_ns < self.replay_since_ns {
            // Issued before a restart: its first use may be forgotten. A fresh one, no penalty.
            return self.challenge(ask, route, back, Reason::ChallengeExpired);
        }
        if let Some(sr) = &ask.rules.score {
            ask.score = Some(sr.score(self.answer_signals(ask, solved)));
        }
        if self.below_floor(ask) {
            return Decision::deny(403, Reason::ScoreTooLow);
        }
        let required = self.required(ask, route);
        let enough =
            solved.puzzle.kind() == required.kind() && solved.puzzle.param() >= required.param();
        if !enough {
            return self.challenge(ask, route, back, Reason::ChallengeTooEasy);
        }
        // One key cannot fill the replay cache for everyone: past its share it alone waits.
        if let Some(l) = ask.limiters.solved {
            if l.check(ask.key, ask.now_ns).is_err() {
                return Decision::deny(429, Reason::ChallengeBusy);
            }
        }
        // Of concurrent submissions of one answer, exactly one gets past this line.
        match self
            .replay
            .insert(solved.id, solved.expires_unix_secs, ask.now_secs())
        {
            Insert::New if ask.fleet => {
                let then = self.grant(ask, keys, solved, back);
                let claim = Claim::new(solved.id, solved.expires_unix_secs, *ask.key, then);
                Decision::Claim {
                    reason: Reason::AnswerClaim,
                    claim: Box::new(claim),
                }
            }
            Insert::New => self.grant(ask, keys, solved, back),
            Insert::Replayed => self.replayed(ask),
            Insert::Full => Decision::deny(503, Reason::ChallengeBusy),
        }
    }

    fn replayed(&self, ask: &Ask<'_, '_>) -> Decision {
        self.offence(ask);
        Decision::deny(403, Reason::ChallengeReplayed)
    }

    /// A clearance for an accepted answer, worth its puzzle's work (at least 1 bit: 0 is a
    /// clearance paid in time).
    fn grant(&self, ask: &Ask<'_, '_>, keys: &Keyring, solved: &Solved, back: String) -> Decision {
        let paid = Paid {
            serial: solved.id,
            work_bits: solved.puzzle.work_bits().max(1),
            budget: ask.rules.clearance.budget,
            reason: Reason::ChallengePassed,
        };
        self.clearance_for(ask, keys, paid, back)
    }

    /// The cookie for what a client paid. A client that keeps collecting clearances (rather
    /// than using one) pays more for the next.
    pub(super) fn clearance_for(
        &self,
        ask: &Ask<'_, '_>,
        keys: &Keyring,
        paid: Paid,
        back: String,
    ) -> Decision {
        if let Some(l) = ask.limiters.grants {
            if l.check(ask.key, ask.now_ns).is_err() {
                self.offence(ask);
            }
        }
        let rules = &ask.rules.clearance;
        let now = ask.now_secs();
        let c = Clearance {
            issued_unix_secs: now,
            expires_unix_secs: now.saturating_add(rules.ttl_secs),
            budget: paid.budget,
            work_bits: paid.work_bits,
            serial: paid.serial,
        };
        Decision::Pass {
            reason: paid.reason,
            grant: Box::new(Grant {
                cookie: clearance::mint(keys, &c, &ask.binding()),
                max_age_secs: rules.ttl_secs,
                secure: ask.https(),
                location: back,
            }),
        }
    }

    /// A fresh challenge for `route` (else the `[challenge]` default), priced for this client.
    pub(super) fn challenge(
        &self,
        ask: &Ask<'_, '_>,
        route: Option<RouteId>,
        return_to: String,
        reason: Reason,
    ) -> Decision {
        let rules = ask.rules;
        let puzzle = self.required(ask, route);
        let route = route.and_then(|id| rules.route(id));
        let nojs_wait_secs = route
            .filter(|r| r.nojs_wait)
            .map(|_| rules.challenge.nojs_wait_secs);
        // The answer is scored with what was seen now (signed into the token), not what the
        // answering request shows: a page's script fetches differently from a navigation.
        let seen = ask
            .score
            .map_or(Signals::EMPTY, |s| s.signals.request_side());
        let offer = pow::issue(
            &self.keys.load(),
            &IssueParams {
                puzzle,
                route: route.map_or("-", |r| &r.name),
                binding: ask.binding(),
                now_secs: ask.now_secs(),
                ttl_secs: rules.challenge.ttl_secs,
                serial: self.next_serial(ask.now_ns),
                signals: seen.bits(),
            },
        );
        Decision::Challenge {
            reason,
            page: Box::new(ChallengePage {
                offer,
                return_to,
                lang: Lang::negotiate(ask.req.accept_language),
                json: false,
                secure: ask.https(),
                scored: rules.score.is_some(),
                expire_clearance: false,
                nojs_wait_secs,
            }),
        }
    }

    /// The signals an answer is scored by: those seen when its challenge was issued, what the
    /// page sent with it, and whether the site is under attack now.
    fn answer_signals(&self, ask: &Ask<'_, '_>, solved: &Solved) -> Signals {
        let reported = self.reports.contains(&solved.id, solved.expires_unix_secs);
        let mut s = Signals::from_bits(solved.signals).union(evidence::answer_signals(
            ask.req,
            &solved.probe,
            reported,
        ));
        let engaged = ask.score.map(|x| x.signals.has(Signal::UnderAttack));
        s.add_if(engaged == Some(true), Signal::UnderAttack);
        s
    }

    /// `POST /.tollgate/csp?c=<challenge token>`: the page's deliberate CSP violation, reported
    /// by the browser. Recorded when it names a live challenge of this client.
    fn csp_report(&self, ask: &Ask<'_, '_>) -> Decision {
        if ask.rules.score.is_none() {
            return Decision::deny(404, Reason::UnknownEndpoint);
        }
        if !evidence::is_csp_report(ask.req.content_type) {
            return Decision::deny(415, Reason::ChallengeInvalid);
        }
        let Some(token) = query_value(ask.req.query, "c") else {
            return Decision::deny(400, Reason::ChallengeInvalid);
        };
        let keys = self.keys.load();
        match pow::open_token(&keys, &token, &ask.binding(), ask.now_secs()) {
            Ok(t) => {
                // A full store only loses a bonus: nothing to refuse.
                let _ = self
                    .reports
                    .insert(t.id, t.expires_unix_secs, ask.now_secs());
                Decision::Serve {
                    reason: Reason::CspReport,
                    asset: Asset::Accepted,
                }
            }
            Err(_) => Decision::deny(400, Reason::ChallengeInvalid),
        }
    }
}

fn serve(asset: Asset) -> Decision {
    Decision::Serve {
        reason: Reason::Endpoint,
        asset,
    }
}

/// What a clearance is granted for: one challenge (its serial), by work or by waiting.
pub(super) struct Paid {
    pub serial: [u8; 16],
    pub work_bits: u32,
    pub budget: u32,
    pub reason: Reason,
}

/// The first value of `name` in a query string, percent-decoded.
pub(super) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?;
    if q.len() > 8_192 {
        return None;
    }
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The route a local return target (path and query) would take.
pub(super) fn route_of(ask: &Ask<'_, '_>, target: &str) -> Option<RouteId> {
    let path = target.split('?').next().unwrap_or("/");
    let probe = RequestView {
        path,
        routed_path: None,
        ..ask.req.clone()
    };
    first_match(&ask.rules.routes, &probe)
}
