//! What a front end asks of the engine besides a decision: the headers to forward, the reply
//! to send, and how the upstream fared.

use super::Engine;
use crate::clock::NS_PER_SEC;
use crate::request::{client, cookie, Forwarding, RequestView};
use crate::toll::CLEARANCE_COOKIE;
use crate::verdict::{respond, Reply, Verdict};

impl Engine {
    /// How the upstream handled a proxied request: the response status (if any) and whether the
    /// front end's error came from the upstream side (connect failure, reset, timeout). Failures
    /// (those, and 502–504) count toward under-attack mode; a client aborting its own request
    /// never does. Returns whether it counted.
    pub fn upstream_outcome(&self, status: Option<u16>, upstream_failed: bool) -> bool {
        let failed = upstream_failed || matches!(status, Some(502..=504));
        let active = self.active.load();
        if let (true, Some(a)) = (failed, &active.rules.under_attack) {
            let now = self.clock.now_ns() / NS_PER_SEC;
            self.state.attack.upstream_error(a, now);
        }
        failed
    }

    /// The `X-Forwarded-For` to send upstream for `req`.
    pub fn forwarded_for(&self, req: &RequestView<'_>) -> String {
        client::forwarded_for(req, &self.active.load().rules.clients.trusted_proxies)
    }

    /// Headers to set and remove before proxying `req`, whose verdict was `verdict`.
    pub fn forwarding(&self, req: &RequestView<'_>, verdict: &Verdict) -> Forwarding {
        let mut fwd = client::forwarding(
            req,
            &self.active.load().rules.clients.trusted_proxies,
            verdict.client_ip,
        );
        fwd.cookie = cookie::without_cookie(req.cookie, CLEARANCE_COOKIE);
        fwd
    }

    /// The response tollgate gives itself (`None`: proxy the request), timed by the engine's
    /// clock.
    pub fn respond(&self, verdict: &Verdict) -> Option<Reply> {
        respond(&verdict.decision, self.clock.now_ns() / NS_PER_SEC)
    }
}
