//! The probes' plans, encoding and judging, against what Chromium 156 and Firefox ESR 153
//! answered on this machine.

use super::*;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15";

/// What each engine answered on this machine (Chromium 156 headless, Firefox ESR 153), by
/// probe name: the probes that answered yes. Chromium's are the testkit's, plus the two it
/// leaves out there (client hints answer in secure contexts only; the window is headless).
fn chromium_yes() -> Vec<&'static str> {
    let page_only: &[&str] = &["user_agent_data", "headless_window"];
    [tollgate_testkit::challenge::CHROMIUM_YES, page_only].concat()
}

const FIREFOX_YES: &[&str] = &[
    "error_message_sm",
    "moz_inner_screen",
    "css_moz_appearance",
    "intl_segmenter",
    "intl_duration_format",
    "graphics",
];

fn answers(plan: &Plan, yes: &[&str]) -> Vec<Option<bool>> {
    plan.order
        .iter()
        .map(|p| Some(yes.contains(&p.as_str())))
        .collect()
}

fn judged(probe: &str, yes: &[&str], ua: &str) -> String {
    let plan = Plan::of(probe);
    plan.judge(&plan.encode(&answers(&plan, yes)), Some(ua))
        .names()
}

#[test]
fn each_engine_passes_as_itself_and_fails_as_another_on_every_plan() {
    let chromium = chromium_yes();
    for i in 0..200 {
        let probe = format!("{i:032x}");
        assert_eq!(
            judged(&probe, &chromium, CHROME),
            "headless_window",
            "{probe}"
        );
        assert_eq!(judged(&probe, FIREFOX_YES, FIREFOX), "-", "{probe}");
        for (yes, ua) in [
            (&chromium[..], FIREFOX),
            (&chromium[..], SAFARI),
            (FIREFOX_YES, CHROME),
        ] {
            let s = judged(&probe, yes, ua);
            assert!(s.contains("engine_mismatch"), "{probe} {ua}: {s}");
        }
    }
}

#[test]
fn a_plan_asks_twelve_engine_probes_and_every_tell_in_its_own_order() {
    let a = Plan::of("0123456789abcdef");
    let b = Plan::of("0123456789abcdee");
    assert_eq!(a.order.len(), ENGINE_PROBES_ASKED + 3);
    assert_ne!(a.order, b.order);
    assert_ne!(a.key, b.key);
    for tell in [Probe::HeadlessWindow, Probe::NoPlugins, Probe::DevtoolsOpen] {
        assert!(a.order.contains(&tell));
    }
    assert_eq!(
        Plan::of("0123456789abcdef"),
        a,
        "the same challenge, the same plan"
    );
}

#[test]
fn a_result_copied_from_another_challenge_or_mangled_is_forged() {
    let a = Plan::of("aaaaaaaaaaaaaaaa");
    let b = Plan::of("bbbbbbbbbbbbbbbb");
    let honest = a.encode(&answers(&a, FIREFOX_YES));
    assert_eq!(a.judge(&honest, Some(FIREFOX)).names(), "-");
    assert_eq!(b.judge(&honest, Some(FIREFOX)).names(), "probe_forged");
    let mut flipped = honest.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap_or_default();
    for bad in [
        &flipped[..],
        "",
        ".",
        "0.00000000",
        &honest[1..],
        "x",
        &"1".repeat(5000),
    ] {
        assert_eq!(
            a.judge(bad, Some(FIREFOX)).names(),
            "probe_forged",
            "{bad:?}"
        );
    }
}

#[test]
fn tells_fire_on_their_own_and_window_and_plugins_only_for_desktop_claims() {
    let plan = Plan::of("cccccccccccccccc");
    let mut yes = FIREFOX_YES.to_vec();
    yes.extend(["headless_window", "no_plugins", "devtools_open"]);
    let result = plan.encode(&answers(&plan, &yes));
    assert_eq!(
        plan.judge(&result, Some(FIREFOX)).names(),
        "headless_window,no_plugins,devtools_open"
    );
    let mobile = "Mozilla/5.0 (Android 14; Mobile; rv:153.0) Gecko/153.0 Firefox/153.0";
    assert_eq!(plan.judge(&result, Some(mobile)).names(), "devtools_open");
    // Unanswered probes and unknown claims judge nothing.
    let unanswered = plan.encode(&vec![None; plan.order.len()]);
    assert_eq!(plan.judge(&unanswered, Some(CHROME)).names(), "-");
    assert_eq!(
        plan.judge(&result, Some("curl/8.0")).names(),
        "devtools_open"
    );
}

#[test]
fn claims_read_family_version_and_form() {
    let c = |ua| Claim::of(ua).map(|c| (c.family, c.version, c.desktop));
    assert_eq!(c(CHROME), Some((0, Some(156), true)));
    assert_eq!(c(FIREFOX), Some((1, Some(153), true)));
    assert_eq!(c(SAFARI), Some((2, Some(18), true)));
    let ios_chrome = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1";
    assert_eq!(
        c(ios_chrome),
        Some((2, None, false)),
        "Chrome on iOS is WebKit"
    );
    assert_eq!(c("curl/8.0"), None);
}

#[test]
fn the_page_implements_every_probe_and_no_other() {
    let page = include_str!("../../toll/assets/challenge.js");
    let start = page.find("const PROBES = {").unwrap_or_default();
    let end = start + page[start..].find("\n  };").unwrap_or_default();
    let table = &page[start..end];
    let named: Vec<&str> = table
        .lines()
        .filter_map(|l| l.trim().split_once(": () =>").map(|(n, _)| n))
        .collect();
    let ours: Vec<&str> = Probe::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(named, ours, "challenge.js PROBES and Probe::ALL, in order");
}

#[test]
fn an_old_chrome_without_todays_wording_or_client_hints_is_no_liar() {
    let old = CHROME.replace("Chrome/156", "Chrome/89");
    let yes: Vec<&str> = chromium_yes()
        .into_iter()
        .filter(|p| {
            ![
                "error_message_v8",
                "user_agent_data",
                "intl_segmenter",
                "intl_duration_format",
            ]
            .contains(p)
        })
        .collect();
    for i in 0..200 {
        let probe = format!("{i:032x}");
        assert_eq!(judged(&probe, &yes, &old), "headless_window", "{probe}");
    }
}
