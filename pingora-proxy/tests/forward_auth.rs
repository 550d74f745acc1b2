//! Forward-auth mode against real front proxies in front of a real upstream, configured as the
//! README says: Debian's Caddy (`forward_auth`) and Debian's nginx (`auth_request`). Through
//! each, curl-like clients never reach the upstream on a challenged route, a clearance earned
//! through the front passes and its cookie never reaches the upstream, a ban holds, and headless
//! Chromium solves and reaches the upstream; an auth request from an untrusted peer is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::SocketAddr;

use tollgate_testkit::browser;
use tollgate_testkit::challenge::{answer, verify_path};
use tollgate_testkit::fronts::{forward_auth_caddyfile, forward_auth_nginx_conf, AuthNginx, Caddy};
use tollgate_testkit::http::{self, Response};
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::bin;

/// Caddy connects from 127.0.0.1: the one trusted proxy. The test's own clients use other
/// addresses, which Caddy names in X-Forwarded-For.
const RULES: &str = r#"
[clients]
trusted_proxies = ["127.0.0.1/32"]
[limit]
requests = 1
per_secs = 60
burst = 6
[bans]
extreme_requests = 0
violations = 2
ttl_secs = 120
[challenge]
difficulty = 12
[[route]]
name = "protected"
path_prefix = "/protected/"
action = "challenge"
"#;

/// A front proxy: Caddy or nginx, stopped when dropped.
#[allow(dead_code)] // held for its drop
enum Proc {
    Caddy(Caddy),
    Nginx(AuthNginx),
}

struct Front {
    site: SocketAddr,
    t: Tollgate,
    up: Upstream,
    _front: Proc,
    _dir: TempDir,
}

const FRONTS: [&str; 2] = ["caddy", "nginx"];

fn front(kind: &str, rules: &str) -> Front {
    let dir = TempDir::new(&format!("forward-auth-{kind}"));
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, rules);
    let t = Tollgate::launch(bin(), &dir.0, &path, &Launch::new(up.addr).auth());
    let (auth, app) = (t.auth.unwrap(), up.addr);
    let (site, proc) = match kind {
        "caddy" => {
            let c = Caddy::start(&dir.0, |at| forward_auth_caddyfile(at, auth, app));
            (c.listen, Proc::Caddy(c))
        }
        _ => {
            let n = AuthNginx::start(&dir.0, |at| forward_auth_nginx_conf(at, auth, app));
            (n.listen, Proc::Nginx(n))
        }
    };
    Front {
        site,
        t,
        up,
        _front: proc,
        _dir: dir,
    }
}

fn get(to: SocketAddr, from: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.parse().unwrap(), to, "GET", path, headers).unwrap()
}

const UA: &[(&str, &str)] = &[("User-Agent", "forward-auth-test")];

#[test]
fn through_each_front_the_toll_is_paid_before_the_upstream_and_its_cookie_stays_behind() {
    for kind in FRONTS {
        toll_is_paid_through(kind);
    }
}

fn toll_is_paid_through(kind: &str) {
    let f = front(kind, RULES);
    let (site, from) = (f.site, "127.0.11.10");
    let page = get(site, from, "/protected/a", UA);
    assert_eq!(page.status, 403, "{kind}: {page:?}");
    assert!(
        page.body.contains("Checking your browser"),
        "{kind}: {}",
        page.body
    );
    assert_eq!(
        f.up.hits(),
        0,
        "{kind}: a challenged request reached the upstream"
    );
    // A client naming another URI in either front's header decides nothing: each front's
    // endpoint reads only the header that front sets itself.
    let forged = [
        UA[0],
        ("X-Forwarded-Uri", "/open"),
        ("X-Original-URI", "/open"),
    ];
    let r = get(site, "127.0.11.12", "/protected/a", &forged);
    assert_eq!(r.status, 403, "{kind}: a forged URI header passed: {r:?}");
    assert_eq!(
        f.up.hits(),
        0,
        "{kind}: a forged URI header reached the upstream"
    );
    // A let-through request without cookies reaches the upstream without any.
    assert_eq!(get(site, "127.0.11.13", "/open", UA).status, 200, "{kind}");
    let none = f.up.last_header("cookie").unwrap_or_default();
    assert_eq!(none, "", "{kind}: the upstream got a cookie nobody sent");
    let hits = f.up.hits();
    // The challenge's own endpoints answer through the front, from tollgate.
    let offer = get(site, from, "/.tollgate/challenge?return=/protected/a", UA);
    assert_eq!(offer.status, 200, "{kind}: {offer:?}");
    let o: serde_json::Value = serde_json::from_str(&offer.body).unwrap();
    let verify = verify_path(o["token"].as_str().unwrap(), answer(&o), "/protected/a");
    let paid = get(site, from, &verify, UA);
    assert_eq!(paid.status, 303, "{kind}: {paid:?}");
    let set = paid.header("set-cookie").unwrap();
    let clearance = set.split(';').next().unwrap().to_string();
    let cookies = format!("theme=dark; {clearance}");
    let headers = [UA[0], ("Cookie", cookies.as_str())];
    let r = get(site, from, "/protected/a", &headers);
    assert_eq!(r.status, 200, "{kind}: {r:?}");
    assert_eq!(f.up.hits(), hits + 1, "{kind}");
    let sent = f.up.last_header("cookie");
    assert_eq!(sent.as_deref(), Some("theme=dark"), "{kind}");
    // The front named the client: its address is the one the clearance is bound to.
    let elsewhere = get(site, "127.0.11.11", "/protected/a", &headers);
    assert_eq!(
        elsewhere.status, 403,
        "{kind}: a clearance passed for another client"
    );
    // The auth endpoint is the front's to ask, not the client's.
    let path = match kind {
        "caddy" => "/.tollgate/auth",
        _ => "/.tollgate/auth-request",
    };
    assert_eq!(get(site, from, path, UA).status, 404, "{kind}");
}

#[test]
fn a_ban_holds_through_each_front_and_only_a_trusted_front_may_ask() {
    for kind in FRONTS {
        a_ban_holds_through(kind);
    }
}

fn a_ban_holds_through(kind: &str) {
    let f = front(kind, RULES);
    let (site, from) = (f.site, "127.0.11.20");
    let statuses: Vec<u16> = (0..10)
        .map(|_| get(site, from, "/open", UA).status)
        .collect();
    assert_eq!(&statuses[..6], [200; 6], "{kind}: {statuses:?}");
    assert_eq!(
        statuses[6], 429,
        "{kind}: the limit's own answer: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&403), "{kind}: banned: {statuses:?}");
    let banned = get(site, from, "/open", UA);
    let reason = banned.header("x-tollgate-reason");
    assert_eq!(reason, Some("active_ban"), "{kind}: {banned:?}");
    assert_eq!(
        f.up.hits(),
        6,
        "{kind}: only the burst reached the upstream"
    );
    // Straight to the auth listener from an address that is not a trusted proxy: refused.
    let auth = f.t.auth.unwrap();
    let forged = [
        UA[0],
        ("X-Forwarded-Uri", "/open"),
        ("X-Forwarded-For", "127.0.11.99"),
    ];
    let r = get(auth, "127.0.11.30", "/.tollgate/auth", &forged);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("x-tollgate-reason"), Some("forward_auth_refused"));
    // And a held reply is for the front it was held for only.
    let r = get(
        auth,
        "127.0.11.30",
        "/.tollgate/reply/00000000000000000000000000000000",
        UA,
    );
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn headless_chromium_solves_through_each_front_and_reaches_the_upstream() {
    if !browser::available() {
        return;
    }
    for kind in FRONTS {
        chromium_solves_through(kind);
    }
}

fn chromium_solves_through(kind: &str) {
    let f = front(kind, RULES);
    let url = format!("http://{}/protected/browser", f.site);
    let v = browser::pass(&url, "upstream saw /protected/browser");
    let page = browser::responses(&v, "/protected/browser");
    assert_eq!(page.first().map(|p| p.0), Some(403), "{kind}: {v}");
    assert_eq!(page.last().map(|p| p.0), Some(200), "{kind}: {v}");
    assert!(f.up.hits() >= 1, "{kind}: the upstream was reached");
    let sent = f.up.last_header("cookie").unwrap_or_default();
    assert!(
        !sent.contains("tollgate_clearance"),
        "{kind}: the upstream got {sent:?}"
    );
}

/// The README's `lang` code block that contains `marker`, each line trimmed.
fn readme_block(lang: &str, marker: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let fence = format!("```{lang}\n");
    let block = readme
        .split(&fence)
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code))
        .find(|code| code.contains(marker))
        .unwrap_or_else(|| panic!("no {lang} block with {marker} in the README"));
    trimmed(block)
}

fn trimmed(text: &str) -> Vec<String> {
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    lines.map(String::from).collect()
}

#[test]
fn the_readme_shows_the_configurations_these_tests_run() {
    let (site, auth, app): (SocketAddr, SocketAddr, SocketAddr) = (
        "127.0.0.1:80".parse().unwrap(),
        "127.0.0.1:9000".parse().unwrap(),
        "127.0.0.1:8081".parse().unwrap(),
    );
    // The Caddyfile's site block, under the README's site name.
    let caddy = trimmed(&forward_auth_caddyfile(site, auth, app));
    let from = caddy.iter().position(|l| l.starts_with("http://")).unwrap();
    let mut tested = vec!["example.com {".to_string()];
    tested.extend(caddy[from + 1..].iter().cloned());
    assert_eq!(readme_block("caddy", "forward_auth"), tested);
    let nginx = trimmed(&forward_auth_nginx_conf(site, auth, app));
    let nginx: Vec<String> = nginx
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.replace("listen 127.0.0.1:80;", "listen 80;"))
        .collect();
    assert_eq!(readme_block("nginx", "auth_request"), nginx);
}
