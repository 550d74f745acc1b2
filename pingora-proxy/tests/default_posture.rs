//! The shipped `rules/default.toml`, unchanged, in front of a real upstream: the whole site is
//! behind the toll (the seed's `wget` harvesting loop and curl get nothing from the backend,
//! real browsers pay and pass at `/`), while what machines must fetch without a browser
//! (robots.txt, /.well-known/, sitemaps, feeds) answers from the backend, by path and under the
//! rate limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::Command;

use tollgate_testkit::browser;
use tollgate_testkit::http;
use tollgate_testkit::tollgate::{Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::site::run;
use support::*;

fn default_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default.toml")
}

fn start(tag: &str) -> (TempDir, Upstream, Tollgate) {
    let dir = TempDir::new(tag);
    let up = Upstream::start().unwrap();
    let t = Tollgate::launch(bin(), &dir.0, &default_rules(), &Launch::new(up.addr).tls());
    (dir, up, t)
}

/// Status of a plain `curl` (no browser headers) from `from`.
fn curl_status(from: &str, url: &str, extra: &[&str]) -> String {
    let out = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--interface", from, "--max-time", "10"])
        .args(extra)
        .arg(url));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_wget_harvesting_loop_and_curl_get_nothing_from_the_backend() {
    let (_dir, up, t) = start("posture-wget");
    // The seed's loop: fetch the CAPTCHA image at the site's root, 500 times, one address.
    let url = format!("http://{}/captcha.png", t.listen);
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..500 {
        let out = run(Command::new("wget")
            .args([
                "-q",
                "--bind-address=127.0.0.82",
                "--timeout=5",
                "--tries=1",
            ])
            .args(["-O", "/dev/null"])
            .arg(&url));
        *codes.entry(out.status.code()).or_insert(0) += 1;
    }
    assert_eq!(up.hits(), 0, "wget exit codes: {codes:?}");
    // 8: an HTTP error (the challenge, then 429); 4: the connection closed (once banned).
    let refused = codes.get(&Some(8)).unwrap_or(&0) + codes.get(&Some(4)).unwrap_or(&0);
    assert_eq!(refused, 500, "every request refused: {codes:?}");
    assert!(codes.get(&Some(8)).is_some_and(|&n| n >= 40), "{codes:?}");
    for path in ["/", "/index.html", "/articles/1", "/%72obots.txt.bak"] {
        let url = format!("http://{}{path}", t.listen);
        assert_eq!(curl_status("127.0.0.83", &url, &[]), "403", "{path}");
    }
    // A feed is exempt by its path, not by a client's say-so.
    let url = format!("http://{}/articles/1", t.listen);
    let accept = ["-H", "Accept: application/rss+xml"];
    assert_eq!(curl_status("127.0.0.84", &url, &accept), "403");
    assert_eq!(up.hits(), 0);
}

#[test]
fn exempt_paths_and_feeds_answer_from_the_backend_and_keep_the_rate_limit() {
    let (_dir, up, t) = start("posture-exempt");
    let exempt = [
        "/robots.txt",
        "/favicon.ico",
        "/.well-known/security.txt",
        "/.well-known/acme-challenge/abc",
        "/sitemap.xml",
        "/sitemap-posts-2.xml",
        "/sitemap_index.xml.gz",
        "/feed",
        "/feed/",
        "/blog/feed/",
        "/comments/feed/atom/",
        "/rss",
        "/atom.xml",
        "/feed.xml",
        "/rss.xml",
        "/index.xml",
        "/blog/index.xml",
        "/podcast/episodes.rss",
        "/news.atom",
    ];
    for (i, path) in exempt.iter().enumerate() {
        let url = format!("http://{}{path}", t.listen);
        let from = format!("127.0.6.{}", 10 + i);
        assert_eq!(curl_status(&from, &url, &[]), "200", "{path}");
    }
    assert_eq!(up.hits(), exempt.len());
    // The default limit (20/s, burst 40) still holds on them: a feed poller gone wild is cut off.
    let from = "127.0.6.99".parse().unwrap();
    let statuses: Vec<u16> = (0..60)
        .map(|_| {
            http::request(from, t.listen, "GET", "/feed.xml", &[])
                .unwrap()
                .status
        })
        .collect();
    assert!(statuses.iter().take(40).all(|&s| s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[test]
fn chromium_and_firefox_pay_at_the_root_and_reach_the_backend() {
    if !browser::available() {
        return;
    }
    let (_dir, _up, t) = start("posture-browsers");
    let tls = t.tls.expect("launched with TLS");
    let v = browser::pass(&format!("https://{tls}/"), "upstream saw /");
    assert_eq!(
        browser::responses(&v, "/"),
        [(403, Some("route_challenge".into())), (200, None)],
        "{v}"
    );
    browser::firefox(&format!("https://{tls}/ff"), "upstream saw /ff");
    assert!(t.log().contains("granted"), "{}", t.log());
}

/// The default rules read `rules/crawlers.toml`: a client that says it is Googlebot from an
/// address Google's reverse DNS does not name (here loopback, whose PTR is `localhost`) is
/// refused everywhere, exempt paths included, while the same client as curl meets the usual
/// challenge.
#[test]
fn a_false_googlebot_is_refused_by_the_default_rules() {
    let dir = TempDir::new("posture-googlebot");
    let dns = tollgate_testkit::dns::Dns::start(&dir.0, &[]).unwrap();
    let up = Upstream::start().unwrap();
    let how = Launch::new(up.addr)
        .arg("--resolver")
        .arg(dns.addr.to_string());
    let t = Tollgate::launch(bin(), &dir.0, &default_rules(), &how);
    let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    for path in ["/", "/robots.txt", "/feed.xml"] {
        let r = t.request("127.0.0.84", "GET", path, &[("User-Agent", ua)]);
        assert_eq!(
            (r.status, r.header("x-tollgate-reason")),
            (403, Some("crawler_unverified")),
            "{path}"
        );
    }
    let curl = t.request("127.0.0.84", "GET", "/", &[("User-Agent", "curl/8.5.0")]);
    assert_eq!(curl.header("x-tollgate-reason"), Some("route_challenge"));
    assert_eq!(up.hits(), 0);
    assert_eq!(
        t.metric(r#"tollgate_crawler_lookups_total{result="refused"}"#),
        1.0
    );
}
