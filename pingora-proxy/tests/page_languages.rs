//! The challenge page in each of its languages, in headless Chromium: the browser's locale
//! (sent as `Accept-Language`) picks the page's words and its `<html lang>`, and the progress
//! bar and the live status line speak it too. `bash scripts/screenshots.sh` runs this test with
//! `TOLLGATE_SHOTS=docs/challenge-page` to refresh the screenshots in `docs/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashSet;
use std::path::PathBuf;

use tollgate_testkit::browser;
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::bin;

/// A puzzle that keeps the page working for seconds, so it is seen mid-work (24 bits no longer
/// does: the WebAssembly solver finished before the page was read).
const RULES: &str = r#"
[challenge]
difficulty = 28
[[route]]
name = "site"
path_prefix = "/"
action = "challenge"
"#;

const LOCALES: [(&str, &str); 8] = [
    ("en-US", "en"),
    ("zh-CN", "zh"),
    ("es-ES", "es"),
    ("fr-FR", "fr"),
    ("de-DE", "de"),
    ("ja-JP", "ja"),
    ("ru-RU", "ru"),
    ("pt-BR", "pt"),
];

#[test]
fn the_browsers_locale_picks_the_pages_language() {
    if !browser::available() {
        return;
    }
    let dir = TempDir::new("page-languages");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, RULES, up.addr);
    let shots = std::env::var_os("TOLLGATE_SHOTS").map(PathBuf::from);
    let locales: Vec<&str> = LOCALES.iter().map(|(l, _)| *l).collect();
    let url = format!("http://{}/article", t.listen);
    let shown = browser::languages(&url, &locales, shots.as_deref());
    assert_eq!(shown.len(), LOCALES.len());
    let mut headings = HashSet::new();
    let mut labels = HashSet::new();
    for ((locale, lang), page) in LOCALES.iter().zip(&shown) {
        assert_eq!(page["lang"], *lang, "{locale}: {page}");
        assert!(!page["status"].as_str().unwrap_or("").is_empty(), "{page}");
        headings.insert(page["heading"].to_string());
        labels.insert(page["progress_label"].to_string());
    }
    assert_eq!(
        headings.len(),
        8,
        "each language has its own heading: {shown:?}"
    );
    assert_eq!(labels.len(), 8, "and its own progress label: {shown:?}");
    assert_eq!(up.hits(), 0);
}
