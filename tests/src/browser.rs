//! Headless Chromium (Debian's, driven by `tests/browser/drive.mjs` through playwright-core),
//! shared by every front end's browser tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where the Playwright driver lives.
pub fn driver() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/drive.mjs")
}

/// Whether to run a browser test: Chromium and the driver's modules must be here; set
/// TOLLGATE_SKIP_BROWSER=1 to skip knowingly (never honoured in CI).
pub fn available() -> bool {
    if std::env::var("TOLLGATE_SKIP_BROWSER").is_ok_and(|v| v == "1")
        && std::env::var("CI").is_err()
    {
        eprintln!("skipping the browser test: TOLLGATE_SKIP_BROWSER=1");
        return false;
    }
    let modules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/playwright-core");
    assert!(
        modules.exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and `npm ci` in tests/browser (bash .ci/run installs both)"
    );
    true
}

/// Opens `url` and waits for a page containing `expect`; returns the driver's JSON report
/// (responses with status and tollgate reason, cookies, timings). Panics if it never gets there.
pub fn pass(url: &str, expect: &str) -> Value {
    drive("pass", url, expect)
}

/// `n` tabs of one browser context at once: tab `i` opens `url` + `i` and waits for `expect` +
/// `i`. Panics unless every tab gets there.
pub fn tabs(url: &str, expect: &str, n: usize) -> Value {
    run_driver(&["tabs", url, expect, &n.to_string()])
}

/// Who the driven Chromium says it is (`TOLLGATE_AS` in `drive.mjs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum As {
    /// Playwright's headless Chromium as it comes: `navigator.webdriver`, `HeadlessChrome`.
    Automated,
    /// As a person's Chromium looks: no automation flag, a plain Chrome user agent.
    Person,
    /// Chromium sending a Firefox user agent.
    Firefox,
    /// Chromium sending a Safari user agent.
    Safari,
}

impl As {
    fn env(self) -> Vec<(&'static str, &'static str)> {
        let name = match self {
            As::Automated => return Vec::new(),
            As::Person => "person",
            As::Firefox => "firefox",
            As::Safari => "safari",
        };
        vec![("TOLLGATE_AS", name)]
    }
}

/// [`pass`] in a Chromium that says it is `who`.
pub fn pass_as(who: As, url: &str, expect: &str) -> Value {
    run_node(&driver(), &["pass", url, expect], &who.env())
}

/// [`pass_as`], reporting whether the browser got there rather than panicking (a browser
/// caught lying may be refused).
pub fn try_pass_as(who: As, url: &str, expect: &str) -> Value {
    let out = Command::new("node")
        .arg(driver())
        .args(["pass", url, expect])
        .envs(who.env())
        .output()
        .unwrap_or_else(|e| panic!("running node: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "driver report: {e}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// [`tabs`] in a Chromium that says it is `who`.
pub fn tabs_as(who: As, url: &str, expect: &str, n: usize) -> Value {
    run_node(
        &driver(),
        &["tabs", url, expect, &n.to_string()],
        &who.env(),
    )
}

/// One browser context opens each of `urls` in turn and pauses `waits_ms[i]` after page `i`.
/// Panics unless every page answers 200.
pub fn walk(who: As, urls: &[String], waits_ms: &[u64]) -> Value {
    let waits: Vec<String> = waits_ms.iter().map(u64::to_string).collect();
    let args = ["walk", &urls.join(","), &waits.join(",")];
    run_node(&driver(), &args, &who.env())
}

/// [`pass`] in a Chromium without WebAssembly: the page must solve with its JavaScript search.
pub fn pass_without_wasm(url: &str, expect: &str) -> Value {
    run_node(
        &driver(),
        &["pass", url, expect],
        &[("TOLLGATE_NO_WASM", "1")],
    )
}

/// Fetches the worker's two WebAssembly searches from the front end at `to` (as `from`),
/// checks they are served as `application/wasm`, and runs them in node against node's own
/// SHA-256 (`tests/browser/wasm-search.mjs`: both puzzles, several nonce splits). Returns the
/// module sizes in bytes.
pub fn served_solvers_agree(
    from: std::net::IpAddr,
    to: std::net::SocketAddr,
    dir: &Path,
) -> Vec<usize> {
    let mut files = Vec::new();
    for name in ["search.wasm", "search-simd.wasm"] {
        let r = crate::http::get(from, to, &format!("/.tollgate/{name}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/wasm"), "{name}");
        let path = dir.join(name);
        std::fs::write(&path, &r.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        files.push(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/wasm-search.mjs");
    let out = Command::new("node")
        .arg(script)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("running node: {e}"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len() as usize))
        .collect()
}

/// [`pass`] with JavaScript disabled in the browser.
pub fn pass_without_javascript(url: &str, expect: &str) -> Value {
    drive("nojs", url, expect)
}

fn drive(mode: &str, url: &str, expect: &str) -> Value {
    run_driver(&[mode, url, expect])
}

/// Runs the driver with `args` (a mode, then a URL first); its one JSON line. Panics unless
/// it succeeds.
fn run_driver(args: &[&str]) -> Value {
    run_node(&driver(), args, &[])
}

/// Runs node on `script` with `args` (a mode, then a URL first) and `env`; its one JSON line.
fn run_node(script: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let url = args.get(1).copied().unwrap_or_default();
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running node: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{url}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("driver report: {e}: {stdout}"))
}

/// What the challenge page at `url` shows in each of `locales` (browser locales such as
/// `de-DE`): one JSON object per locale with `lang`, `heading`, `status`, `progress_label`.
/// With `shots`, a screenshot of each is saved there as `challenge-<lang>.png`.
pub fn languages(url: &str, locales: &[&str], shots: Option<&Path>) -> Vec<Value> {
    let locales = locales.join(",");
    let dir = shots.map(|d| d.display().to_string());
    let mut args = vec!["langs", url, &locales];
    args.extend(dir.as_deref());
    let shown = run_driver(&args);
    shown
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {shown}"))
}

/// (status, tollgate reason) of each response for a URL ending in `path`, in order.
pub fn responses(v: &Value, path: &str) -> Vec<(u64, Option<String>)> {
    let list = v["responses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    list.iter()
        .filter(|r| r["url"].as_str().is_some_and(|u| u.ends_with(path)))
        .map(|r| {
            let status = r["status"].as_u64().unwrap_or(0);
            (status, r["reason"].as_str().map(str::to_owned))
        })
        .collect()
}

/// The puzzle the page answered (from the signed challenge token it sent to `verify`), opened
/// with the test key for `client` and the browser's own user agent; `None` if it sent none.
pub fn paid_puzzle(v: &Value, client: std::net::IpAddr) -> Option<tollgate_core::Puzzle> {
    use tollgate_core::{check_answer, Binding, ClientKey, Keyring};
    let token = v["verify"]["challenge"].as_str()?;
    let nonce: u64 = v["verify"]["nonce"].as_str()?.parse().ok()?;
    let keys = Keyring::from_hex(crate::TEST_SECRET_HEX).ok()?;
    let binding = Binding::new(&ClientKey::new(client, 32, 64), v["user_agent"].as_str());
    let solved = check_answer(&keys, token, nonce, &binding, crate::now_secs())
        .unwrap_or_else(|e| panic!("the page's answer does not open: {e:?}"));
    Some(solved.puzzle)
}

/// Opens `url` in Debian's Firefox ESR (headless, over Marionette: `tests/browser/firefox.py`)
/// and waits for a page containing `expect`; returns its JSON report (final URL, page text,
/// cookie names and flags). Panics if it never gets there or Firefox is missing.
pub fn firefox(url: &str, expect: &str) -> Value {
    let report = firefox_claiming(None, url, expect);
    assert_eq!(
        report["ok"], true,
        "{url}: never showed {expect:?}: {report}"
    );
    report
}

/// [`firefox`] sending user agent `ua` (its own when `None`), reporting whether it got there
/// rather than panicking (a browser caught lying may be refused).
pub fn firefox_claiming(ua: Option<&str>, url: &str, expect: &str) -> Value {
    assert!(
        Path::new("/usr/bin/firefox-esr").exists(),
        "the Firefox test needs Debian's firefox-esr (bash .ci/run installs it)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/firefox.py");
    let out = Command::new("python3")
        .arg(script)
        .args([url, expect, "90"])
        .envs(ua.map(|u| ("TOLLGATE_UA", u)))
        .output()
        .unwrap_or_else(|e| panic!("running python3: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "firefox report: {e}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report
}
