//! What the core decided, as data.
//!
//! Every outcome, including "no", is a [`Decision`] with a machine-readable [`Reason`]; `Err` is
//! kept for real failures. Front ends log the reason, count it in metrics, and render the decision
//! with [`crate::respond`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::key::ClientKey;

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
    /// A route rule with `action = "challenge"` matched.
    RouteChallenge,
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
        }
    }

    /// Every reason, in a fixed order ([`Reason::index`] is the position here).
    pub const ALL: [Reason; 12] = [
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
    /// The client must solve a challenge first.
    Challenge { reason: Reason },
}

impl Decision {
    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow { reason }
            | Decision::Deny { reason, .. }
            | Decision::RateLimited { reason, .. }
            | Decision::Banned { reason, .. }
            | Decision::Challenge { reason } => *reason,
        }
    }

    /// Every kind name, in [`Decision::kind_index`] order.
    pub const KINDS: [&'static str; 5] = ["allow", "deny", "rate_limited", "banned", "challenge"];

    /// Position of [`Decision::kind`] in [`Decision::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Decision::Allow { .. } => 0,
            Decision::Deny { .. } => 1,
            Decision::RateLimited { .. } => 2,
            Decision::Banned { .. } => 3,
            Decision::Challenge { .. } => 4,
        }
    }

    /// Stable name of the variant, for logs, metrics and the scenario table.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
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
