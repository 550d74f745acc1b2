//! Environment scoring against a real `tollgate` over TLS (ALPN h2 + http/1.1) and real clients:
//! headless Chromium, curl, wget, python-requests, and a copied Chrome header set over HTTP/1.1
//! and HTTP/2. Each client binds its own 127.0.0.0/8 source address, so its log line (score and
//! signals) can be told apart. (The site and client helpers are in support/site.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::Command;

use tollgate_testkit::browser::{self, As};
use tollgate_testkit::tollgate::log_field;

mod support;

use support::site::*;

/// `/usr/bin/python3` with requests (what `.ci/run` installs), else any `python3` that has it.
fn python() -> String {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import requests"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return p.to_string();
        }
    }
    panic!("no python3 with requests (apt-get install python3-requests)")
}

const PYTHON_GET: &str = r#"
import sys, requests, urllib3
from requests.adapters import HTTPAdapter
urllib3.disable_warnings()
class Bound(HTTPAdapter):
    def init_poolmanager(self, *a, **k):
        k["source_address"] = (sys.argv[1], 0)
        super().init_poolmanager(*a, **k)
s = requests.Session()
s.mount("https://", Bound())
r = s.get(sys.argv[2], verify=False, allow_redirects=False, timeout=10)
print(r.status_code, r.headers.get("x-tollgate-reason"))
"#;

#[test]
fn scripts_and_liars_score_below_browsers_each_for_its_own_reasons() {
    let site = Site::start();
    let url = site.url("/protected/page");

    let curl_out = curl("127.0.0.71", &[], &url);
    assert_eq!(
        curl_out, "403 2",
        "curl negotiates h2 and gets the challenge"
    );
    let (curl_score, curl_sig) = scored(&site, "127.0.0.71");
    assert_has(
        &curl_sig,
        &["h2", "script_agent"],
        &["accept_gzip", "sec_fetch"],
        "curl",
    );

    let wget = run(Command::new("wget")
        .args([
            "-q",
            "--no-check-certificate",
            "--bind-address=127.0.0.72",
            "-O",
            "/dev/null",
        ])
        .arg(&url));
    assert_eq!(
        wget.status.code(),
        Some(8),
        "wget: server error response (403)"
    );
    let (wget_score, wget_sig) = scored(&site, "127.0.0.72");
    assert_has(&wget_sig, &["script_agent"], &["h2", "accept_gzip"], "wget");
    // The suspect band's price (wget scores 40): the default 23 bits, three doublings dearer;
    // curl (50, neutral) pays the default.
    let offer = |args: &[&str]| -> u64 {
        let out = run(Command::new(args[0]).args(&args[1..]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"));
        v["param"].as_u64().unwrap()
    };
    let offer_url = site.url("/.tollgate/challenge?return=/protected/x");
    let wget_offer = [
        "wget",
        "-q",
        "--no-check-certificate",
        "--bind-address=127.0.0.75",
        "-O",
        "-",
        &offer_url,
    ];
    assert_eq!(offer(&wget_offer), 26, "suspect band");
    let curl_offer = ["curl", "-sk", "--interface", "127.0.0.76", &offer_url];
    assert_eq!(offer(&curl_offer), 23, "neutral band");

    let py = run(Command::new(python()).args(["-c", PYTHON_GET, "127.0.0.73", &url]));
    let py_out = String::from_utf8_lossy(&py.stdout);
    assert_eq!(py_out.trim(), "403 route_challenge", "{py:?}");
    let (py_score, py_sig) = scored(&site, "127.0.0.73");
    assert_has(
        &py_sig,
        &["accept_gzip", "script_agent"],
        &["h2"],
        "python-requests",
    );

    // A real Chrome's navigation headers, replayed over HTTP/1.1.
    let copied = [
        format!("User-Agent: {CHROME_UA}"),
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8".into(),
        "Accept-Encoding: gzip, deflate, br, zstd".into(),
        "Accept-Language: en-US,en;q=0.9".into(),
        "Sec-Fetch-Site: none".into(),
        "Sec-Fetch-Mode: navigate".into(),
        "Sec-Fetch-Dest: document".into(),
        "Sec-Fetch-User: ?1".into(),
        "Upgrade-Insecure-Requests: 1".into(),
    ];
    let mut args = vec!["--http1.1".to_string()];
    for h in &copied {
        args.push("-H".into());
        args.push(h.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(curl("127.0.0.74", &args, &url), "403 1.1");
    let (liar_score, liar_sig) = scored(&site, "127.0.0.74");
    assert_has(
        &liar_sig,
        &[
            "browser_without_h2",
            "browser_tls_mismatch",
            "accept_gzip",
            "modern_encoding",
            "sec_fetch",
        ],
        &["h2", "script_agent"],
        "copied Chrome headers",
    );
    // The same headers over HTTP/2, to a page that lets browsers pass on score: curl's OpenSSL
    // hello has no GREASE, so the "Chrome" never passes.
    let articles = site.url("/articles/copied");
    let mut h2_args = vec!["--http2".to_string()];
    h2_args.extend(args.iter().skip(1).map(|a| a.to_string()));
    let h2_args: Vec<&str> = h2_args.iter().map(String::as_str).collect();
    for _ in 0..5 {
        assert_eq!(curl("127.0.0.77", &h2_args, &articles), "403 2");
    }
    let line = site.line("127.0.0.77", "refused");
    let h2_sig: Vec<String> = log_field(&line, "signals")
        .split(',')
        .map(str::to_string)
        .collect();
    assert_has(
        &h2_sig,
        &["h2", "browser_tls_mismatch"],
        &["script_agent"],
        &line,
    );
    let ja4 = log_field(&line, "ja4");
    // TLS 1.3, no SNI (an IP address), h2 offered first: curl's OpenSSL stack, fingerprinted.
    assert!(
        ja4.starts_with("t13i") && ja4.len() == 36 && &ja4[8..10] == "h2",
        "{line}"
    );
    let series = format!("tollgate_tls_hellos_total{{ja4=\"{ja4}\"}}");
    assert!(site.t.metric(&series) >= 5.0, "one per connection");

    eprintln!("scores: curl {curl_score} wget {wget_score} python-requests {py_score} copied-chrome {liar_score}");
    // The liar scores lowest; every honest script stays in a paying band above the floor.
    for (who, s) in [
        ("curl", curl_score),
        ("wget", wget_score),
        ("python", py_score),
    ] {
        assert!(liar_score < s, "liar {liar_score} vs {who} {s}");
        assert!(s >= 10, "{who} {s} must not fall below the floor");
    }
    assert!(curl_score < 75 && py_score < 75 && wget_score < 75);
    // The exact figures the README promises for the default weights.
    assert_eq!(
        (curl_score, wget_score, py_score, liar_score),
        (50, 40, 45, -15),
        "README: curl 50, wget 40, python-requests 45, copied Chrome set -15"
    );
    assert_eq!(site.upstream.hits(), 0, "no script reached the backend");
    assert!(
        site.t
            .metric("tollgate_signals_total{signal=\"browser_without_h2\"}")
            >= 1.0
    );
    assert!(
        site.t
            .metric("tollgate_signals_total{signal=\"script_agent\"}")
            >= 3.0
    );
}

#[test]
fn a_wget_loop_of_500_requests_gets_nothing_from_the_backend() {
    let site = Site::start();
    let url = site.url("/protected/captcha.png");
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..500 {
        let out = run(Command::new("wget")
            .args(["-q", "--no-check-certificate", "--bind-address=127.0.0.80"])
            .args(["--timeout=5", "--tries=1", "-O", "/dev/null"])
            .arg(&url));
        *codes.entry(out.status.code()).or_insert(0) += 1;
    }
    assert_eq!(site.upstream.hits(), 0, "wget exit codes: {codes:?}");
    assert_eq!(
        codes.get(&Some(8)),
        Some(&500),
        "every request refused: {codes:?}"
    );
    let challenged = site
        .t
        .metric("tollgate_requests_total{decision=\"challenge\",reason=\"route_challenge\"}");
    assert!(challenged >= 1.0, "the loop met the challenge first");
}

#[test]
fn headless_chromium_passes_unnoticed_or_pays_the_trusted_price_and_its_csp_report_counts() {
    if !browser::available() {
        return;
    }
    let site = Site::start();

    // A route that lets good scores through: no challenge at all.
    // As a person's Chromium: Playwright's automation flag off, no "HeadlessChrome" (an
    // automated one pays more: see probes.rs).
    let v = browser::pass_as(As::Person, &site.url("/articles/one"), "upstream saw");
    assert_eq!(
        browser::responses(&v, "/articles/one"),
        [(200, None)],
        "{v}"
    );
    assert!(
        site.t
            .metric("tollgate_requests_total{decision=\"allow\",reason=\"score_pass\"}")
            >= 1.0
    );

    // A route that always asks: the trusted band's cheaper puzzle, then the backend.
    let v = browser::pass_as(As::Person, &site.url("/protected/two"), "upstream saw");
    assert_eq!(
        browser::responses(&v, "/protected/two"),
        [(403, Some("route_challenge".into())), (200, None)],
        "{v}"
    );
    let reports = "tollgate_requests_total{decision=\"serve\",reason=\"csp_report\"}";
    assert!(
        site.t.metric(reports) >= 1.0,
        "CSP report arrived:\n{}",
        site.t.log()
    );
    let granted = site.line("127.0.0.1", "granted");
    let score: i32 = log_field(&granted, "score").parse().unwrap();
    let signals = log_field(&granted, "signals");
    let signals: Vec<String> = signals.split(',').map(String::from).collect();
    assert_has(
        &signals,
        &[
            "h2",
            "modern_encoding",
            "sec_fetch",
            "csp_report",
            "cookie_roundtrip",
        ],
        &[
            "no_browser_signals",
            "browser_without_h2",
            "script_agent",
            "webdriver",
            "headless_agent",
        ],
        "chromium",
    );
    assert!(score >= 75, "chromium lands in the trusted band: {granted}");
    // The trusted band's price: the default 23 bits, two doublings cheaper.
    let paid = browser::paid_puzzle(&v, "127.0.0.1".parse().unwrap());
    assert_eq!(
        paid,
        Some(tollgate_core::Puzzle::Hashcash { bits: 21 }),
        "{v}"
    );
    let cookie = v["cookies"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == tollgate_core::SECURE_COOKIE));
    assert_eq!(
        cookie.map(|c| c["secure"].clone()),
        Some(true.into()),
        "the __Host- cookie, Secure, under TLS: {v}"
    );
    assert!(
        site.t
            .metric("tollgate_signals_total{signal=\"csp_report\"}")
            >= 1.0
    );
}
