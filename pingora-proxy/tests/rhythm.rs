//! Request rhythm against a real `tollgate` over TLS: a real `wget` loop with a fixed `sleep`
//! shows `fixed_interval` within ten requests, while headless Chromium navigating as a person
//! does (pages at varied pauses, each with its own assets) shows neither rhythm signal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::Command;

use tollgate_testkit::browser::{self, As};
use tollgate_testkit::tollgate::log_field;

mod support;

use support::site::*;

/// The signals of each of `client`'s refusals, in order.
fn refusals(site: &Site, client: &str) -> Vec<String> {
    site.t
        .log()
        .lines()
        .filter(|l| l.contains(&format!("client={client} ")) && l.contains("refused"))
        .map(|l| log_field(l, "signals").to_string())
        .collect()
}

#[test]
fn a_wget_loop_with_a_fixed_sleep_shows_fixed_interval_within_ten_requests() {
    let site = Site::start();
    let url = site.url("/protected/feed");
    // The harvester's loop (seed 000): ten fetches, one second apart. Bounded: ten rounds.
    let script = format!(
        "for i in $(seq 10); do wget -q --no-check-certificate --tries=1 --timeout=5 \
         --bind-address=127.0.0.74 -O /dev/null '{url}'; sleep 1; done; true"
    );
    let out = run(Command::new("bash").args(["-c", &script]));
    assert!(out.status.success(), "{out:?}");
    let seen = refusals(&site, "127.0.0.74");
    assert_eq!(
        seen.len(),
        10,
        "every fetch met the challenge:\n{}",
        site.t.log()
    );
    let first = seen.iter().position(|s| s.contains("fixed_interval"));
    assert!(
        first.is_some_and(|i| (5..10).contains(&i)),
        "fixed_interval from the sixth request, within ten: {seen:#?}"
    );
    assert!(
        site.t
            .metric("tollgate_signals_total{signal=\"fixed_interval\"}")
            >= 1.0
    );
}

#[test]
fn a_person_navigating_in_chromium_shows_no_rhythm() {
    if !browser::available() {
        return;
    }
    let site = Site::start();
    // Pages that pass on score, each with its own stylesheet and image (the test upstream serves
    // them for `….html`): a site as browsers see it.
    let urls: Vec<String> = (0..7)
        .map(|i| site.url(&format!("/articles/page-{i}.html")))
        .collect();
    let v = browser::walk(As::Person, &urls, &[700, 2300, 1200, 3400, 900, 1600, 0]);
    assert_eq!(v["ok"], true, "{v}");
    for signal in ["fixed_interval", "burst_no_subresources"] {
        let series = format!("tollgate_signals_total{{signal=\"{signal}\"}}");
        assert_eq!(
            site.t.metric(&series),
            0.0,
            "{signal}: {v}\n{}",
            site.t.log()
        );
    }
    // The pages were scored (so a rhythm signal could have fired), and passed on score.
    assert!(
        site.t
            .metric("tollgate_requests_total{decision=\"allow\",reason=\"score_pass\"}")
            >= 7.0,
        "{}",
        site.t.log()
    );
}
