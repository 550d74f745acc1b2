//! What the core decided, as data.
//!
//! Every outcome, including "no", is a [`Decision`] with a machine-readable [`Reason`]; `Err` is
//! kept for real failures. Front ends log the reason, count it in metrics, and render the decision
//! with [`respond`](super::respond).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Lang, Reason};
use crate::codes::code_table;
use crate::crawl::CrawlerLookup;
use crate::fleet::Meter;
use crate::request::ClientKey;
use crate::score::weigh::Score;
use crate::toll::Offer;

code_table! {
    /// The variant of a [`Decision`], by a stable name.
    pub enum Kind {
        Allow = "allow",
        Deny = "deny",
        RateLimited = "rate_limited",
        Banned = "banned",
        Challenge = "challenge",
        Pass = "pass",
        Serve = "serve",
        Verify = "verify",
        Claim = "claim",
        Meter = "meter",
    }
}

/// The outcome for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Pass the request to the upstream.
    Allow { reason: Reason },
    /// Refuse with `status`.
    Deny { status: u16, reason: Reason },
    /// Refuse for now; the client may retry after `retry_after`.
    RateLimited {
        retry_after: Duration,
        reason: Reason,
    },
    /// Refuse cheaply: the client is banned until `until_unix_secs`; `close` the connection after.
    Banned {
        until_unix_secs: u64,
        reason: Reason,
        close: bool,
    },
    /// The client must solve a challenge first: show it one.
    Challenge {
        reason: Reason,
        page: Box<ChallengePage>,
    },
    /// A challenge was solved: set the clearance cookie and send the client back.
    Pass { reason: Reason, grant: Box<Grant> },
    /// Answer with one of tollgate's own files.
    Serve { reason: Reason, asset: Asset },
    /// A crawler's claim needs `lookup` first: a front end with a resolver runs it, hands the
    /// outcome to [`Engine::record_crawler`](crate::Engine::record_crawler) and decides again.
    /// (One without answers it as a refusal, which it never is asked for: see
    /// [`Engine::enable_crawler_lookups`](crate::Engine::enable_crawler_lookups).)
    Verify {
        reason: Reason,
        lookup: Box<CrawlerLookup>,
    },
    /// A correct first answer, in a fleet: the front end claims it across the fleet and hands
    /// the outcome to [`Engine::claimed`](crate::Engine::claimed), which gives the decision.
    Claim { reason: Reason, claim: Box<Claim> },
    /// In a fleet with exact limits: the store meters the request first; the front end decides
    /// it again with the reading ([`Engine::decide_metered`](crate::Engine::decide_metered)).
    Meter { reason: Reason, meter: Box<Meter> },
}

/// A challenge to present, and where to send the client once it is solved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengePage {
    pub offer: Offer,
    /// Local path (and query) the client asked for; validated, never another site.
    pub return_to: String,
    pub lang: Lang,
    /// JSON for API clients (the offer endpoint) instead of the HTML page.
    pub json: bool,
    /// Add `Secure` to the probe cookie: the request came over TLS.
    pub secure: bool,
    /// Scoring is on: the page carries the probe cookie and the report-only CSP.
    pub scored: bool,
    /// The client sent a clearance that can never pass again (spent, expired, not its own):
    /// the page deletes it.
    pub expire_clearance: bool,
    /// The route lets a visitor without JavaScript wait this many seconds instead
    /// (`nojs = "wait"`): the page's `<noscript>` sends it on after that.
    pub nojs_wait_secs: Option<u64>,
}

/// A clearance cookie and the local URL to go back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub cookie: String,
    pub max_age_secs: u64,
    /// Add `Secure` to the cookie: the request came over TLS.
    pub secure: bool,
    pub location: String,
}

/// Tollgate's own static files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    /// The challenge page's script.
    ChallengeScript,
    /// The Web Worker that hashes.
    WorkerScript,
    /// The worker's search in scalar WebAssembly.
    SearchWasm,
    /// The worker's search in 128-bit SIMD WebAssembly.
    SearchWasmSimd,
    /// Nothing (204): a report was received.
    Accepted,
}

impl Decision {
    /// A refusal with `status`.
    pub fn deny(status: u16, reason: Reason) -> Self {
        Decision::Deny { status, reason }
    }

    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow { reason }
            | Decision::Deny { reason, .. }
            | Decision::RateLimited { reason, .. }
            | Decision::Banned { reason, .. }
            | Decision::Challenge { reason, .. }
            | Decision::Pass { reason, .. }
            | Decision::Serve { reason, .. }
            | Decision::Verify { reason, .. }
            | Decision::Claim { reason, .. }
            | Decision::Meter { reason, .. } => *reason,
        }
    }

    /// What kind of decision this is, for logs, metrics and the scenario table.
    pub fn kind(&self) -> Kind {
        match self {
            Decision::Allow { .. } => Kind::Allow,
            Decision::Deny { .. } => Kind::Deny,
            Decision::RateLimited { .. } => Kind::RateLimited,
            Decision::Banned { .. } => Kind::Banned,
            Decision::Challenge { .. } => Kind::Challenge,
            Decision::Pass { .. } => Kind::Pass,
            Decision::Serve { .. } => Kind::Serve,
            Decision::Verify { .. } => Kind::Verify,
            Decision::Claim { .. } => Kind::Claim,
            Decision::Meter { .. } => Kind::Meter,
        }
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// Whether this keeps the client from what it asked for (what observe mode lets through).
    /// Tollgate's own answers (a granted clearance, a served file) are not refusals, nor is a
    /// lookup still to run.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Decision::Allow { .. }
                | Decision::Pass { .. }
                | Decision::Serve { .. }
                | Decision::Verify { .. }
                | Decision::Claim { .. }
                | Decision::Meter { .. }
        )
    }
}

/// A decision plus what the front end needs to carry it out and log it.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub decision: Decision,
    /// The client address after trusted-proxy resolution.
    pub client_ip: IpAddr,
    /// The key the client was counted under.
    pub key: ClientKey,
    /// Name of the route rule that matched, if any.
    pub route: Option<Arc<str>>,
    /// That route says `upgrade = true`: the request's `Upgrade` header may reach the upstream.
    pub upgrade: bool,
    /// In `mode = "observe"`, what would have been decided; `decision` is then Allow.
    pub observed: Option<Decision>,
    /// The environment score, when `[score]` is on and the request reached routing.
    pub score: Option<Score>,
}

/// A correct first answer, waiting for the fleet to agree it is the first anywhere.
/// Made by the front end with an atomic set-if-absent of [`key`](Claim::id) that expires with
/// the challenge, then handed to [`Engine::claimed`](crate::Engine::claimed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    id: [u8; 16],
    expires_unix_secs: u64,
    /// Who answered: a replay elsewhere is its offence.
    pub(crate) key: ClientKey,
    /// What the answer earns if it is the first: the clearance.
    pub(crate) then: Decision,
}

impl Claim {
    pub(crate) fn new(
        id: [u8; 16],
        expires_unix_secs: u64,
        key: ClientKey,
        then: Decision,
    ) -> Self {
        Self {
            id,
            expires_unix_secs,
            key,
            then,
        }
    }

    /// The answered challenge's serial, in hex: the name to claim.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// How long the claim must be remembered: until the challenge expires (at least a second).
    pub fn ttl_secs(&self, now_unix_secs: u64) -> u64 {
        self.expires_unix_secs.saturating_sub(now_unix_secs).max(1)
    }
}
