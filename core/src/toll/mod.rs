//! The toll: what a client pays on a challenge route, and tollgate's reserved endpoints.
//!
//! On a challenge route, a client with a valid clearance cookie (right client, unexpired, budget
//! and rate left) passes ([`admit`]); anyone else gets a fresh challenge, priced by the route,
//! the client's score band and its offences ([`price`]). Under [`PREFIX`] the core answers by
//! itself ([`endpoints`]): the solver scripts, a JSON challenge for API clients, `verify`, which
//! checks an answer, records it as used and grants the cookie, and the CSP report sink.
//!
//! Tokens are stateless and signed ([`pow`], [`clearance`], keys in [`secret`], framing in
//! [`wire`]); what must be remembered is bounded: used answers ([`replay`]), offences
//! ([`penalty`]) and clearance spending.

mod admit;
pub(crate) mod clearance;
mod endpoints;
pub(crate) mod locale;
mod mint;
pub(crate) mod page;
pub(crate) mod penalty;
pub(crate) mod pow;
mod price;
pub(crate) mod replay;
pub(crate) mod secret;
mod wait;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

pub use clearance::{
    check as check_clearance, cookie_name as clearance_cookie_name, mint as seal_clearance,
    Clearance, ClearanceError, COOKIE as CLEARANCE_COOKIE, SECURE_COOKIE,
};
pub use mint::{hardest_work_bits, mint_clearance};
pub use page::{OFFER_PATH, PREFIX, VERIFY_PATH};
pub use pow::{
    check as check_answer, issue as issue_challenge, Binding, IssueParams, Offer, PowError, Puzzle,
    Solved,
};
pub use secret::{Keyring, SecretError};

use crate::clock::NS_PER_SEC;
use crate::limit::limiter::Limiter;
use crate::request::{ClientKey, RequestView};
use crate::rules::{Mode, Rules};
use crate::score::Score;
use clearance::Usage;
use penalty::Penalties;
use replay::ReplayCache;

/// Longest a challenge may stay valid; the replay cache is sized for it.
pub const MAX_CHALLENGE_TTL_SECS: u64 = 3_600;

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
    /// Answers to challenges issued before this (the engine clock's nanoseconds, as in their
    /// serials) are not taken: the replay cache began then (this process started), so it could
    /// not tell their second use from the first. 0 for a shared region, which outlives the
    /// processes attached to it.
    replay_since_ns: u64,
}

/// The limiters the toll applies itself.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TollLimiters<'a> {
    /// Per clearance cookie (keyed by its serial).
    pub clearance: Option<&'a Limiter>,
    /// Clearances granted per client key.
    pub grants: Option<&'a Limiter>,
    /// Passes on score per client key.
    pub passes: Option<&'a Limiter>,
    /// Accepted answers per client key and challenge lifetime.
    pub solved: Option<&'a Limiter>,
}

/// One request, as the toll sees it.
pub(crate) struct Ask<'a, 'r> {
    pub rules: &'a Rules,
    pub limiters: TollLimiters<'a>,
    pub req: &'a RequestView<'r>,
    pub key: &'a ClientKey,
    pub now_ns: u64,
    /// The environment score (`[score]` on); `verify` replaces it with the answer's.
    pub score: Option<Score>,
    /// The front end shares one-time answers with a fleet: a first answer is claimed there.
    pub fleet: bool,
}

impl Ask<'_, '_> {
    fn now_secs(&self) -> u64 {
        self.now_ns / NS_PER_SEC
    }

    /// The client's connection is HTTPS (at tollgate, or as a trusted proxy says): cookies are
    /// `Secure` and the clearance is the `__Host-` one.
    fn https(&self) -> bool {
        crate::request::forward::scheme_https(self.req, &self.rules.clients.trusted_proxies)
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
        replay_since_ns: u64,
    ) -> Self {
        Self {
            keys: ArcSwap::from_pointee(keys),
            replay,
            reports,
            penalties,
            usage,
            serial: AtomicU64::new(clock_ns),
            replay_since_ns,
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
        self.offence_of(ask.rules, ask.key, ask.now_ns);
    }

    /// An offence of `key` under `rules` at `now_ns` (see [`Tolls::offence`]).
    pub(crate) fn offence_of(&self, rules: &Rules, key: &ClientKey, now_ns: u64) {
        if let Some((decay, max)) = penalty_terms(rules) {
            self.penalties.record(key, now_ns, decay, max);
        }
    }

    /// `n` offences of `key` another instance of the fleet saw: recorded here, not counted for
    /// the fleet again.
    pub(crate) fn fleet_offences(&self, rules: &Rules, key: &ClientKey, n: u32, now_ns: u64) {
        if let Some((decay, max)) = penalty_terms(rules) {
            self.penalties.absorb(key, n, now_ns, decay, max);
        }
    }
}

/// How long one step of penalty lasts (ns) and the most steps, when offences are recorded at
/// all (enforce mode, `max_extra_difficulty` above 0).
fn penalty_terms(rules: &Rules) -> Option<(u64, u32)> {
    let c = &rules.challenge;
    let on = rules.mode == Mode::Enforce && c.max_extra_steps > 0;
    on.then(|| (c.penalty_decay_secs * NS_PER_SEC, c.max_extra_steps))
}
