//! Paying tollgate's challenge natively, as a test client: the same answer works on every front
//! end, since they share the core and the key.

use serde_json::Value;
use tollgate_core::Puzzle;
use tollgate_core::{solve_parallel, Work};

/// The puzzle of a JSON offer from `/.tollgate/challenge`.
fn work(offer: &Value) -> Work {
    let field = |k: &str| {
        offer[k]
            .as_str()
            .unwrap_or_else(|| panic!("offer has no {k}: {offer}"))
    };
    let param = offer["param"]
        .as_u64()
        .unwrap_or_else(|| panic!("offer has no param: {offer}"));
    let puzzle = Puzzle::from_kind(field("puzzle"), param)
        .unwrap_or_else(|| panic!("unknown puzzle in {offer}"));
    Work::new(puzzle, field("prefix"), offer["target"].as_str())
        .unwrap_or_else(|| panic!("offer {offer} is no work"))
}

/// The wait link of a challenge page's `<noscript>` refresh (`nojs = "wait"` routes), or `None`.
pub fn wait_link(page: &str) -> Option<String> {
    let start = page.find("http-equiv=\"refresh\" content=\"")?;
    let rest = &page[start..];
    let url = &rest[rest.find(";url=")? + 5..];
    Some(url[..url.find('"')?].replace("&amp;", "&"))
}

/// The nonce that answers `offer` (solved on 2 threads).
pub fn answer(offer: &Value) -> u64 {
    solve_parallel(&work(offer), 2)
        .unwrap_or_else(|| panic!("no answer found for {offer}"))
        .0
}

/// A nonce near `right` that does not answer `offer`, checked locally: a fixed flip of the
/// right answer is itself a valid answer once in a while (once in 4,096 runs for 12 bits).
pub fn wrong_answer(offer: &Value, right: u64) -> u64 {
    let work = work(offer);
    (1..)
        .map(|d| right ^ d)
        .find(|n| !work.accepts(*n))
        .unwrap_or_else(|| panic!("every nonce answers {offer}"))
}

/// The verify path submitting `nonce` for challenge `token`, returning to `back`.
pub fn verify_path(token: &str, nonce: u64, back: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("challenge", token)
        .append_pair("nonce", &nonce.to_string())
        .append_pair("return", back)
        .finish();
    format!("/.tollgate/verify?{q}")
}

/// A forged clearance `Cookie` header (over plain HTTP): a well-formed cookie naming the test
/// key, with a made-up MAC and client-free tag. The only kind of bad cookie that is an offence.
pub fn forged_cookie() -> String {
    let keys = tollgate_core::Keyring::from_hex(crate::TEST_SECRET_HEX)
        .unwrap_or_else(|e| panic!("test key: {e}"));
    let rules = tollgate_core::parse_rules("", std::path::Path::new("-"), &tollgate_core::FsReader)
        .unwrap_or_else(|e| panic!("{e}"));
    let grant = tollgate_core::Clearance {
        issued_unix_secs: crate::now_secs(),
        expires_unix_secs: crate::now_secs() + 600,
        budget: 100,
        work_bits: 32,
        serial: [7; 16],
    };
    let genuine = tollgate_core::mint_clearance(&keys, &rules, [0, 0, 0, 0].into(), None, &grant);
    let payload = genuine.split('.').next().unwrap_or_default();
    let forged = format!("{payload}.{}.{}", "A".repeat(43), "A".repeat(22));
    format!("{}={forged}", tollgate_core::CLEARANCE_COOKIE)
}

/// The probes Chromium 156 answers yes to on this machine (`userAgentData` aside: it answers
/// only in secure contexts, so [`chromium_probe_result`] leaves it unanswered).
pub const CHROMIUM_YES: &[&str] = &[
    "error_message_v8",
    "stack_message_line",
    "native_code_one_line",
    "window_chrome",
    "vendor_google",
    "css_webkit_app_region",
    "intl_segmenter",
    "intl_duration_format",
    "graphics",
];

/// The page's probe result for `offer` (its `probes` and `probe_key`), answered as Chromium
/// answers: what `challenge.js` would send with the answer.
pub fn chromium_probe_result(offer: &Value) -> String {
    use tollgate_core::{Plan, Probe};
    let names = offer["probes"]
        .as_array()
        .unwrap_or_else(|| panic!("offer has no probes: {offer}"));
    let order: Vec<Probe> = names
        .iter()
        .map(|p| {
            p.as_str()
                .and_then(Probe::parse)
                .unwrap_or_else(|| panic!("unknown probe {p}"))
        })
        .collect();
    let answers: Vec<Option<bool>> = order
        .iter()
        .map(|&p| (p != Probe::UserAgentData).then(|| CHROMIUM_YES.contains(&p.as_str())))
        .collect();
    let key = offer["probe_key"].as_u64().unwrap_or_default() as u32;
    Plan { order, key }.encode(&answers)
}
