//! Forward-auth mode against a real Caddy (Debian's, `forward_auth`) in front of a real
//! upstream, configured with the README's Caddyfile: curl-like clients never reach the upstream
//! on a challenged route, a clearance earned through Caddy passes and its cookie never reaches
//! the upstream, a ban holds, an auth request from an untrusted peer is refused, and headless
//! Chromium solves through Caddy and reaches the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::SocketAddr;

use tollgate_testkit::browser;
use tollgate_testkit::caddy::{forward_auth_caddyfile, Caddy};
use tollgate_testkit::challenge::{answer, verify_path};
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

struct Front {
    caddy: Caddy,
    t: Tollgate,
    up: Upstream,
    _dir: TempDir,
}

fn front(rules: &str) -> Front {
    let dir = TempDir::new("forward-auth");
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, rules);
    let t = Tollgate::launch(bin(), &dir.0, &path, &Launch::new(up.addr).auth());
    let auth = t.auth.unwrap();
    let caddy = Caddy::start(&dir.0, |listen| {
        forward_auth_caddyfile(listen, auth, up.addr)
    });
    Front {
        caddy,
        t,
        up,
        _dir: dir,
    }
}

fn get(to: SocketAddr, from: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.parse().unwrap(), to, "GET", path, headers).unwrap()
}

const UA: &[(&str, &str)] = &[("User-Agent", "forward-auth-test")];

#[test]
fn through_caddy_the_toll_is_paid_before_the_upstream_and_its_cookie_stays_behind() {
    let f = front(RULES);
    let site = f.caddy.listen;
    let from = "127.0.11.10";
    let page = get(site, from, "/protected/a", UA);
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("Checking your browser"), "{}", page.body);
    assert_eq!(f.up.hits(), 0, "a challenged request reached the upstream");
    // The challenge's own endpoints answer through Caddy, from tollgate.
    let offer = get(site, from, "/.tollgate/challenge?return=/protected/a", UA);
    assert_eq!(offer.status, 200, "{offer:?}");
    let o: serde_json::Value = serde_json::from_str(&offer.body).unwrap();
    let verify = verify_path(o["token"].as_str().unwrap(), answer(&o), "/protected/a");
    let paid = get(site, from, &verify, UA);
    assert_eq!(paid.status, 303, "{paid:?}");
    let clearance = paid
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let cookies = format!("theme=dark; {clearance}");
    let headers = [UA[0], ("Cookie", cookies.as_str())];
    let r = get(site, from, "/protected/a", &headers);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(f.up.hits(), 1);
    assert_eq!(f.up.last_header("cookie").as_deref(), Some("theme=dark"));
    // Caddy named the client: its address is the one the clearance is bound to.
    let elsewhere = get(site, "127.0.11.11", "/protected/a", &headers);
    assert_eq!(
        elsewhere.status, 403,
        "a clearance passed for another client"
    );
    // The auth endpoint is Caddy's to ask, not the client's.
    assert_eq!(get(site, from, "/.tollgate/auth", UA).status, 404);
}

#[test]
fn a_ban_holds_through_caddy_and_only_the_trusted_front_may_ask() {
    let f = front(RULES);
    let site = f.caddy.listen;
    let from = "127.0.11.20";
    let statuses: Vec<u16> = (0..10)
        .map(|_| get(site, from, "/open", UA).status)
        .collect();
    assert_eq!(&statuses[..6], [200; 6], "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&403),
        "banned after two refusals: {statuses:?}"
    );
    let banned = get(site, from, "/open", UA);
    assert_eq!(
        banned.header("x-tollgate-reason"),
        Some("active_ban"),
        "{banned:?}"
    );
    assert_eq!(f.up.hits(), 6, "only the burst reached the upstream");
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
}

#[test]
fn headless_chromium_solves_through_caddy_and_reaches_the_upstream() {
    if !browser::available() {
        return;
    }
    let f = front(RULES);
    let url = format!("http://{}/protected/browser", f.caddy.listen);
    let v = browser::pass(&url, "upstream saw /protected/browser");
    let page = browser::responses(&v, "/protected/browser");
    assert_eq!(page.first().map(|p| p.0), Some(403), "{v}");
    assert_eq!(page.last().map(|p| p.0), Some(200), "{v}");
    assert!(f.up.hits() >= 1, "the upstream was reached");
    let sent = f.up.last_header("cookie").unwrap_or_default();
    assert!(
        !sent.contains("tollgate_clearance"),
        "the upstream got {sent:?}"
    );
}
