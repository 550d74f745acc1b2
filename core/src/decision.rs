//! What the core decided, as data.
//!
//! Every outcome, including "no", is a [`Decision`] with a machine-readable [`Reason`]; `Err` is
//! kept for real failures. Front ends log the reason, count it in metrics, and render the decision
//! with [`crate::respond`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::key::ClientKey;
use crate::page::Lang;
use crate::pow::Offer;
use crate::score::Score;

/// Why a decision was made. `as_str` values are stable: they appear in logs and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Filtering is off (`mode = "off"`).
    Disabled,
    /// Client address is in the allow list.
    AllowList,
    /// Client address is in the deny list.
    DenyList,
    /// A route rule with `action = "allow"` matched: no rate limit applies.
    RouteAllow,
    /// A route rule with `action = "deny"` matched.
    RouteDeny,
    /// Within the applicable rate limit.
    WithinLimit,
    /// Over the applicable rate limit.
    RateLimit,
    /// Client is serving a ban.
    ActiveBan,
    /// Banned now for crossing the extreme request threshold.
    ExtremeRate,
    /// Banned now for too many rate-limit violations.
    RepeatedViolations,
    /// Banned by an operator.
    Manual,
    /// A route rule with `action = "challenge"` matched and the client has no clearance.
    RouteChallenge,
    /// A challenge route passed with a valid clearance cookie.
    Cleared,
    /// The clearance cookie is forged, malformed, or bound to another client.
    ClearanceInvalid,
    /// The clearance cookie has expired.
    ClearanceExpired,
    /// The clearance's request budget or rate is used up.
    ClearanceSpent,
    /// The clearance was paid with less work than this route's puzzle costs.
    ClearanceTooWeak,
    /// A correct, first-time answer: clearance granted.
    ChallengePassed,
    /// The challenge token is malformed, forged, or issued to another client.
    ChallengeInvalid,
    /// The challenge expired before it was answered.
    ChallengeExpired,
    /// The answer is wrong.
    ChallengeFailed,
    /// The answer was already used.
    ChallengeReplayed,
    /// The answered puzzle is easier than its route now requires (rules or penalty changed, or
    /// a puzzle was fetched for another route): a fresh one is issued.
    ChallengeTooEasy,
    /// Too many live solved challenges to remember another: try again later.
    ChallengeBusy,
    /// A tollgate endpoint (solver script, challenge offer) was served.
    Endpoint,
    /// A path under the reserved prefix that is no endpoint.
    UnknownEndpoint,
    /// The environment score reached a band that passes on a route that allows it.
    ScorePass,
    /// The environment score is below the floor.
    ScoreTooLow,
    /// A CSP report bound to a live challenge was recorded.
    CspReport,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::AllowList => "allow_list",
            Reason::DenyList => "deny_list",
            Reason::RouteAllow => "route_allow",
            Reason::RouteDeny => "route_deny",
            Reason::WithinLimit => "within_limit",
            Reason::RateLimit => "rate_limit",
            Reason::ActiveBan => "active_ban",
            Reason::ExtremeRate => "extreme_rate",
            Reason::RepeatedViolations => "repeated_violations",
            Reason::Manual => "manual",
            Reason::RouteChallenge => "route_challenge",
            Reason::Cleared => "cleared",
            Reason::ClearanceInvalid => "clearance_invalid",
            Reason::ClearanceExpired => "clearance_expired",
            Reason::ClearanceSpent => "clearance_spent",
            Reason::ClearanceTooWeak => "clearance_too_weak",
            Reason::ChallengePassed => "challenge_passed",
            Reason::ChallengeInvalid => "challenge_invalid",
            Reason::ChallengeExpired => "challenge_expired",
            Reason::ChallengeFailed => "challenge_failed",
            Reason::ChallengeReplayed => "challenge_replayed",
            Reason::ChallengeTooEasy => "challenge_too_easy",
            Reason::ChallengeBusy => "challenge_busy",
            Reason::Endpoint => "endpoint",
            Reason::UnknownEndpoint => "unknown_endpoint",
            Reason::ScorePass => "score_pass",
            Reason::ScoreTooLow => "score_too_low",
            Reason::CspReport => "csp_report",
        }
    }

    /// Every reason, in a fixed order ([`Reason::index`] is the position here).
    pub const ALL: [Reason; 29] = [
        Reason::Disabled,
        Reason::AllowList,
        Reason::DenyList,
        Reason::RouteAllow,
        Reason::RouteDeny,
        Reason::WithinLimit,
        Reason::RateLimit,
        Reason::ActiveBan,
        Reason::ExtremeRate,
        Reason::RepeatedViolations,
        Reason::Manual,
        Reason::RouteChallenge,
        Reason::Cleared,
        Reason::ClearanceInvalid,
        Reason::ClearanceExpired,
        Reason::ClearanceSpent,
        Reason::ClearanceTooWeak,
        Reason::ChallengePassed,
        Reason::ChallengeInvalid,
        Reason::ChallengeExpired,
        Reason::ChallengeFailed,
        Reason::ChallengeReplayed,
        Reason::ChallengeTooEasy,
        Reason::ChallengeBusy,
        Reason::Endpoint,
        Reason::UnknownEndpoint,
        Reason::ScorePass,
        Reason::ScoreTooLow,
        Reason::CspReport,
    ];

    /// Position in [`Reason::ALL`], for per-reason counters without hashing.
    pub fn index(self) -> usize {
        // Declaration order is `ALL`'s order (checked by a test), so the discriminant is the index.
        self as usize
    }

    /// Parses `as_str` output back (used when restoring persisted bans).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
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
    /// Nothing (204): a report was received.
    Accepted,
}

impl Decision {
    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow { reason }
            | Decision::Deny { reason, .. }
            | Decision::RateLimited { reason, .. }
            | Decision::Banned { reason, .. }
            | Decision::Challenge { reason, .. }
            | Decision::Pass { reason, .. }
            | Decision::Serve { reason, .. } => *reason,
        }
    }

    /// Every kind name, in [`Decision::kind_index`] order.
    pub const KINDS: [&'static str; 7] = [
        "allow",
        "deny",
        "rate_limited",
        "banned",
        "challenge",
        "pass",
        "serve",
    ];

    /// Position of [`Decision::kind`] in [`Decision::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Decision::Allow { .. } => 0,
            Decision::Deny { .. } => 1,
            Decision::RateLimited { .. } => 2,
            Decision::Banned { .. } => 3,
            Decision::Challenge { .. } => 4,
            Decision::Pass { .. } => 5,
            Decision::Serve { .. } => 6,
        }
    }

    /// Stable name of the variant, for logs, metrics and the scenario table.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// Whether this keeps the client from what it asked for (what observe mode lets through).
    /// Tollgate's own answers (a granted clearance, a served file) are not refusals.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Decision::Allow { .. } | Decision::Pass { .. } | Decision::Serve { .. }
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
    /// In `mode = "observe"`, what would have been decided; `decision` is then Allow.
    pub observed: Option<Decision>,
    /// The environment score, when `[score]` is on and the request reached routing.
    pub score: Option<Score>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_index_is_position_in_all_and_names_round_trip() {
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
