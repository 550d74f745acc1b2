//! Forward-auth mode: what the auth listener tells a front proxy (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `forwardAuth`) about the request it names.
//!
//! A 2xx lets the request through: the front copies the headers named in its configuration onto
//! the request it proxies. Anything else is tollgate's own reply (refusal, challenge page,
//! clearance redirect), which Caddy and Traefik pass to the client as it is.

use super::Engine;
use crate::request::{original, Forwarded, ForwardedError, Forwarding, RequestView};
use crate::verdict::{Reason, Reply, Verdict};

/// Where a front proxy sends its auth requests. Every other path on the auth listener is a
/// request of the client's own (the fronts route `/.tollgate/` there): decided as it is.
pub const AUTH_PATH: &str = "/.tollgate/auth";

/// Set on a let-through answer: the request's cookies without tollgate's clearance, for the
/// front to send upstream as `Cookie` (Caddy: `copy_headers X-Tollgate-Cookie>Cookie`).
pub const AUTH_COOKIE_HEADER: &str = "x-tollgate-cookie";

impl Engine {
    /// The client's request an auth request names: see [`Forwarded`]. Believed only from the
    /// rules' trusted proxies.
    pub fn original<'a>(
        &self,
        auth: &RequestView<'a>,
        fwd: Forwarded<'a>,
    ) -> Result<RequestView<'a>, ForwardedError> {
        self.with_rules(|r| original::original(auth, &r.clients.trusted_proxies, fwd))
    }

    /// The answer to an auth request whose verdict is `verdict`. `cookie` is the request's
    /// `Cookie`, `forwarding` what [`Engine::forwarding`] said for it when it was let through.
    pub fn auth_reply(
        &self,
        verdict: &Verdict,
        cookie: Option<&str>,
        forwarding: Option<&Forwarding>,
    ) -> Reply {
        if let Some(reply) = self.respond(verdict) {
            return reply;
        }
        let mut ok = Reply::new(200, verdict.decision.reason(), "text/plain; charset=utf-8")
            .header("cache-control", "no-store");
        if let Some(cookie) = cookie {
            let kept = forwarding.and_then(|f| f.cookie.clone());
            ok = ok.header(
                AUTH_COOKIE_HEADER,
                kept.unwrap_or_else(|| cookie.to_string()),
            );
        }
        ok
    }

    /// The answer to an auth request that names no decidable request.
    pub fn auth_refused(&self, error: &ForwardedError) -> Reply {
        let status = match error {
            ForwardedError::Untrusted(_) => 403,
            _ => 400,
        };
        Reply::text(status, Reason::ForwardAuthRefused, format!("{error}\n")).no_store()
    }
}
