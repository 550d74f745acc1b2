//! What a browser shows when it answers a challenge (the white paper's behaviour collection):
//! the fields the page's script adds to the form, the probe cookie set with the page, and the
//! CSP report its deliberate violation triggered. Only signals come out; nothing is stored
//! about the client beyond the report's challenge id, which expires with the challenge.

use crate::request::cookie::cookie_value;
use crate::request::RequestView;
use crate::score::probes::Plan;
use crate::score::signal::{Signal, Signals, INSTANT_SUBMIT_MS};
use crate::toll::page::probe_cookie_name;

/// The fields the page sends with its answer.
#[derive(Default)]
struct Fields {
    /// `wd`: `navigator.webdriver` as 0/1.
    webdriver: Option<bool>,
    /// `hc`: `navigator.hardwareConcurrency`.
    cores: Option<u32>,
    /// `vis`: `document.visibilityState`.
    visible: Option<bool>,
    /// `ms`: milliseconds from the script's start to the submit.
    elapsed_ms: Option<u64>,
    /// `pr`: the engine probes' answers, encoded for this challenge (see `probes`).
    probes: Option<String>,
}

impl Fields {
    fn of(query: Option<&str>) -> Self {
        let mut f = Fields::default();
        let q = query.filter(|q| q.len() <= 8_192).unwrap_or("");
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match &*k {
                "wd" => f.webdriver = Some(v == "1"),
                "hc" => f.cores = v.parse().ok().filter(|n| (1..=1024).contains(n)),
                "vis" => f.visible = Some(v == "visible"),
                "ms" => f.elapsed_ms = v.parse().ok(),
                "pr" => f.probes = Some(v.into_owned()),
                _ => {}
            }
        }
        f
    }
}

/// Signals of the answering request `req`, whose challenge set probe cookie `probe` and was
/// `reported` by a CSP report.
pub(crate) fn answer_signals(req: &RequestView<'_>, probe: &str, reported: bool) -> Signals {
    let mut s = Signals::EMPTY;
    s.add_if(reported, Signal::CspReport);
    let returned = cookie_value(req.cookie, &probe_cookie_name(probe));
    s.add_if(
        !probe.is_empty() && returned.is_some_and(|c| same(c.as_bytes(), probe.as_bytes())),
        Signal::CookieRoundtrip,
    );
    let f = Fields::of(req.query);
    match (f.webdriver, f.cores, f.visible, &f.probes) {
        (Some(webdriver), Some(_), Some(visible), Some(probes)) => {
            s.add_if(webdriver, Signal::Webdriver);
            s.add_if(!visible, Signal::HiddenPage);
            s = s.union(Plan::of(probe).judge(probes, req.user_agent));
        }
        _ => s.add(Signal::NoBrowserSignals),
    }
    s.add_if(
        f.elapsed_ms.is_some_and(|ms| ms < INSTANT_SUBMIT_MS),
        Signal::InstantSubmit,
    );
    s
}

/// Browsers send `report-uri` reports as `application/csp-report`; the Reporting API uses
/// `application/reports+json`.
pub(crate) fn is_csp_report(content_type: Option<&str>) -> bool {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    ct.eq_ignore_ascii_case("application/csp-report")
        || ct.eq_ignore_ascii_case("application/reports+json")
}

/// Equality without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn signals(query: &str, cookie: Option<&str>, reported: bool) -> String {
        let mut r = RequestView::get(IpAddr::V4(Ipv4Addr::LOCALHOST), "/.tollgate/verify");
        r.query = Some(query);
        r.cookie = cookie;
        answer_signals(&r, "abc12345f", reported).names()
    }

    /// The page's probe result for challenge `abc12345f`, every probe unanswered.
    fn unanswered() -> String {
        let plan = Plan::of("abc12345f");
        plan.encode(&vec![None; plan.order.len()])
    }

    #[test]
    fn a_browser_answer_shows_its_fields_cookie_and_report() {
        let q = &format!(
            "challenge=t&nonce=1&wd=0&hc=8&vis=visible&ms=900&pr={}",
            unanswered()
        );
        assert_eq!(
            signals(q, Some("a=b; tollgate_probe_abc12345=abc12345f"), true),
            "csp_report,cookie_roundtrip"
        );
        // Another tab's challenge sets its own name: this answer's cookie is still found.
        let two = "tollgate_probe_0badc0de=0badc0de11; tollgate_probe_abc12345=abc12345f";
        assert_eq!(signals(q, Some(two), false), "cookie_roundtrip");
        // An old, unnamed or mismatched probe cookie is no round trip.
        assert_eq!(signals(q, Some("tollgate_probe=abc12345f"), false), "-");
        let automated = &format!("wd=1&hc=2&vis=hidden&ms=3&pr={}", unanswered());
        assert_eq!(
            signals(automated, Some("tollgate_probe_abc12345=abc12345e"), false),
            "webdriver,hidden_page,instant_submit"
        );
    }

    #[test]
    fn a_script_answer_lacks_the_fields() {
        assert_eq!(
            signals("challenge=t&nonce=1", None, false),
            "no_browser_signals"
        );
        assert_eq!(
            signals("wd=0&hc=0&vis=visible", None, false),
            "no_browser_signals"
        );
        // The page's fields without its probe result: a script that read the page.
        assert_eq!(
            signals("wd=0&hc=8&vis=visible", None, false),
            "no_browser_signals"
        );
        let other = Plan::of("0badc0de11");
        let copied = other.encode(&vec![None; other.order.len()]);
        assert_eq!(
            signals(&format!("wd=0&hc=8&vis=visible&pr={copied}"), None, false),
            "probe_forged"
        );
    }

    #[test]
    fn csp_reports_are_recognised_by_content_type() {
        assert!(is_csp_report(Some("application/csp-report")));
        assert!(is_csp_report(Some(
            "Application/Reports+JSON; charset=utf-8"
        )));
        assert!(!is_csp_report(Some("text/plain")));
        assert!(!is_csp_report(None));
    }
}
