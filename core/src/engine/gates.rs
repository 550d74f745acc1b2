//! The decision pipeline for one request: a pure function of rules, state and time.
//!
//! Each check is a gate that either lets the request on (`Continue`) or decides (`Break`), so
//! the pipeline reads in the order a request meets it. Order matters and is cheapest-first for
//! abusers: allow list, active ban, deny list, then the route's action. The extreme-rate counter
//! sees every request that reaches routing, whatever the route, so exempting `/api/` from rate
//! limits never exempts it from bans. Tollgate's own endpoints (under `/.tollgate/`) come after
//! the extreme counter and under the default limit, so hammering `verify` is a flood like any
//! other. A challenge route checks the clearance only after its rate limit: a cleared client is
//! still rate limited. A user agent claiming a crawler is judged after the deny list (see
//! `crawler`): a verified crawler is held to its own limit instead of the route's limit and
//! challenge (an allow or deny route still applies to it).

mod crawler;
mod meter;

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use super::{Active, State};
use crate::clock::NS_PER_SEC;
use crate::fleet::{Meter, Metered};
use crate::limit::limiter::Limiter;
use crate::request::path::{self, Ambiguity};
use crate::request::route::match_canonical;
use crate::request::{client, Action, ClientKey, HttpVersion, RequestView, RouteId};
use crate::rules::{Mode, Rules};
use crate::score::{request_signals, rhythm, Signal, Signals};
use crate::toll::{Ask, PREFIX};
use crate::verdict::{Decision, Reason, Verdict};

pub(crate) fn decide(
    active: &Active,
    state: &State,
    req: &RequestView<'_>,
    now_ns: u64,
    reading: Option<(&Meter, Metered)>,
) -> Verdict {
    let rules = &active.rules;
    let clients = &rules.clients;
    let client_ip = client::resolve(req, &clients.trusted_proxies, &clients.ip_header);
    let key = ClientKey::new(
        client_ip,
        rules.clients.ipv4_prefix_len,
        rules.clients.ipv6_prefix_len,
    );
    let network = rules
        .networks
        .as_ref()
        .map(|n| ClientKey::network_of(client_ip, n.ipv4_prefix_len, n.ipv6_prefix_len));
    let mut verdict = Verdict {
        decision: allow(Reason::Disabled),
        client_ip,
        key,
        route: None,
        upgrade: false,
        observed: None,
        score: None,
    };
    if rules.mode == Mode::Off {
        return verdict;
    }
    let mut trip = Trip {
        active,
        state,
        path: Cow::Borrowed(""),
        ambiguity: None,
        ip: client_ip,
        network,
        route: None,
        claim: None,
        reading: reading.map(|(m, r)| meter::Reading::of(m, r)),
        ask: Ask {
            rules,
            limiters: active.limiters.toll(),
            req,
            key: &key,
            now_ns,
            score: None,
            fleet: state.fleet.enabled(),
        },
    };
    // A panic in a gate is a bug, never the client's doing: this request alone fails, closed.
    // Locks it held are released as it unwinds (poisoned mutexes are taken over, a shared
    // zone's lock word is cleared by its guard), so every other request goes on.
    let decision = match panic::catch_unwind(AssertUnwindSafe(|| trip.gates())) {
        Ok(Break(d)) => d,
        Ok(Continue(())) => allow(Reason::WithinLimit),
        Err(_) => Decision::deny(500, Reason::InternalError),
    };
    verdict.score = trip.ask.score;
    let route = trip.route.and_then(|id| rules.route(id));
    verdict.route = route.map(|r| r.name.clone());
    verdict.upgrade = route.is_some_and(|r| r.upgrade);
    // Tollgate's own endpoints are answered in observe mode too: the upstream has none of them.
    // (The path is computed only past the cheap refusals; before that, the target as sent.)
    let own = match trip.path.is_empty() {
        true => req.path.starts_with(PREFIX),
        false => trip.path.starts_with(PREFIX),
    };
    if rules.mode == Mode::Observe && decision.is_refusal() && !own {
        verdict.decision = allow(decision.reason());
        verdict.observed = Some(decision);
    } else {
        verdict.decision = decision;
    }
    verdict
}

/// One request on its way through the gates.
struct Trip<'a, 'r> {
    active: &'a Active,
    state: &'a State,
    /// The path as the upstream will understand it: computed after the cheap refusals (allow
    /// list, ban, deny list), which do not need it; empty before.
    path: Cow<'r, str>,
    /// What was ambiguous about the target, if anything.
    ambiguity: Option<Ambiguity>,
    ip: IpAddr,
    /// The client's network key, when `[networks]` is on.
    network: Option<ClientKey>,
    /// The route that matched, once routing has run (none for tollgate's own endpoints).
    route: Option<RouteId>,
    /// What the client's crawler claim came to, if it makes one.
    claim: Option<crawler::Claim>,
    /// The fleet's reading of the route's limit, when the store metered it.
    reading: Option<meter::Reading>,
    ask: Ask<'a, 'r>,
}

impl Trip<'_, '_> {
    fn gates(&mut self) -> ControlFlow<Decision> {
        self.allow_list()?;
        self.active_ban()?;
        self.deny_list()?;
        self.crawler_claim()?;
        self.canonicalize();
        self.route = match_canonical(&self.rules().routes, self.ask.req, &self.path);
        self.fleet_meter()?;
        self.score();
        self.extreme_rate()?;
        self.bad_target()?;
        self.own_endpoint()?;
        self.crawler_refusal()?;
        self.route_action()
    }

    /// The canonical path rules match (nginx: of its rewritten URI), and whether the target as
    /// sent was ambiguous.
    fn canonicalize(&mut self) {
        let req = self.ask.req;
        let raw = path::canonical(req.path);
        self.ambiguity = raw.ambiguity;
        self.path = match req.routed_path {
            Some(routed) => path::canonical_decoded(routed),
            None => raw.path,
        };
    }

    fn rules(&self) -> &Rules {
        &self.active.rules
    }

    fn allow_list(&self) -> ControlFlow<Decision> {
        if self.rules().allow.contains(self.ip) {
            return Break(allow(Reason::AllowList));
        }
        Continue(())
    }

    /// The client's own ban, or its network's.
    fn active_ban(&self) -> ControlFlow<Decision> {
        let now = self.ask.now_ns;
        let ban = self.state.bans.active(self.ask.key, now).or_else(|| {
            let net = self.network.as_ref()?;
            self.state.bans.active(net, now)
        });
        match ban {
            Some(ban) => Break(self.banned(ban.until_unix_secs(), Reason::ActiveBan)),
            None => Continue(()),
        }
    }

    fn deny_list(&self) -> ControlFlow<Decision> {
        if self.rules().deny.contains(self.ip) {
            return Break(Decision::deny(403, Reason::DenyList));
        }
        Continue(())
    }

    /// Scores the request (with `[score]` on, counting it in its client's rhythm) and counts it
    /// for under-attack mode. Counted only past the cheap refusals (allow, ban and deny lists):
    /// a neutralised flood must not hold the mode on.
    fn score(&mut self) {
        let rules = &self.active.rules;
        let now_secs = self.ask.now_ns / NS_PER_SEC;
        let engaged = rules.under_attack.as_ref().is_some_and(|a| {
            self.state.tally.metered(false);
            self.state.attack.request(a, now_secs)
        });
        if let Some(s) = &rules.score {
            let req = self.ask.req;
            let forwarded = client::connection_is_proxys(req, &rules.clients.trusted_proxies);
            let mut signals = request_signals(req, forwarded);
            signals.add_if(engaged, Signal::UnderAttack);
            if s.rhythm {
                signals = signals.union(self.rhythm(signals.has(Signal::ClaimsBrowser)));
            }
            self.ask.score = Some(s.score(signals));
        }
    }

    /// Counts the request in its client's rhythm, riding in the slot of the limits every
    /// request meets; the rhythm signals it shows. `browser`: the request claims a browser.
    fn rhythm(&self, browser: bool) -> Signals {
        let now = self.ask.now_ns;
        let fetch = rhythm::Fetch::of(self.ask.req);
        let summary = self.state.lanes[0].update_rider(
            self.ask.key,
            || now,
            |old| {
                #[cfg(test)]
                tests::panic_on_request(self.ask.req); // under the store's lock
                rhythm::observe(old, now, fetch)
            },
        );
        rhythm::signals(summary, now, browser)
    }

    fn extreme_rate(&self) -> ControlFlow<Decision> {
        match &self.active.limiters.extreme {
            Some(ex) if ex.check(self.ask.key, self.ask.now_ns).is_err() => {
                Break(self.ban(Reason::ExtremeRate))
            }
            _ => Continue(()),
        }
    }

    /// 400 for a target no two servers would agree on, and for HTTP/1.1 without `Host` (a
    /// host-scoped route could not match it, and an upstream might pick any virtual host).
    fn bad_target(&self) -> ControlFlow<Decision> {
        match self.target_refusal() {
            Some(d) => Break(d),
            None => Continue(()),
        }
    }

    fn target_refusal(&self) -> Option<Decision> {
        if self.ambiguity.is_some() && self.rules().paths.reject_ambiguous {
            return Some(Decision::deny(400, Reason::BadPath));
        }
        let req = self.ask.req;
        let no_host = req.host.is_none_or(str::is_empty);
        if no_host && req.conn.version == HttpVersion::Http11 {
            return Some(Decision::deny(400, Reason::MissingHost));
        }
        None
    }

    /// Tollgate's own endpoints, under the default limit.
    fn own_endpoint(&mut self) -> ControlFlow<Decision> {
        if !self.path.starts_with(PREFIX) {
            return Continue(());
        }
        self.route = None;
        self.within(self.active.limiters.default.as_ref())?;
        Break(self.state.tolls.endpoint(&mut self.ask, &self.path))
    }

    /// What the matched route (or, without one, the default limit) says.
    fn route_action(&self) -> ControlFlow<Decision> {
        let limiters = &self.active.limiters;
        let (action, limiter) = self.route_rule();
        match action {
            Action::Allow => Break(allow(Reason::RouteAllow)),
            Action::Deny { status } => Break(Decision::deny(status, Reason::RouteDeny)),
            Action::Limit | Action::Challenge if self.proved_crawler().is_some() => {
                let own = self
                    .proved_crawler()
                    .and_then(|c| limiters.crawlers.get(c)?.as_ref());
                self.within(own)?;
                Break(allow(Reason::CrawlerVerified))
            }
            Action::Limit | Action::Challenge => {
                self.within(limiter)?;
                match (action, self.route) {
                    (Action::Challenge, Some(id)) => Break(self.state.tolls.admit(&self.ask, id)),
                    _ => Break(allow(Reason::WithinLimit)),
                }
            }
        }
    }

    /// The matched route's action and limit (without a route: the default limit).
    fn route_rule(&self) -> (Action, Option<&Limiter>) {
        let limiters = &self.active.limiters;
        let rule = self
            .route
            .and_then(|id| Some((id, self.rules().route(id)?)));
        match rule {
            Some((id, r)) => (r.action, limiters.for_route(id)),
            None => (Action::Limit, limiters.default.as_ref()),
        }
    }

    /// Lets the request on when it is within `limiter` (or there is none) and its network
    /// within the network limit; else a violation.
    fn within(&self, limiter: Option<&Limiter>) -> ControlFlow<Decision> {
        if let Some(wait) = limiter.and_then(|l| self.limit_check(l).err()) {
            return Break(self.violation(wait));
        }
        let limiters = &self.active.limiters;
        let (Some(net), Some(l)) = (&self.network, &limiters.network) else {
            return Continue(());
        };
        match l.check(net, self.ask.now_ns) {
            Ok(()) => Continue(()),
            Err(wait) => Break(self.network_violation(net, wait)),
        }
    }

    /// The network is over its limit: counted toward a ban of the whole network.
    fn network_violation(&self, net: &ClientKey, wait: Duration) -> Decision {
        if let Some(v) = &self.active.limiters.network_violations {
            if v.check(net, self.ask.now_ns).is_err() {
                return self.ban_key(*net, Reason::NetworkViolations);
            }
        }
        Decision::RateLimited {
            retry_after: wait,
            reason: Reason::NetworkRateLimit,
        }
    }

    /// A rate-limit violation: counted toward a ban, then answered with the wait.
    fn violation(&self, wait: Duration) -> Decision {
        if let Some(v) = &self.active.limiters.violations {
            if v.check(self.ask.key, self.ask.now_ns).is_err() {
                return self.ban(Reason::RepeatedViolations);
            }
        }
        Decision::RateLimited {
            retry_after: wait,
            reason: Reason::RateLimit,
        }
    }

    /// Bans the client in enforce mode. Observe mode only reports what would happen: recording
    /// the ban would start enforcing it the moment the mode changes.
    fn ban(&self, reason: Reason) -> Decision {
        self.ban_key(*self.ask.key, reason)
    }

    /// Bans `key` (the client's, or its network's): see [`Trip::ban`].
    fn ban_key(&self, key: ClientKey, reason: Reason) -> Decision {
        let rules = self.rules();
        let now_ns = self.ask.now_ns;
        let policy = &rules.bans.policy;
        let until_ns = if rules.mode == Mode::Enforce {
            let record = self.state.bans.ban(key, now_ns, reason, policy);
            let until = record.until_ns;
            self.state.fleet.ban(record);
            until
        } else {
            now_ns.saturating_add(policy.ttl_secs.saturating_mul(NS_PER_SEC))
        };
        self.banned(until_ns.div_ceil(NS_PER_SEC), reason)
    }

    fn banned(&self, until_unix_secs: u64, reason: Reason) -> Decision {
        Decision::Banned {
            until_unix_secs,
            reason,
            close: self.rules().bans.close_connection,
        }
    }
}

fn allow(reason: Reason) -> Decision {
    Decision::Allow { reason }
}

#[cfg(test)]
mod tests;
