//! The decision pipeline for one request: a pure function of rules, state and time.
//!
//! Order matters and is cheapest-first for abusers: allow list, active ban, deny list, then the
//! route's action. The extreme-rate counter sees every request that reaches routing, whatever the
//! route, so exempting `/api/` from rate limits never exempts it from bans. Tollgate's own
//! endpoints (under `/.tollgate/`) come after the extreme counter and under the default limit, so
//! hammering `verify` is a flood like any other. A challenge route checks the clearance only after
//! its rate limit: a cleared client is still rate limited.

use std::cell::Cell;
use std::time::Duration;

use crate::ban::BanTable;
use crate::client;
use crate::clock::NS_PER_SEC;
use crate::decision::{Decision, Reason, Verdict};
use crate::engine::{Active, State};
use crate::key::ClientKey;
use crate::limit::Limiter;
use crate::page;
use crate::path;
use crate::request::RequestView;
use crate::route::{match_normalized, Action};
use crate::rules::Mode;
use crate::score;
use crate::signal::Signal;
use crate::toll::Ask;

pub(crate) fn decide(
    active: &Active,
    state: &State,
    req: &RequestView<'_>,
    now_ns: u64,
) -> Verdict {
    let rules = &active.rules;
    let client_ip = client::resolve(req, &rules.clients.trusted_proxies);
    let key = ClientKey::new(
        client_ip,
        rules.clients.ipv4_prefix_len,
        rules.clients.ipv6_prefix_len,
    );
    let mut verdict = Verdict {
        decision: Decision::Allow {
            reason: Reason::Disabled,
        },
        client_ip,
        key,
        route: None,
        observed: None,
        score: None,
    };
    if rules.mode == Mode::Off {
        return verdict;
    }
    let path = path::normalize(req.path);
    let ask = Ask {
        active,
        req,
        key: &key,
        now_ns,
        score: Cell::new(None),
    };
    let (decision, route) = judge(state, &ask, &path, client_ip);
    verdict.score = ask.score.get();
    verdict.route = route.map(|i| rules.routes[i].name.clone());
    // Tollgate's own endpoints are answered in observe mode too: the upstream has none of them.
    let own = path.starts_with(page::PREFIX);
    if rules.mode == Mode::Observe && decision.is_refusal() && !own {
        verdict.decision = Decision::Allow {
            reason: decision.reason(),
        };
        verdict.observed = Some(decision);
    } else {
        verdict.decision = decision;
    }
    verdict
}

fn judge(
    state: &State,
    ask: &Ask<'_, '_>,
    path: &str,
    ip: std::net::IpAddr,
) -> (Decision, Option<usize>) {
    let (active, req, key, now_ns) = (ask.active, ask.req, ask.key, ask.now_ns);
    let rules = &active.rules;
    let bans = &state.bans;
    if rules.allow.contains(ip) {
        return (
            Decision::Allow {
                reason: Reason::AllowList,
            },
            None,
        );
    }
    if let Some(ban) = bans.active(key, now_ns) {
        return (
            banned(active, ban.until_unix_secs(), Reason::ActiveBan),
            None,
        );
    }
    if rules.deny.contains(ip) {
        return (
            Decision::Deny {
                status: 403,
                reason: Reason::DenyList,
            },
            None,
        );
    }
    // Counted only past the cheap refusals: a neutralised flood must not hold the mode on.
    let engaged = rules
        .under_attack
        .as_ref()
        .is_some_and(|a| state.attack.request(a, now_ns / NS_PER_SEC));
    if let Some(s) = &rules.score {
        let forwarded = client::via_trusted_proxy(req, &rules.clients.trusted_proxies);
        let mut signals = score::request_signals(req, forwarded);
        signals.add_if(engaged, Signal::UnderAttack);
        ask.score.set(Some(s.score(signals)));
    }
    let route = match_normalized(&rules.routes, req, path);
    if let Some(ex) = &active.limiters.extreme {
        if ex.check(key, now_ns).is_err() {
            return (ban(bans, active, *key, now_ns, Reason::ExtremeRate), route);
        }
    }
    if path.starts_with(page::PREFIX) {
        let decision = match limited(active.limiters.default.as_ref(), key, now_ns) {
            Some(wait) => violation(active, bans, *key, now_ns, wait),
            None => state.tolls.endpoint(ask, path),
        };
        return (decision, None);
    }
    let (action, limiter) = match route {
        Some(i) => (rules.routes[i].action, active.limiters.for_route(i)),
        None => (Action::Limit, active.limiters.default.as_ref()),
    };
    let decision = match action {
        Action::Allow => Decision::Allow {
            reason: Reason::RouteAllow,
        },
        Action::Deny { status } => Decision::Deny {
            status,
            reason: Reason::RouteDeny,
        },
        Action::Limit | Action::Challenge => match (limited(limiter, key, now_ns), route) {
            (Some(wait), _) => violation(active, bans, *key, now_ns, wait),
            (None, Some(i)) if action == Action::Challenge => state.tolls.admit(ask, i),
            (None, _) => Decision::Allow {
                reason: Reason::WithinLimit,
            },
        },
    };
    (decision, route)
}

fn limited(limiter: Option<&Limiter>, key: &ClientKey, now_ns: u64) -> Option<Duration> {
    limiter.and_then(|l| l.check(key, now_ns).err())
}

/// A rate-limit violation: counted toward a ban, then answered with the wait.
fn violation(
    active: &Active,
    bans: &BanTable,
    key: ClientKey,
    now_ns: u64,
    wait: Duration,
) -> Decision {
    if let Some(v) = &active.limiters.violations {
        if v.check(&key, now_ns).is_err() {
            return ban(bans, active, key, now_ns, Reason::RepeatedViolations);
        }
    }
    Decision::RateLimited {
        retry_after: wait,
        reason: Reason::RateLimit,
    }
}

/// Bans `key` in enforce mode. Observe mode only reports what would happen: recording the ban
/// would start enforcing it the moment the mode changes.
fn ban(bans: &BanTable, active: &Active, key: ClientKey, now_ns: u64, reason: Reason) -> Decision {
    let policy = &active.rules.bans.policy;
    let until_ns = if active.rules.mode == Mode::Enforce {
        bans.ban(key, now_ns, reason, policy).until_ns
    } else {
        now_ns.saturating_add(policy.ttl_secs.saturating_mul(NS_PER_SEC))
    };
    banned(active, until_ns.div_ceil(NS_PER_SEC), reason)
}

fn banned(active: &Active, until_unix_secs: u64, reason: Reason) -> Decision {
    let close = active.rules.bans.close_connection;
    Decision::Banned {
        until_unix_secs,
        reason,
        close,
    }
}
