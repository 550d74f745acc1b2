//! The TLS stack as a signal, against a real `tollgate` over TLS: a route condition on the JA4
//! fingerprint denies one client stack and no other, and Debian's Firefox ESR (NSS: no GREASE,
//! record_size_limit) passes a pass_on_score page unnoticed and pays the puzzle elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::Command;

use tollgate_testkit::browser;
use tollgate_testkit::tollgate::log_field;

mod support;

use support::site::*;

#[test]
fn a_ja4_route_condition_denies_one_tls_stack_and_no_other() {
    let site = Site::start();
    let url = site.url("/protected/x");
    assert_eq!(curl("127.0.0.81", &["--http2"], &url), "403 2");
    let ja4 = log_field(&site.line("127.0.0.81", "refused"), "ja4");
    // A deny route for curl's stack, first (routes match in order).
    let deny =
        format!("[[route]]\nname = \"blocked-stack\"\nja4 = [\"{ja4}\"]\naction = \"deny\"\n");
    let rules = TLS_RULES.replacen("[[route]]", &format!("{deny}[[route]]"), 1);
    std::fs::write(&site.t.rules_path, rules).unwrap();
    assert_eq!(
        site.t.admin("POST", "/reload").status,
        200,
        "{}",
        site.t.log()
    );
    assert_eq!(curl("127.0.0.82", &["--http2"], &url), "403 2");
    let line = site.line("127.0.0.82", "refused");
    assert_eq!(log_field(&line, "reason"), "route_deny", "{line}");
    // wget speaks GnuTLS: another stack, another fingerprint, not denied.
    let out = run(Command::new("wget")
        .args(["-q", "-S", "-O", "/dev/null", "--no-check-certificate"])
        .args(["--bind-address=127.0.0.83", &url]));
    let headers = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(
        headers.contains("x-tollgate-reason: route_challenge"),
        "{headers}"
    );
}

#[test]
fn debian_firefox_esr_passes_unnoticed_where_allowed_and_pays_elsewhere() {
    if !browser::available() {
        return;
    }
    let site = Site::start();
    // Firefox cannot pick its source address: it is 127.0.0.1, which no other step here uses.
    // The page text is the upstream's own (Firefox also asks for /favicon.ico on its own).
    browser::firefox(&site.url("/articles/ff"), "upstream saw /articles/ff");
    let refused = site
        .t
        .log()
        .lines()
        .any(|l| l.contains("refused") && l.contains("/articles/ff"));
    assert!(
        !refused,
        "no challenge on the pass_on_score route: {}",
        site.t.log()
    );
    let v = browser::firefox(&site.url("/protected/ff"), "upstream saw /protected/ff");
    let granted = site.line("127.0.0.1", "granted");
    assert!(
        !log_field(&granted, "signals").contains("browser_tls_mismatch"),
        "{granted}"
    );
    let cookie = v["cookies"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == tollgate_core::SECURE_COOKIE));
    assert_eq!(
        cookie.map(|c| (c["secure"].clone(), c["httpOnly"].clone())),
        Some((true.into(), true.into())),
        "{v}"
    );
}
