//! The toll itself: clearance checks on challenge routes, and tollgate's reserved endpoints.
//!
//! On a challenge route, a client with a valid clearance cookie (right client, unexpired, budget
//! and rate left) passes; anyone else gets a fresh challenge, harder if its key has been failing,
//! replaying or burning clearances. Under [`page::PREFIX`] the core answers by itself: the solver
//! scripts, a JSON challenge for API clients, and `verify`, which checks an answer, records it as
//! used, and grants the cookie.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::clearance::{self, Clearance, ClearanceError, Usage};
use crate::clock::NS_PER_SEC;
use crate::decision::{Asset, ChallengePage, Decision, Grant, Reason};
use crate::engine::Active;
use crate::evidence;
use crate::key::ClientKey;
use crate::page::{self, Lang};
use crate::penalty::Penalties;
use crate::pow::{self, Binding, IssueParams, PowError, Puzzle, Solved};
use crate::replay::{Insert, ReplayCache};
use crate::request::RequestView;
use crate::route::first_match;
use crate::rules::{Mode, Rules};
use crate::score::Score;
use crate::secret::Keyring;
use crate::signal::{Signal, Signals};

/// State the toll keeps: keys, used answers, penalties, clearance spending.
#[derive(Debug)]
pub(crate) struct Tolls {
    pub keys: ArcSwap<Keyring>,
    pub replay: ReplayCache,
    /// Challenges whose page sent its CSP report.
    pub reports: ReplayCache,
    pub penalties: Penalties,
    pub usage: Usage,
    serial: AtomicU64,
}

/// One request, as the toll sees it.
pub(crate) struct Ask<'a, 'r> {
    pub active: &'a Active,
    pub req: &'a RequestView<'r>,
    pub key: &'a ClientKey,
    pub now_ns: u64,
    /// The environment score (`[score]` on); `verify` replaces it with the answer's.
    pub score: Cell<Option<Score>>,
}

impl Ask<'_, '_> {
    fn rules(&self) -> &Rules {
        &self.active.rules
    }

    fn now_secs(&self) -> u64 {
        self.now_ns / NS_PER_SEC
    }

    fn binding(&self) -> Binding {
        Binding::new(self.key, self.req.user_agent)
    }

    /// The path and query the client asked for, as a safe place to return to.
    fn here(&self) -> String {
        let path = match self.req.query {
            Some(q) => format!("{}?{q}", self.req.path),
            None => self.req.path.to_string(),
        };
        page::local_return(&path)
    }
}

impl Tolls {
    pub fn new(
        keys: Keyring,
        replay: ReplayCache,
        reports: ReplayCache,
        penalties: Penalties,
        usage: Usage,
        clock_ns: u64,
    ) -> Self {
        Self {
            keys: ArcSwap::from_pointee(keys),
            replay,
            reports,
            penalties,
            usage,
            serial: AtomicU64::new(clock_ns),
        }
    }

    /// A challenge route after its rate limit: pass with a clearance, else pay.
    pub fn admit(&self, ask: &Ask<'_, '_>, route: usize) -> Decision {
        let keys = self.keys.load();
        let Some(value) = clearance::cookie(ask.req.cookie, clearance::COOKIE) else {
            return self.unpaid(ask, route, Reason::RouteChallenge);
        };
        // What this route asks of this client's band now, penalties aside: a clearance paid in
        // the trusted band stays good while the client still looks trusted.
        let needed = self
            .base_puzzle(ask.rules(), Some(route))
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
    fn unpaid(&self, ask: &Ask<'_, '_>, route: usize, reason: Reason) -> Decision {
        let rules = ask.rules();
        if self.below_floor(ask) {
            return deny(403, Reason::ScoreTooLow);
        }
        if let (Some(sr), Some(score)) = (&rules.score, ask.score.get()) {
            let passes =
                sr.band(score.value).is_some_and(|b| b.pass) && score.signals.consistent_browser();
            let allowed = rules.routes.get(route).is_some_and(|r| r.pass_on_score);
            if passes && allowed && self.penalty_steps(ask) == 0 {
                return Decision::Allow {
                    reason: Reason::ScorePass,
                };
            }
        }
        self.challenge(ask, Some(route), ask.here(), reason)
    }

    /// The puzzle route `route` asks for before penalties (the `[challenge]` default if none).
    fn base_puzzle(&self, rules: &Rules, route: Option<usize>) -> Puzzle {
        route
            .and_then(|i| rules.routes.get(i))
            .and_then(|r| r.puzzle)
            .unwrap_or(rules.challenge.puzzle)
    }

    /// The puzzle client `ask` must solve for `route` now: the base, harder by its penalty,
    /// easier or harder by its score's band.
    fn required(&self, ask: &Ask<'_, '_>, route: Option<usize>) -> Puzzle {
        let steps = i32::try_from(self.penalty_steps(ask)).unwrap_or(i32::MAX);
        self.base_puzzle(ask.rules(), route)
            .adjust(steps.saturating_add(self.band_steps(ask)))
    }

    /// The client's current score (the request's, or its answer's in `verify`) is below the
    /// floor. False without scoring.
    fn below_floor(&self, ask: &Ask<'_, '_>) -> bool {
        match (&ask.rules().score, ask.score.get()) {
            (Some(sr), Some(score)) => score.value < sr.floor,
            _ => false,
        }
    }

    /// Doublings (or halvings) the client's score band adds; 0 without scoring. Only a
    /// consistent browser without a penalty gets a discount: a script sending the right headers
    /// cannot, and a discount never cancels an offence.
    fn band_steps(&self, ask: &Ask<'_, '_>) -> i32 {
        let (Some(sr), Some(score)) = (&ask.rules().score, ask.score.get()) else {
            return 0;
        };
        let steps = sr.band(score.value).map_or(0, |b| b.extra_difficulty);
        if steps < 0 && (!score.signals.consistent_browser() || self.penalty_steps(ask) > 0) {
            0
        } else {
            steps
        }
    }

    /// Doublings the client's offences add, capped.
    fn penalty_steps(&self, ask: &Ask<'_, '_>) -> u32 {
        let c = &ask.rules().challenge;
        self.penalties
            .steps(ask.key, ask.now_ns, c.penalty_decay_secs * NS_PER_SEC)
            .min(c.max_extra_steps)
    }

    /// Counts one request against the clearance's budget and rate.
    fn spend(&self, ask: &Ask<'_, '_>, c: &Clearance) -> bool {
        let within_rate = match &ask.active.limiters.clearance {
            Some(l) => l
                .check(&ClientKey::from_bytes(c.serial), ask.now_ns)
                .is_ok(),
            None => true,
        };
        within_rate && self.usage.spend(c, ask.now_ns)
    }

    /// A request under the reserved prefix (`path` normalized).
    pub fn endpoint(&self, ask: &Ask<'_, '_>, path: &str) -> Decision {
        let read_only = matches!(ask.req.method, "GET" | "HEAD");
        match path {
            page::SCRIPT_PATH if read_only => serve(Asset::ChallengeScript),
            page::WORKER_PATH if read_only => serve(Asset::WorkerScript),
            page::OFFER_PATH if read_only => self.offer(ask),
            page::VERIFY_PATH if read_only => self.verify(ask),
            page::CSP_PATH if ask.req.method == "POST" => self.csp_report(ask),
            page::SCRIPT_PATH
            | page::WORKER_PATH
            | page::OFFER_PATH
            | page::VERIFY_PATH
            | page::CSP_PATH => Decision::Deny {
                status: 405,
                reason: Reason::UnknownEndpoint,
            },
            _ => Decision::Deny {
                status: 404,
                reason: Reason::UnknownEndpoint,
            },
        }
    }

    /// `GET /.tollgate/challenge?return=/path`: the challenge for that path, as JSON.
    fn offer(&self, ask: &Ask<'_, '_>) -> Decision {
        let target = page::local_return(&query_value(ask.req.query, "return").unwrap_or_default());
        let path = target.split('?').next().unwrap_or("/");
        let probe = RequestView {
            path,
            ..ask.req.clone()
        };
        let route = first_match(&ask.rules().routes, &probe);
        if self.below_floor(ask) {
            return deny(403, Reason::ScoreTooLow);
        }
        let mut d = self.challenge(ask, route, target, Reason::Endpoint);
        if let Decision::Challenge { page, .. } = &mut d {
            page.json = true;
        }
        d
    }

    /// `GET /.tollgate/verify?challenge=…&nonce=…&return=…`.
    fn verify(&self, ask: &Ask<'_, '_>) -> Decision {
        let q = ask.req.query;
        let token = query_value(q, "challenge");
        let nonce = query_value(q, "nonce").and_then(|n| n.parse::<u64>().ok());
        let back = page::local_return(&query_value(q, "return").unwrap_or_default());
        let (Some(token), Some(nonce)) = (token, nonce) else {
            return deny(400, Reason::ChallengeInvalid);
        };
        let keys = self.keys.load();
        let solved = match pow::check(&keys, &token, nonce, &ask.binding(), ask.now_secs()) {
            Ok(s) => s,
            Err(PowError::Expired) => {
                return self.challenge(ask, None, back, Reason::ChallengeExpired);
            }
            Err(e) => {
                self.offence(ask);
                let reason = match e {
                    PowError::WrongAnswer => Reason::ChallengeFailed,
                    _ => Reason::ChallengeInvalid,
                };
                return deny(403, reason);
            }
        };
        // Used up first, so of concurrent submissions exactly one gets past this line.
        match self
            .replay
            .insert(solved.id, solved.expires_unix_secs, ask.now_secs())
        {
            Insert::New => {}
            Insert::Replayed => {
                self.offence(ask);
                return deny(403, Reason::ChallengeReplayed);
            }
            Insert::Full => return deny(503, Reason::ChallengeBusy),
        }
        // The token names its route: the answer must be worth what that route asks of this
        // client now, whichever route (or endpoint) the puzzle was fetched for, and whatever
        // offences the client committed since.
        let route = ask
            .rules()
            .routes
            .iter()
            .position(|r| *r.name == solved.route);
        if let Some(sr) = &ask.rules().score {
            ask.score
                .set(Some(sr.score(self.answer_signals(ask, &solved))));
        }
        if self.below_floor(ask) {
            return deny(403, Reason::ScoreTooLow);
        }
        let required = self.required(ask, route);
        let enough =
            solved.puzzle.kind() == required.kind() && solved.puzzle.param() >= required.param();
        if !enough {
            return self.challenge(ask, route, back, Reason::ChallengeTooEasy);
        }
        self.grant(ask, &keys, &solved, back)
    }

    /// A clearance for an accepted answer. A client that keeps collecting clearances (rather
    /// than using one) pays more for the next.
    fn grant(&self, ask: &Ask<'_, '_>, keys: &Keyring, solved: &Solved, back: String) -> Decision {
        if let Some(l) = &ask.active.limiters.grants {
            if l.check(ask.key, ask.now_ns).is_err() {
                self.offence(ask);
            }
        }
        let rules = &ask.rules().clearance;
        let now = ask.now_secs();
        let c = Clearance {
            issued_unix_secs: now,
            expires_unix_secs: now.saturating_add(rules.ttl_secs),
            budget: rules.budget,
            work_bits: solved.puzzle.work_bits(),
            serial: solved.id,
        };
        Decision::Pass {
            reason: Reason::ChallengePassed,
            grant: Box::new(Grant {
                cookie: clearance::mint(keys, &c, &ask.binding()),
                max_age_secs: rules.ttl_secs,
                secure: ask.req.conn.tls,
                location: back,
            }),
        }
    }

    /// A fresh challenge for route `route` (else the `[challenge]` default), made harder by the
    /// client's penalty.
    fn challenge(
        &self,
        ask: &Ask<'_, '_>,
        route: Option<usize>,
        return_to: String,
        reason: Reason,
    ) -> Decision {
        let rules = ask.rules();
        let puzzle = self.required(ask, route);
        let route = route.and_then(|i| rules.routes.get(i));
        // The answer is scored with what was seen now (signed into the token), not what the
        // answering request shows: a page's script fetches differently from a navigation.
        let seen = ask
            .score
            .get()
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
                secure: ask.req.conn.tls,
                scored: rules.score.is_some(),
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
        let engaged = ask.score.get().map(|x| x.signals.has(Signal::UnderAttack));
        s.add_if(engaged == Some(true), Signal::UnderAttack);
        s
    }

    /// `POST /.tollgate/csp?c=<challenge token>`: the page's deliberate CSP violation, reported
    /// by the browser. Recorded when it names a live challenge of this client.
    fn csp_report(&self, ask: &Ask<'_, '_>) -> Decision {
        if ask.rules().score.is_none() {
            return deny(404, Reason::UnknownEndpoint);
        }
        if !evidence::is_csp_report(ask.req.content_type) {
            return deny(415, Reason::ChallengeInvalid);
        }
        let Some(token) = query_value(ask.req.query, "c") else {
            return deny(400, Reason::ChallengeInvalid);
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
            Err(_) => deny(400, Reason::ChallengeInvalid),
        }
    }

    /// Unique per issued challenge: the clock and a counter.
    fn next_serial(&self, now_ns: u64) -> [u8; 16] {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut s = [0u8; 16];
        s[..8].copy_from_slice(&now_ns.to_be_bytes());
        s[8..].copy_from_slice(&n.to_be_bytes());
        s
    }

    /// The client misbehaved: its next puzzles are harder. Not recorded in observe mode.
    fn offence(&self, ask: &Ask<'_, '_>) {
        let c = &ask.rules().challenge;
        if ask.rules().mode == Mode::Enforce && c.max_extra_steps > 0 {
            let decay = c.penalty_decay_secs * NS_PER_SEC;
            self.penalties
                .record(ask.key, ask.now_ns, decay, c.max_extra_steps);
        }
    }
}

fn serve(asset: Asset) -> Decision {
    Decision::Serve {
        reason: Reason::Endpoint,
        asset,
    }
}

fn deny(status: u16, reason: Reason) -> Decision {
    Decision::Deny { status, reason }
}

/// The first value of `name` in a query string, percent-decoded.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?;
    if q.len() > 8_192 {
        return None;
    }
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Mints a clearance cookie value for `ip` and `user_agent` under `rules`, as `tollgate token`
/// does for load tests and monitoring. `serial` must be unique per minted cookie.
pub fn mint_clearance(
    keys: &Keyring,
    rules: &Rules,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
    grant: &Clearance,
) -> String {
    let key = ClientKey::new(
        ip,
        rules.clients.ipv4_prefix_len,
        rules.clients.ipv6_prefix_len,
    );
    clearance::mint(keys, grant, &Binding::new(&key, user_agent))
}

/// The most work any challenge route of `rules` asks for: what a minted clearance (see
/// [`mint_clearance`]) claims, so it opens every route.
pub fn hardest_work_bits(rules: &Rules) -> u32 {
    let routes = rules.routes.iter().filter_map(|r| r.puzzle);
    routes
        .map(|p| p.work_bits())
        .fold(rules.challenge.puzzle.work_bits(), u32::max)
}
