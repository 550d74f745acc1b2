//! The challenge page's engine probes and automation tells against a real `tollgate` over TLS
//! and real engines: Chromium and Firefox ESR pass as themselves, each is caught claiming the
//! other (or Safari), Playwright's headless Chromium shows its tells and pays more, and a probe
//! result copied from another challenge is refused (plain HTTP, answered natively).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use serde_json::Value;
use tollgate_testkit::browser::{self, As};
use tollgate_testkit::challenge::{answer, chromium_probe_result, verify_path};
use tollgate_testkit::tollgate::{log_field, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::site::{assert_has, Site, CHROME_UA, TLS_RULES};

/// A liar's score lands in the suspect band, whose 26-bit puzzle a headless browser on 2 cores
/// takes a minute to pay: these sites ask 16 bits, so each answer arrives in seconds.
fn cheap_site() -> Site {
    Site::start_with(&format!("{TLS_RULES}[challenge]\ndifficulty = 16\n"))
}
use support::{bin, get, offer};

/// The signals of the log line about the answer (granted or refused at verify).
fn answer_signals(site: &Site) -> Vec<String> {
    let log = site.t.log();
    let line = log
        .lines()
        .find(|l| l.contains("path=\"/.tollgate/verify\"") || l.contains(" granted "))
        .unwrap_or_else(|| panic!("no answer in the log:\n{log}"));
    log_field(line, "signals")
        .split(',')
        .map(String::from)
        .collect()
}

#[test]
fn chromium_and_firefox_pass_as_themselves_and_are_caught_claiming_another_engine() {
    if !browser::available() {
        return;
    }
    let site = cheap_site();
    let v = browser::pass_as(As::Person, &site.url("/protected/own"), "upstream saw");
    let own = answer_signals(&site);
    assert_has(
        &own,
        &["cookie_roundtrip"],
        &["engine_mismatch", "probe_forged"],
        "chromium",
    );
    let ms = v["verify"]["probe_ms"].as_f64().unwrap();
    eprintln!("probe time in Chromium: {ms} ms");

    let site = cheap_site();
    browser::firefox(&site.url("/protected/own"), "upstream saw");
    let own = answer_signals(&site);
    assert_has(
        &own,
        &["cookie_roundtrip"],
        &["engine_mismatch", "probe_forged"],
        "firefox",
    );

    for who in [As::Firefox, As::Safari] {
        let site = cheap_site();
        // Caught, the liar is refused at verify: its page says so (no waiting for the backend).
        let v = browser::try_pass_as(who, &site.url("/protected/lie"), "Forbidden");
        let lie = answer_signals(&site);
        assert_has(
            &lie,
            &["engine_mismatch"],
            &["probe_forged"],
            &format!("{who:?}: {v}"),
        );
    }
    let site = cheap_site();
    let v = browser::firefox_claiming(Some(CHROME_UA), &site.url("/protected/lie"), "Forbidden");
    assert_eq!(v["ok"], true, "refused at verify: {v}");
    let lie = answer_signals(&site);
    assert_has(
        &lie,
        &["engine_mismatch"],
        &["probe_forged"],
        "firefox as chrome",
    );
}

#[test]
fn playwrights_headless_chromium_shows_its_tells_and_pays_more() {
    if !browser::available() {
        return;
    }
    let site = Site::start();
    let v = browser::pass(&site.url("/protected/bot"), "upstream saw");
    let s = answer_signals(&site);
    assert_has(
        &s,
        &["headless_agent", "webdriver", "headless_window"],
        &["engine_mismatch", "probe_forged", "no_plugins"],
        "playwright",
    );
    // The neutral band's price, not the trusted band's 21 bits a person's Chromium pays.
    let paid = browser::paid_puzzle(&v, "127.0.0.1".parse().unwrap());
    assert_eq!(
        paid,
        Some(tollgate_core::Puzzle::Hashcash { bits: 23 }),
        "{v}"
    );
}

#[test]
fn a_probe_result_copied_from_another_challenge_is_refused() {
    let dir = TempDir::new("probes-replay");
    let up = Upstream::start().unwrap();
    let rules = "[score]\n[challenge]\ndifficulty = 12\n[[route]]\nname = \"p\"\npath_prefix = \"/p/\"\naction = \"challenge\"\n";
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    let me = "127.0.3.90";
    let (first, second) = (
        offer(&t, me, CHROME_UA, "/p/a"),
        offer(&t, me, CHROME_UA, "/p/b"),
    );
    let submit = |o: &Value, result: &str| {
        let token = o["token"].as_str().unwrap();
        let path = verify_path(token, answer(o), "/p/a");
        let path = format!("{path}&wd=0&hc=8&vis=visible&ms=900&pr={result}");
        get(&t, me, &path, CHROME_UA, None)
    };
    let copied = submit(&second, &chromium_probe_result(&first));
    assert_eq!(copied.status, 403, "{copied:?}");
    assert_eq!(copied.header("x-tollgate-reason"), Some("score_too_low"));
    let own = submit(&first, &chromium_probe_result(&first));
    assert_eq!(
        own.status,
        303,
        "its own result passes: {own:?}\n{}",
        t.log()
    );
    let log = t.log();
    let refused = log.lines().find(|l| l.contains("score_too_low")).unwrap();
    assert!(
        log_field(refused, "signals").contains("probe_forged"),
        "{refused}"
    );
}
