//! The wire format every front end sends, pinned per decision: status, headers in order, body,
//! and whether the connection closes. A change here changes what clients see.

use std::time::Duration;

use super::*;
use crate::toll::{Offer, Puzzle};
use crate::verdict::Lang;

const NOW: u64 = 1_700_000_000;

fn page(json: bool, scored: bool) -> Decision {
    Decision::Challenge {
        reason: Reason::RouteChallenge,
        page: Box::new(ChallengePage {
            offer: Offer {
                token: "TOKEN".into(),
                puzzle: Puzzle::Hashcash { bits: 12 },
                prefix: "p".repeat(64),
                target: None,
                expires_unix_secs: NOW + 300,
                probe: "PROBE".into(),
            },
            return_to: "/x?y=1".into(),
            lang: Lang::ENGLISH,
            json,
            secure: true,
            scored,
            expire_clearance: false,
            nojs_wait_secs: None,
        }),
    }
}

/// Header names in order, and the values that are not generated.
fn shape(r: &Reply) -> Vec<String> {
    let volatile = [
        "set-cookie",
        "content-security-policy",
        "content-security-policy-report-only",
    ];
    let show = |(n, v): &(&str, std::borrow::Cow<'static, str>)| match volatile.contains(n) {
        true => n.to_string(),
        false => format!("{n}: {v}"),
    };
    r.headers.iter().map(show).collect()
}

#[test]
fn every_decision_has_one_pinned_wire_form() {
    let text = "content-type: text/plain; charset=utf-8";
    let table: Vec<(Decision, u16, Vec<&str>, &str, bool)> = vec![
        (
            Decision::deny(403, Reason::DenyList),
            403,
            vec![
                "x-tollgate-reason: deny_list",
                text,
                "cache-control: no-store",
            ],
            "Forbidden.\n",
            false,
        ),
        (
            Decision::deny(405, Reason::UnknownEndpoint),
            405,
            vec![
                "x-tollgate-reason: unknown_endpoint",
                text,
                "cache-control: no-store",
            ],
            "No such tollgate endpoint.\n",
            false,
        ),
        (
            Decision::RateLimited {
                retry_after: Duration::from_millis(2_001),
                reason: Reason::RateLimit,
            },
            429,
            vec![
                "x-tollgate-reason: rate_limit",
                text,
                "cache-control: no-store",
                "retry-after: 3",
            ],
            "Too many requests: slow down.\n",
            false,
        ),
        (
            Decision::Banned {
                until_unix_secs: NOW + 120,
                reason: Reason::ActiveBan,
                close: true,
            },
            403,
            vec![
                "x-tollgate-reason: active_ban",
                text,
                "cache-control: no-store",
                "retry-after: 120",
            ],
            "Banned.\n",
            true,
        ),
        (
            Decision::Pass {
                reason: Reason::ChallengePassed,
                grant: Box::new(Grant {
                    cookie: "C".into(),
                    max_age_secs: 3_600,
                    secure: true,
                    location: "/x".into(),
                }),
            },
            303,
            vec![
                "x-tollgate-reason: challenge_passed",
                text,
                "cache-control: no-store",
                "location: /x",
                "set-cookie",
            ],
            "Cleared.\n",
            false,
        ),
        (
            Decision::Serve {
                reason: Reason::CspReport,
                asset: Asset::Accepted,
            },
            204,
            vec![
                "x-tollgate-reason: csp_report",
                text,
                "cache-control: no-store",
            ],
            "",
            false,
        ),
        (
            Decision::Serve {
                reason: Reason::Endpoint,
                asset: Asset::WorkerScript,
            },
            200,
            vec![
                "x-tollgate-reason: endpoint",
                "content-type: text/javascript; charset=utf-8",
                "cache-control: public, max-age=3600",
            ],
            "// Tollgate proof-of-work worker",
            false,
        ),
        (
            page(true, true),
            200,
            vec![
                "x-tollgate-reason: route_challenge",
                "content-type: application/json",
                "cache-control: no-store",
            ],
            "{",
            false,
        ),
        (
            page(false, false),
            403,
            vec![
                "x-tollgate-reason: route_challenge",
                "content-type: text/html; charset=utf-8",
                "cache-control: no-store",
                "content-security-policy",
                "x-frame-options: DENY",
            ],
            "<!DOCTYPE html>",
            false,
        ),
        (
            page(false, true),
            403,
            vec![
                "x-tollgate-reason: route_challenge",
                "content-type: text/html; charset=utf-8",
                "cache-control: no-store",
                "content-security-policy",
                "set-cookie",
                "content-security-policy-report-only",
                "x-frame-options: DENY",
            ],
            "<!DOCTYPE html>",
            false,
        ),
    ];
    for (decision, status, headers, body, close) in table {
        let r = respond(&decision, NOW).unwrap();
        let what = format!("{decision:?}");
        assert_eq!(r.status, status, "{what}");
        assert_eq!(shape(&r), headers, "{what}");
        assert!(
            r.body.starts_with(body.as_bytes()),
            "{what}: {:?}",
            r.body_text()
        );
        assert_eq!(r.close, close, "{what}");
    }
    let allow = Decision::Allow {
        reason: Reason::WithinLimit,
    };
    assert_eq!(respond(&allow, NOW), None, "allowed requests are proxied");
}

#[test]
fn the_clearance_cookie_carries_its_flags() {
    let base = "tollgate_clearance=VALUE; Path=/; Max-Age=600; HttpOnly; SameSite=Lax";
    let https =
        "__Host-tollgate_clearance=VALUE; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure";
    for (secure, want) in [(true, https.to_string()), (false, base.to_string())] {
        let pass = Decision::Pass {
            reason: Reason::ChallengePassed,
            grant: Box::new(Grant {
                cookie: "VALUE".into(),
                max_age_secs: 600,
                secure,
                location: "/".into(),
            }),
        };
        let reply = respond(&pass, NOW).unwrap();
        assert_eq!(
            reply.header_value("set-cookie"),
            Some(want.as_str()),
            "secure: {secure}"
        );
    }
}

#[test]
fn a_challenge_for_a_dead_clearance_deletes_it() {
    let Decision::Challenge { reason, mut page } = page(false, false) else {
        unreachable!()
    };
    page.expire_clearance = true;
    let reply = respond(&Decision::Challenge { reason, page }, NOW).unwrap();
    assert_eq!(
        reply.header_value("set-cookie"),
        Some("__Host-tollgate_clearance=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
    );
}

#[test]
fn the_page_is_in_each_language_with_its_html_lang_and_accessible_progress() {
    for lang in Lang::all() {
        let Decision::Challenge { reason, mut page } = page(false, false) else {
            unreachable!("page() is a challenge");
        };
        page.lang = lang;
        let reply = respond(&Decision::Challenge { reason, page }, NOW).unwrap();
        let html = reply.body_text();
        let t = lang.locale();
        assert!(
            html.contains(&format!("<html lang=\"{}\">", t.tag)),
            "{}",
            t.tag
        );
        for words in [t.title, t.intro, t.noscript, t.progress] {
            assert!(html.contains(words), "{}: {words:?} missing", t.tag);
        }
        assert!(html.contains("role=\"status\" aria-live=\"polite\""));
        assert!(html.contains("prefers-reduced-motion"));
    }
}
