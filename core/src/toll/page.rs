//! The challenge page, its JSON twin for API clients, and tollgate's static files.
//!
//! The page is self-contained: no external resources, an inline style allowed by its hash, and
//! scripts served from tollgate's own reserved path, so it runs under the strict
//! Content-Security-Policy it is sent with. Text is English or Chinese by `Accept-Language`.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::verdict::{Asset, ChallengePage, Lang};

/// Every tollgate endpoint lives under this path.
pub const PREFIX: &str = "/.tollgate/";
pub const VERIFY_PATH: &str = "/.tollgate/verify";
pub const OFFER_PATH: &str = "/.tollgate/challenge";
pub const SCRIPT_PATH: &str = "/.tollgate/challenge.js";
pub const WORKER_PATH: &str = "/.tollgate/worker.js";
/// Where the page's report-only policy sends its CSP report.
pub const CSP_PATH: &str = "/.tollgate/csp";
/// Set with the challenge page (path-scoped to [`PREFIX`]); it must come back with the answer.
pub const PROBE_COOKIE: &str = "tollgate_probe";

const TEMPLATE: &str = include_str!("assets/challenge.html");
const SCRIPT: &str = include_str!("assets/challenge.js");
const WORKER: &str = include_str!("assets/worker.js");
const STYLE: &str =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}\
main{max-width:36em;margin:12vh auto;padding:0 1.5em}h1{font-size:1.4em}\
progress{width:100%;height:.8em}.warn{background:#fff3cd;padding:.8em;border-radius:4px}\
.small{color:#777;font-size:.8em}";

struct Text {
    title: &'static str,
    intro: &'static str,
    noscript: &'static str,
    working: &'static str,
    eta: &'static str,
    done: &'static str,
    failed: &'static str,
}

const EN: Text = Text {
    title: "Checking your browser",
    intro: "This site is protected against automated abuse. Your browser is doing a short calculation to show it is not a bot. It usually takes about a second and happens once per visit.",
    noscript: "This check needs JavaScript. Please enable JavaScript for this site and reload the page. Automated clients can solve the challenge with `tollgate solve` or ask the site operator for access.",
    working: "Working…",
    eta: "About {s} s left…",
    done: "Done. Taking you to the page…",
    failed: "The check could not run in this browser: ",
};

const ZH: Text = Text {
    title: "正在检查您的浏览器",
    intro: "本网站受自动化滥用防护。您的浏览器正在进行一次简短的计算，以证明您不是机器人。通常只需约一秒钟，每次访问只需一次。",
    noscript: "此检查需要 JavaScript。请为本网站启用 JavaScript 后重新加载页面。自动化客户端可使用 `tollgate solve` 完成挑战，或联系网站管理员获取访问权限。",
    working: "计算中…",
    eta: "预计还需约 {s} 秒…",
    done: "完成，正在跳转…",
    failed: "此浏览器无法完成检查：",
};

/// The page's words in `lang`.
fn text_of(lang: Lang) -> &'static Text {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// The offer as JSON: what the page embeds and what `GET /.tollgate/challenge` returns.
pub fn offer_json(page: &ChallengePage) -> String {
    let o = &page.offer;
    let t = text_of(page.lang);
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
        "worker": WORKER_PATH,
        "text": {"working": t.working, "eta": t.eta, "done": t.done, "failed": t.failed},
    })
    .to_string()
}

/// The HTML challenge page.
pub fn html(page: &ChallengePage) -> String {
    let t = text_of(page.lang);
    // JSON inside <script> must not contain "</": escape every '<' (and '>', '&' for good measure).
    let data = offer_json(page)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    TEMPLATE
        .replace("{{lang}}", page.lang.as_str())
        .replace("{{title}}", t.title)
        .replace("{{style}}", STYLE)
        .replace("{{intro}}", t.intro)
        .replace("{{noscript}}", t.noscript)
        .replace("{{verify}}", VERIFY_PATH)
        .replace("{{puzzle}}", page.offer.puzzle.kind())
        .replace("{{script}}", SCRIPT_PATH)
        .replace("{{data}}", &data)
}

/// The page's Content-Security-Policy: nothing but its own style (by hash), scripts and form.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; \
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
        "{PROBE_COOKIE}={}; Path={PREFIX}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        page.offer.probe,
        crate::toll::MAX_CHALLENGE_TTL_SECS
    )
}

/// Content type and body of a static file.
pub fn asset(a: Asset) -> (&'static str, &'static str) {
    match a {
        Asset::ChallengeScript => ("text/javascript; charset=utf-8", SCRIPT),
        Asset::WorkerScript => ("text/javascript; charset=utf-8", WORKER),
        Asset::Accepted => ("text/plain; charset=utf-8", ""),
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
    fn language_follows_the_highest_quality_known_tag() {
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9,zh;q=0.8")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, zh;q=0.5")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }

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
