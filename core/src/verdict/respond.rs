//! How tollgate's own answers look on the wire, shared by every front end so they answer alike:
//! refusals, the challenge page, the clearance redirect, and the solver scripts.

use super::{Asset, ChallengePage, Decision, Grant, Reason, Reply};
use crate::toll::{clearance_cookie_name, page};

/// The response for `decision` at `now_unix_secs`, or `None` when the request should be proxied.
pub fn respond(decision: &Decision, now_unix_secs: u64) -> Option<Reply> {
    let reason = decision.reason();
    let reply = match decision {
        Decision::Allow { .. } => return None,
        Decision::Deny { status, .. } => Reply::text(*status, reason, deny_text(reason)).no_store(),
        // Asked for only of front ends that run lookups or meter in a fleet.
        Decision::Verify { .. } | Decision::Meter { .. } => {
            Reply::text(403, reason, deny_text(reason)).no_store()
        }
        // Not claimed across a fleet (a front end that never joined one): as if it were.
        Decision::Claim { claim, .. } => return respond(&claim.then, now_unix_secs),
        Decision::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            Reply::text(429, reason, "Too many requests: slow down.\n")
                .no_store()
                .header("retry-after", secs.max(1).to_string())
        }
        Decision::Banned {
            until_unix_secs,
            close,
            ..
        } => {
            let secs = until_unix_secs.saturating_sub(now_unix_secs).max(1);
            Reply::text(403, reason, "Banned.\n")
                .no_store()
                .header("retry-after", secs.to_string())
                .close(*close)
        }
        Decision::Challenge { page, .. } => challenge(reason, page),
        Decision::Pass { grant, .. } => pass(reason, grant),
        Decision::Serve {
            asset: Asset::Accepted,
            ..
        } => Reply::text(204, reason, "").no_store(),
        Decision::Serve { asset, .. } => {
            let (ctype, body) = page::asset(*asset);
            Reply::new(200, reason, ctype)
                .header("cache-control", "public, max-age=3600")
                .bytes(body)
        }
    };
    Some(reply)
}

fn deny_text(reason: Reason) -> &'static str {
    match reason {
        Reason::ChallengeInvalid => "Invalid challenge: reload the page to get a new one.\n",
        Reason::ChallengeFailed => "Wrong answer to the challenge.\n",
        Reason::ChallengeReplayed => "This answer was already used: reload the page.\n",
        Reason::ChallengeBusy => "Too many challenges in flight: try again shortly.\n",
        Reason::UnknownEndpoint => "No such tollgate endpoint.\n",
        Reason::BadPath => {
            "Bad request: the path is ambiguous (double-encoded, NUL or a broken escape).\n"
        }
        Reason::MissingHost => "Bad request: HTTP/1.1 needs a Host header.\n",
        Reason::CrawlerUnverified => {
            "Forbidden: this address is not one of the crawler's the user agent names.\n"
        }
        Reason::InternalError => "Internal error: tollgate could not decide this request.\n",
        _ => "Forbidden.\n",
    }
}

/// The challenge page (403: scripts must not mistake it for the content) or its JSON (200).
fn challenge(reason: Reason, p: &ChallengePage) -> Reply {
    let expire = |r: Reply| match p.expire_clearance {
        true => r.header("set-cookie", clearance_cookie(p.secure, "", 0)),
        false => r,
    };
    if p.json {
        let reply = Reply::new(200, reason, "application/json").no_store();
        return expire(reply).body(page::offer_json(p));
    }
    let mut reply = Reply::new(403, reason, "text/html; charset=utf-8")
        .no_store()
        .header("content-security-policy", page::csp());
    reply = expire(reply);
    if p.scored {
        // Only the HTML page: one probe cookie per page the browser actually renders.
        reply = reply.header("set-cookie", page::probe_cookie(p)).header(
            "content-security-policy-report-only",
            page::csp_report_only(&p.offer.token),
        );
    }
    reply.header("x-frame-options", "DENY").body(page::html(p))
}

/// 303 back to the page first asked for, with the clearance cookie.
fn pass(reason: Reason, g: &Grant) -> Reply {
    Reply::text(303, reason, "Cleared.\n")
        .no_store()
        .header("location", g.location.clone())
        .header(
            "set-cookie",
            clearance_cookie(g.secure, &g.cookie, g.max_age_secs),
        )
}

/// The clearance `Set-Cookie` (`max_age` 0 deletes it). Over HTTPS it is the `__Host-`
/// cookie, which must be `Secure` with `Path=/` and no `Domain`.
fn clearance_cookie(secure: bool, value: &str, max_age: u64) -> String {
    let name = clearance_cookie_name(secure);
    let flag = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{flag}")
}

#[cfg(test)]
mod tests;
