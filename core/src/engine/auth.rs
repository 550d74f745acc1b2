//! Forward-auth mode: what the auth listener tells a front proxy (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `forwardAuth`) about the request it names.
//!
//! A 2xx lets the request through: the front copies the headers named in its configuration onto
//! the request it proxies. Anything else is tollgate's own reply (refusal, challenge page,
//! clearance redirect), which Caddy and Traefik pass to the client as it is.

use super::Engine;
use crate::request::client;
pub use crate::request::{is_auth_path, AUTH_PATH, AUTH_REQUEST_PATH};
use crate::request::{original, Forwarded, ForwardedError, RequestView};
use crate::verdict::{Reason, Reply, Verdict};

/// nginx `auth_request` ([`AUTH_REQUEST_PATH`]) passes only 2xx, 401 and 403 and drops the
/// body, so a refusal there is answered 401 with [`HELD_REPLY_HEADER`]: the id under which the
/// listener holds tollgate's reply, for nginx's `error_page 401` location to fetch from
/// [`HELD_REPLY_PATH`] once.
///
/// The id of a held reply (`auth_request_set $tollgate_reply $upstream_http_x_tollgate_reply`).
pub const HELD_REPLY_HEADER: &str = "x-tollgate-reply";

/// `HELD_REPLY_PATH` + id: a held reply, once, to a trusted proxy.
pub const HELD_REPLY_PATH: &str = "/.tollgate/reply/";

/// Set on a let-through answer: the request's cookies without tollgate's clearance, for the
/// front to send upstream as `Cookie` (Caddy: `copy_headers X-Tollgate-Cookie>Cookie`).
pub const AUTH_COOKIE_HEADER: &str = "x-tollgate-cookie";

impl Engine {
    /// The client's request an auth request names (see [`Forwarded`]), believed only from the
    /// rules' trusted proxies; `None` when `auth` is not an auth request but a request of its own.
    pub fn original<'a>(
        &self,
        auth: &RequestView<'a>,
        fwd: Forwarded<'a>,
    ) -> Result<Option<RequestView<'a>>, ForwardedError> {
        self.with_rules(|r| original::original(auth, &r.clients.trusted_proxies, fwd))
    }

    /// The answer to a request on the auth listener whose verdict is `verdict`: for an auth
    /// request (`auth`), 2xx only when the request is let through. `cookie` is the request's
    /// `Cookie`.
    pub fn auth_reply(&self, verdict: &Verdict, auth: bool, cookie: Option<&str>) -> Reply {
        if let Some(reply) = self.respond(verdict) {
            // One of tollgate's own answers (an asset, the offer) is no permission to proxy:
            // the front routes /.tollgate/ here instead of asking about it.
            if auth && (200..300).contains(&reply.status) {
                let why = "tollgate's own paths are served by the auth listener: route /.tollgate/ to it\n";
                return Reply::text(403, Reason::ForwardAuthRefused, why).no_store();
            }
            return reply;
        }
        // Always set, empty for a request without cookies: a front copying an absent header
        // may send its own placeholder instead.
        let kept = self.upstream_cookie(cookie);
        let cookie = kept.unwrap_or_else(|| cookie.unwrap_or_default().to_string());
        Reply::new(200, verdict.decision.reason(), "text/plain; charset=utf-8")
            .header("cache-control", "no-store")
            .header(AUTH_COOKIE_HEADER, cookie)
    }

    /// Whether `peer` is one of the rules' trusted proxies (who may fetch held replies).
    pub fn trusts_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.with_rules(|r| client::is_trusted_proxy(peer, &r.clients.trusted_proxies))
    }

    /// nginx's answer for a refused auth request: 401, naming the held reply `id` and the
    /// refusal's reason.
    pub fn auth_held(&self, id: String, reason: Option<&str>) -> Reply {
        let reason = reason.and_then(Reason::parse);
        let reason = reason.unwrap_or(Reason::ForwardAuthRefused);
        Reply::new(401, reason, "text/plain; charset=utf-8")
            .header(HELD_REPLY_HEADER, id)
            .no_store()
    }

    /// The answer for a held reply that is gone (fetched already, or expired).
    pub fn auth_reply_gone(&self) -> Reply {
        Reply::text(404, Reason::ForwardAuthRefused, "no such held reply\n").no_store()
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
