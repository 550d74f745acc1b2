//! What a front end asks of the engine besides a decision: the headers to forward, the reply
//! to send, and how the upstream fared.

use super::Engine;
use crate::clock::NS_PER_SEC;
use crate::request::forward::{self, Trust};
use crate::request::{client, cookie, Forwarding, RequestView};
use crate::rules::ClientSettings;
use crate::toll::{CLEARANCE_COOKIE, SECURE_COOKIE};
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
            self.state.tally.metered(true);
        }
        if failed {
            self.count_shared_upstream_error();
        }
        failed
    }

    /// The `X-Forwarded-For` to send upstream for `req`.
    pub fn forwarded_for(&self, req: &RequestView<'_>) -> String {
        let active = self.active.load();
        let c = &active.rules.clients;
        let client = client::resolve(req, &c.trusted_proxies, &c.ip_header);
        forward::forwarded_for(req, &trust(c), client)
    }

    /// Headers to set and remove before proxying `req`, whose verdict was `verdict`.
    pub fn forwarding(&self, req: &RequestView<'_>, verdict: &Verdict) -> Forwarding {
        let active = self.active.load();
        let clients = trust(&active.rules.clients);
        let mut fwd = forward::forwarding(req, &clients, verdict.client_ip, verdict.upgrade);
        fwd.cookie = upstream_cookie(req.cookie);
        fwd
    }

    /// The `Cookie` header the upstream gets for a request whose header is `cookie`: without
    /// tollgate's clearance. `None`: leave it as it is; `Some("")`: remove it. (The part of
    /// [`Engine::forwarding`] a front end that forwards identity headers itself still needs.)
    pub fn upstream_cookie(&self, cookie: Option<&str>) -> Option<String> {
        upstream_cookie(cookie)
    }

    /// Runs `f` with the header a front end reads into [`RequestView::client_ip_header`]
    /// (lower-case), or `None` when it is `X-Forwarded-For` (read into `forwarded_for` anyway).
    /// Borrowed, not cloned: this runs on every request.
    pub fn with_client_ip_header<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        self.with_rules(|r| f(r.clients.ip_header_name.as_deref()))
    }

    /// The response tollgate gives itself (`None`: proxy the request), timed by the engine's
    /// clock.
    pub fn respond(&self, verdict: &Verdict) -> Option<Reply> {
        respond(&verdict.decision, self.clock.now_ns() / NS_PER_SEC)
    }
}

fn upstream_cookie(cookie: Option<&str>) -> Option<String> {
    cookie::without_cookie(cookie, &[CLEARANCE_COOKIE, SECURE_COOKIE])
}

fn trust(c: &ClientSettings) -> Trust<'_> {
    Trust {
        proxies: &c.trusted_proxies,
        header: &c.ip_header,
    }
}
