//! How tollgate's own answers look on the wire, shared by every front end so they answer alike:
//! refusals, the challenge page, the clearance redirect, and the solver scripts.

use std::borrow::Cow;

use crate::clearance::COOKIE;
use crate::decision::{Asset, ChallengePage, Decision, Grant, Reason};
use crate::page;

/// A complete response tollgate gives instead of proxying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Names and values; most values are static, so rendering a refusal allocates little.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Cow<'static, str>,
    /// Close the connection after this response.
    pub close: bool,
}

/// Header naming the reason, so operators (and tests) can see why without reading logs.
pub const REASON_HEADER: &str = "x-tollgate-reason";

const TEXT: &str = "text/plain; charset=utf-8";

/// The response for `decision` at `now_unix_secs`, or `None` when the request should be proxied.
pub fn respond(decision: &Decision, now_unix_secs: u64) -> Option<Reply> {
    let reason = decision.reason();
    let (status, body, ctype, close, extra): (u16, Cow<'static, str>, &'static str, bool, Extra) =
        match decision {
            Decision::Allow { .. } => return None,
            Decision::Deny { status, .. } => (*status, deny_text(reason).into(), TEXT, false, None),
            Decision::RateLimited { retry_after, .. } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let body = "Too many requests: slow down.\n".into();
                (429, body, TEXT, false, retry(secs.max(1)))
            }
            Decision::Banned {
                until_unix_secs,
                close,
                ..
            } => {
                let secs = until_unix_secs.saturating_sub(now_unix_secs).max(1);
                (403, "Banned.\n".into(), TEXT, *close, retry(secs))
            }
            Decision::Challenge { page, .. } => return Some(challenge(reason, page)),
            Decision::Pass { grant, .. } => return Some(pass(reason, grant)),
            Decision::Serve {
                asset: Asset::Accepted,
                ..
            } => (204, "".into(), TEXT, false, None),
            Decision::Serve { asset, .. } => {
                let (ctype, body) = page::asset(*asset);
                let cache = ("cache-control", Cow::Borrowed("public, max-age=3600"));
                (200, body.into(), ctype, false, Some(cache))
            }
        };
    let mut headers = Vec::with_capacity(4);
    headers.push((REASON_HEADER, Cow::Borrowed(reason.as_str())));
    headers.push(("content-type", Cow::Borrowed(ctype)));
    match extra {
        Some(h @ ("cache-control", _)) => headers.push(h),
        Some(h) => {
            headers.push(("cache-control", Cow::Borrowed("no-store")));
            headers.push(h);
        }
        None => headers.push(("cache-control", Cow::Borrowed("no-store"))),
    }
    Some(Reply {
        status,
        headers,
        body,
        close,
    })
}

type Extra = Option<(&'static str, Cow<'static, str>)>;

fn retry(secs: u64) -> Extra {
    Some(("retry-after", Cow::Owned(secs.to_string())))
}

fn deny_text(reason: Reason) -> &'static str {
    match reason {
        Reason::ChallengeInvalid => "Invalid challenge: reload the page to get a new one.\n",
        Reason::ChallengeFailed => "Wrong answer to the challenge.\n",
        Reason::ChallengeReplayed => "This answer was already used: reload the page.\n",
        Reason::ChallengeBusy => "Too many challenges in flight: try again shortly.\n",
        Reason::UnknownEndpoint => "No such tollgate endpoint.\n",
        _ => "Forbidden.\n",
    }
}

/// The challenge page (403: scripts must not mistake it for the content) or its JSON (200).
fn challenge(reason: Reason, p: &ChallengePage) -> Reply {
    let mut headers = vec![
        (REASON_HEADER, Cow::Borrowed(reason.as_str())),
        ("cache-control", Cow::Borrowed("no-store")),
    ];
    let (status, body) = if p.json {
        headers.push(("content-type", Cow::Borrowed("application/json")));
        (200, page::offer_json(p))
    } else {
        headers.push(("content-type", Cow::Borrowed("text/html; charset=utf-8")));
        headers.push(("content-security-policy", Cow::Borrowed(page::csp())));
        if p.scored {
            // Only the HTML page: one probe cookie per page the browser actually renders.
            headers.push(("set-cookie", Cow::Owned(page::probe_cookie(p))));
            let report_only = page::csp_report_only(&p.offer.token);
            headers.push((
                "content-security-policy-report-only",
                Cow::Owned(report_only),
            ));
        }
        headers.push(("x-frame-options", Cow::Borrowed("DENY")));
        (403, page::html(p))
    };
    Reply {
        status,
        headers,
        body: Cow::Owned(body),
        close: false,
    }
}

/// 303 back to the page first asked for, with the clearance cookie.
fn pass(reason: Reason, g: &Grant) -> Reply {
    let secure = if g.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        g.cookie, g.max_age_secs
    );
    Reply {
        status: 303,
        headers: vec![
            (REASON_HEADER, Cow::Borrowed(reason.as_str())),
            ("cache-control", Cow::Borrowed("no-store")),
            ("content-type", Cow::Borrowed(TEXT)),
            ("location", Cow::Owned(g.location.clone())),
            ("set-cookie", Cow::Owned(cookie)),
        ],
        body: Cow::Borrowed("Cleared.\n"),
        close: false,
    }
}
