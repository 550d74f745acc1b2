//! Why a decision was made: a leaf every other module may name, depending on nothing.

use crate::codes::code_table;

code_table! {
    /// Why a decision was made. Names are stable: they appear in logs, metric labels, the
    /// `x-tollgate-reason` header and persisted bans.
    pub enum Reason {
        /// Filtering is off (`mode = "off"`).
        Disabled = "disabled",
        /// Client address is in the allow list.
        AllowList = "allow_list",
        /// Client address is in the deny list.
        DenyList = "deny_list",
        /// A route rule with `action = "allow"` matched: no rate limit applies.
        RouteAllow = "route_allow",
        /// A route rule with `action = "deny"` matched.
        RouteDeny = "route_deny",
        /// Within the applicable rate limit.
        WithinLimit = "within_limit",
        /// Over the applicable rate limit.
        RateLimit = "rate_limit",
        /// Client is serving a ban.
        ActiveBan = "active_ban",
        /// Banned now for crossing the extreme request threshold.
        ExtremeRate = "extreme_rate",
        /// Banned now for too many rate-limit violations.
        RepeatedViolations = "repeated_violations",
        /// Banned by an operator.
        Manual = "manual",
        /// A route rule with `action = "challenge"` matched and the client has no clearance.
        RouteChallenge = "route_challenge",
        /// A challenge route passed with a valid clearance cookie.
        Cleared = "cleared",
        /// The clearance cookie is forged, malformed, or bound to another client.
        ClearanceInvalid = "clearance_invalid",
        /// The clearance cookie has expired.
        ClearanceExpired = "clearance_expired",
        /// The clearance's request budget or rate is used up.
        ClearanceSpent = "clearance_spent",
        /// The clearance was paid with less work than this route's puzzle costs.
        ClearanceTooWeak = "clearance_too_weak",
        /// A correct, first-time answer: clearance granted.
        ChallengePassed = "challenge_passed",
        /// The challenge token is malformed, forged, or issued to another client.
        ChallengeInvalid = "challenge_invalid",
        /// The challenge expired before it was answered, or was issued before this process's
        /// replay memory began (a restart): a fresh one is issued.
        ChallengeExpired = "challenge_expired",
        /// The answer is wrong.
        ChallengeFailed = "challenge_failed",
        /// The answer was already used.
        ChallengeReplayed = "challenge_replayed",
        /// The answered puzzle is easier than its route now requires (rules or penalty changed,
        /// or a puzzle was fetched for another route): a fresh one is issued.
        ChallengeTooEasy = "challenge_too_easy",
        /// Too many live solved challenges to remember another, or this client key has its
        /// share (`max_solved_per_client`) of them: try again later.
        ChallengeBusy = "challenge_busy",
        /// A tollgate endpoint (solver script, challenge offer) was served.
        Endpoint = "endpoint",
        /// A path under the reserved prefix that is no endpoint.
        UnknownEndpoint = "unknown_endpoint",
        /// The environment score reached a band that passes on a route that allows it.
        ScorePass = "score_pass",
        /// The environment score is below the floor.
        ScoreTooLow = "score_too_low",
        /// A CSP report bound to a live challenge was recorded.
        CspReport = "csp_report",
        /// The target stays ambiguous after canonicalisation (it would decode again, holds a
        /// NUL, or has a broken escape): 400.
        BadPath = "bad_path",
        /// An HTTP/1.1 request without `Host`: 400.
        MissingHost = "missing_host",
        /// Over the limit of the client's network (`[networks]`: its IPv4 /24 or IPv6 /48).
        NetworkRateLimit = "network_rate_limit",
        /// The client's whole network banned now for too many network-limit refusals.
        NetworkViolations = "network_violations",
        /// The client key holds `[connections] max_per_client` open connections already: the
        /// new one is closed at accept.
        TooManyConnections = "too_many_connections",
        /// The upstream accepted the request but did not answer in time: 504.
        UpstreamTimeout = "upstream_timeout",
        /// No upstream could be reached, or it broke the response: 502.
        UpstreamUnavailable = "upstream_unavailable",
        /// The user agent claims a `[[crawler]]` and its address proved it (published networks
        /// or forward-confirmed reverse DNS): allowed under the crawler's own limit.
        CrawlerVerified = "crawler_verified",
        /// The user agent claims a `[[crawler]]` the address could not prove: 403.
        CrawlerUnverified = "crawler_unverified",
        /// A crawler's claim needs a DNS lookup before it can be decided.
        CrawlerLookup = "crawler_lookup",
        /// A visitor without JavaScript waited out a `nojs = "wait"` route's delay: a
        /// clearance with the smaller `nojs_requests` budget is granted.
        NojsWaited = "nojs_waited",
        /// The no-JavaScript link was followed before its delay was up: the page again.
        NojsTooEarly = "nojs_too_early",
        /// A correct first answer here, to be claimed across the fleet before it earns a
        /// clearance.
        AnswerClaim = "answer_claim",
        /// A limited request, to be metered by the fleet's store first (`limits = "exact"`).
        FleetMeter = "fleet_meter",
        /// An auth request (forward-auth mode) that names no request tollgate can decide: from
        /// an untrusted peer, or without the original URI.
        ForwardAuthRefused = "forward_auth_refused",
        /// A bug in tollgate: deciding the request panicked. That request alone fails (500);
        /// the panic is caught before it reaches the front end, and every other goes on.
        InternalError = "internal_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Reason::ALL.len(), 45);
        assert_eq!(Reason::ScoreTooLow.as_str(), "score_too_low");
    }
}
