//! The challenge page, its JSON twin for API clients, and tollgate's static files.
//!
//! The page is self-contained: no external resources, an inline style allowed by its hash, and
//! scripts served from tollgate's own reserved path, so it runs under the strict
//! Content-Security-Policy it is sent with. Its words are in the client's language by
//! `Accept-Language`, from the locale files (`locales/`).

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use crate::score::probes::Plan;
use sha2::{Digest, Sha256};

use crate::verdict::{Asset, ChallengePage};

/// Every tollgate endpoint lives under this path.
pub const PREFIX: &str = "/.tollgate/";
pub const VERIFY_PATH: &str = "/.tollgate/verify";
pub const OFFER_PATH: &str = "/.tollgate/challenge";
pub const SCRIPT_PATH: &str = "/.tollgate/challenge.js";
pub const WORKER_PATH: &str = "/.tollgate/worker.js";
/// The worker's WebAssembly searches (the page compiles one and hands it to its workers).
pub const WASM_PATH: &str = "/.tollgate/search.wasm";
pub const WASM_SIMD_PATH: &str = "/.tollgate/search-simd.wasm";
/// Where the page's report-only policy sends its CSP report.
pub const CSP_PATH: &str = "/.tollgate/csp";
/// Where a visitor without JavaScript is sent after the wait (`nojs = "wait"` routes).
pub const WAIT_PATH: &str = "/.tollgate/wait";
/// Set with the challenge page (path-scoped to [`PREFIX`]); it must come back with the answer.
/// Each challenge names its own ([`probe_cookie_name`]), so tabs solving at once never
/// overwrite each other's.
pub const PROBE_COOKIE: &str = "tollgate_probe";

/// The probe cookie's name for the challenge whose probe value is `probe`: the prefix and the
/// value's first 8 characters (hex), unique among the challenges a browser holds at once.
pub fn probe_cookie_name(probe: &str) -> String {
    let short = probe.get(..8).unwrap_or(probe);
    format!("{PROBE_COOKIE}_{short}")
}

const TEMPLATE: &str = include_str!("assets/challenge.html");
const SCRIPT: &str = include_str!("assets/challenge.js");
const WORKER: &str = include_str!("assets/worker.js");
/// Assembled by the build script from `assets/search*.wat`.
const WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/search.wasm"));
const WASM_SIMD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/search-simd.wasm"));
const STYLE: &str =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}\
main{max-width:36em;margin:12vh auto;padding:0 1.5em}h1{font-size:1.4em}\
progress{width:100%;height:.8em}.warn{background:#fff3cd;padding:.8em;border-radius:4px}\
.small{color:#4d4d4d;font-size:.8em}\
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}";

/// The offer as JSON: what the page embeds and what `GET /.tollgate/challenge` returns.
pub fn offer_json(page: &ChallengePage) -> String {
    let o = &page.offer;
    let t = page.lang.locale();
    let plan = Plan::of(&o.probe);
    json!({
        "token": o.token,
        "puzzle": o.puzzle.kind(),
        "param": o.puzzle.param(),
        "prefix": o.prefix,
        "target": o.target,
        "expires": o.expires_unix_secs,
        "expected": o.puzzle.expected_hashes(),
        "return_to": page.return_to,
        "verify": VERIFY_PATH,
        "worker": versioned(1, WORKER_PATH, WORKER.as_bytes()),
        // Fastest first: the page compiles the first one this browser runs, once, for all its
        // workers.
        "solvers": [
            {"engine": "wasm-simd", "url": versioned(2, WASM_SIMD_PATH, WASM_SIMD)},
            {"engine": "wasm", "url": versioned(3, WASM_PATH, WASM)},
        ],
        "text": {"working": t.working, "eta": t.eta, "done": t.done, "failed": t.failed},
        // This challenge's engine probes, in order, and the key the answers are encoded under.
        "probes": plan.order.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "probe_key": plan.key,
    })
    .to_string()
}

/// `path?v=<content hash>` for static file number `i`: each release's files get their own URLs,
/// so a browser never runs a cached file of one release with another's, however long it caches
/// them (the endpoints match the path; the query is ignored).
fn versioned(i: usize, path: &str, body: &[u8]) -> &'static str {
    static URLS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    URLS[i % 4].get_or_init(|| format!("{path}?v={}", &hex::encode(Sha256::digest(body))[..12]))
}

/// The HTML challenge page.
pub fn html(page: &ChallengePage) -> String {
    let t = page.lang.locale();
    // JSON inside <script> must not contain "</": escape every '<' (and '>', '&' for good measure).
    let data = offer_json(page)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let (refresh, noscript) = no_javascript(page);
    TEMPLATE
        .replace("{{lang}}", page.lang.as_str())
        .replace("{{refresh}}", &refresh)
        .replace("{{title}}", t.title)
        .replace("{{style}}", STYLE)
        .replace("{{intro}}", t.intro)
        .replace("{{progress}}", t.progress)
        .replace("{{noscript}}", &noscript)
        .replace("{{verify}}", VERIFY_PATH)
        .replace("{{puzzle}}", page.offer.puzzle.kind())
        .replace("{{script}}", versioned(0, SCRIPT_PATH, SCRIPT.as_bytes()))
        .replace("{{data}}", &data)
}

/// For a visitor without JavaScript: the `<head>` refresh to the wait link (on a waiting route),
/// and what the `<noscript>` block says.
fn no_javascript(page: &ChallengePage) -> (String, String) {
    let t = page.lang.locale();
    let Some(secs) = page.nojs_wait_secs else {
        return (String::new(), t.noscript.to_string());
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("challenge", &page.offer.token)
        .append_pair("return", &page.return_to)
        .finish();
    // `&` between the pairs is the only character here HTML needs escaped.
    let url = format!("{WAIT_PATH}?{}", query.replace('&', "&amp;"));
    // A second past the wait: the link must not arrive a moment early.
    let after = secs + 1;
    let refresh =
        format!("<noscript><meta http-equiv=\"refresh\" content=\"{after};url={url}\"></noscript>");
    let words = t.wait.replace("{s}", &after.to_string());
    let text = format!("{words} <a href=\"{url}\">{}</a>", t.r#continue);
    (refresh, text)
}

/// The page's Content-Security-Policy: nothing but its own style (by hash), scripts and form.
/// `'wasm-unsafe-eval'` lets the page compile tollgate's own WebAssembly (fetched from
/// `'self'`), and nothing else: `eval` stays forbidden.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; \
             img-src data:; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
    })
}

/// The page's second, report-only policy: it forbids the page's one (harmless, data:) image, so
/// a real browser reports the violation to [`CSP_PATH`], naming the challenge. Scripts that
/// only read the HTML never do.
pub fn csp_report_only(token: &str) -> String {
    format!("img-src 'none'; report-uri {CSP_PATH}?c={token}")
}

/// The probe cookie for a challenge page.
pub fn probe_cookie(page: &ChallengePage) -> String {
    let secure = if page.secure { "; Secure" } else { "" };
    format!(
        "{}={}; Path={PREFIX}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        probe_cookie_name(&page.offer.probe),
        page.offer.probe,
        crate::toll::MAX_CHALLENGE_TTL_SECS
    )
}

/// Content type and body of a static file.
pub fn asset(a: Asset) -> (&'static str, &'static [u8]) {
    const JS: &str = "text/javascript; charset=utf-8";
    match a {
        Asset::ChallengeScript => (JS, SCRIPT.as_bytes()),
        Asset::WorkerScript => (JS, WORKER.as_bytes()),
        Asset::SearchWasm => ("application/wasm", WASM),
        Asset::SearchWasmSimd => ("application/wasm", WASM_SIMD),
        Asset::Accepted => ("text/plain; charset=utf-8", b""),
    }
}

/// `path` if it is a safe place to send a client back to: a local absolute path (not `//host`,
/// not `/\host`), printable ASCII, bounded length. Anything else goes to `/`.
pub fn local_return(path: &str) -> String {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2_048
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        path.to_string()
    } else {
        "/".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_return("/a/b?c=d"), "/a/b?c=d");
        for bad in [
            "//evil.example",
            "/\\evil",
            "https://x",
            "",
            "/a b",
            "/\u{e9}",
        ] {
            assert_eq!(local_return(bad), "/", "{bad:?}");
        }
    }
}
