//! The module in a real nginx built from the vendored source: 2 workers on one `reuseport`
//! listener, a real upstream, clients bound to distinct 127.0.0.0/8 addresses.
//!
//! (The scenario table runs in `scenarios.rs`.) State exact across workers and kept across
//! `nginx -s reload`; broken rules refused by `nginx -t` and by a reload; one decision per
//! request through internal redirects; clearances interchangeable with the Pingora proxy; and
//! headless Chromium paying the challenge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tollgate_core::CLEARANCE_COOKIE as COOKIE;
use tollgate_testkit::browser;
use tollgate_testkit::challenge::{answer, verify_path};
use tollgate_testkit::http::{self, Response};
use tollgate_testkit::nginx::{assert_fresh, profile_dir, Nginx, NginxBuild, NginxConf};
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn build() -> NginxBuild {
    NginxBuild::beside_this_test(Path::new(env!("TOLLGATE_NGINX_BUILD_DIR")))
}

fn get(n: &Nginx, from: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.parse().unwrap(), n.listen, "GET", path, headers).unwrap()
}

fn reason(r: &Response) -> &str {
    r.header("x-tollgate-reason").unwrap_or("-")
}

const FLOOD_RULES: &str = "
[limit]
requests = 1
per_secs = 60
burst = 5
[bans]
extreme_requests = 0
violations = 3
violations_window_secs = 60
ttl_secs = 120
";

/// Statuses of `n` requests from `from`, each on its own connection (so `reuseport` spreads
/// them over both workers).
fn statuses(nginx: &Nginx, from: &str, path: &str, n: usize) -> Vec<u16> {
    (0..n).map(|_| get(nginx, from, path, &[]).status).collect()
}

#[test]
fn limits_are_exact_across_workers_and_bans_survive_reload() {
    let b = build();
    let dir = TempDir::new("ngx-reload");
    let up = Upstream::start().unwrap();
    let n = Nginx::start(&b, &dir.0, FLOOD_RULES, up.addr);
    // 40 clients, each with burst 5: exactly 5 of 7 pass no matter which worker takes them.
    for i in 0..40 {
        let from = format!("127.0.3.{}", 10 + i);
        assert_eq!(
            statuses(&n, &from, "/", 7),
            [200, 200, 200, 200, 200, 429, 429],
            "{from}"
        );
    }
    let workers_seen = n.log().matches("tollgate: answered 429").count();
    assert_eq!(workers_seen, 80, "every refusal logged once");
    let log = n.log();
    let pids: std::collections::HashSet<&str> = log
        .lines()
        .filter(|l| l.contains("tollgate: answered 429"))
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(pids.len(), 2, "both workers took requests: {pids:?}");
    // Client .10's third violation is refused; its fourth bans it.
    assert_eq!(statuses(&n, "127.0.3.10", "/", 1), [429]);
    let banned = get(&n, "127.0.3.10", "/", &[]);
    assert_eq!(
        (banned.status, reason(&banned)),
        (403, "repeated_violations")
    );

    assert!(n.reload(), "a good configuration reloads:\n{}", n.log());
    assert!(n.log().contains("zone kept across reload"), "{}", n.log());
    let after = get(&n, "127.0.3.10", "/", &[]);
    assert_eq!(
        (after.status, reason(&after)),
        (403, "active_ban"),
        "ban kept"
    );
    let spent = get(&n, "127.0.3.11", "/", &[]);
    assert_eq!(spent.status, 429, "spent burst kept");
    assert_eq!(get(&n, "127.0.3.99", "/", &[]).status, 200, "others pass");
}

#[test]
fn broken_rules_fail_nginx_t_and_a_reload_keeps_the_old_rules() {
    let b = build();
    let dir = TempDir::new("ngx-bad");
    let up = Upstream::start().unwrap();
    let n = Nginx::start(&b, &dir.0, FLOOD_RULES, up.addr);
    std::fs::write(
        &n.rules_path,
        "[limit]\nrequests = 1\nper_secs = \"soon\"\nbrust = 4\n",
    )
    .unwrap();
    let t = n.test_config();
    let stderr = String::from_utf8_lossy(&t.stderr);
    assert!(!t.status.success(), "{stderr}");
    // Both structural errors at once: the wrong type and the unknown key.
    for at in ["3:12", "4:1"] {
        let at = format!("{}:{at}", n.rules_path.display());
        assert!(
            stderr.contains("tollgate: invalid rules") && stderr.contains(&at),
            "file:line:column expected ({at}):\n{stderr}"
        );
    }
    let refused = Command::new(&b.nginx)
        .arg("-p")
        .arg(&n.dir)
        .arg("-c")
        .arg(n.dir.join("nginx.conf"))
        .args(["-s", "reload"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "nginx -s reload checks the rules first"
    );
    assert!(
        !n.reload(),
        "the master refuses the broken file too:
{}",
        n.log()
    );
    // Still serving the old rules: burst 5 for a fresh client.
    assert_eq!(
        statuses(&n, "127.0.4.1", "/", 6),
        [200, 200, 200, 200, 200, 429]
    );
}

#[test]
fn internal_redirects_are_decided_once_and_a_location_can_turn_tollgate_off() {
    let b = build();
    let dir = TempDir::new("ngx-redirect");
    let up = Upstream::start().unwrap();
    let conf = NginxConf {
        server_extra: "
    location /files/ { root /nonexistent; try_files $uri @backend; }
    location @backend { proxy_pass http://backend; }
    location /open/ { tollgate off; proxy_pass http://backend; }"
            .into(),
        ..NginxConf::default()
    };
    let n = Nginx::start_conf(&b, &dir.0, FLOOD_RULES, up.addr, &conf);
    // try_files hands the request to a named location (an internal redirect): still 5 per burst.
    assert_eq!(
        statuses(&n, "127.0.5.1", "/files/a", 6),
        [200, 200, 200, 200, 200, 429]
    );
    assert_eq!(statuses(&n, "127.0.5.2", "/open/x", 12), [200; 12]);
}

// ---- challenges: the same tokens on both front ends ----

fn challenge_rules(bits: Option<u32>) -> String {
    let difficulty = bits.map_or(String::new(), |b| {
        format!("[challenge]\ndifficulty = {b}\n")
    });
    format!(
        "[limit]\nrequests = 1000\nper_secs = 1\nburst = 1000\n{difficulty}
[[route]]\nname = \"hashcash\"\npath_prefix = \"/protected\"\naction = \"challenge\"\n"
    )
}

const UA: &str = "Mozilla/5.0 tollgate-test";

/// A clearance cookie for `/protected`, earned natively as `from` with [`UA`] from `at`.
fn earn(at: std::net::SocketAddr, from: &str) -> String {
    let ua = [("User-Agent", UA)];
    let req = |path: &str| http::request(from.parse().unwrap(), at, "GET", path, &ua).unwrap();
    let offer: Value =
        serde_json::from_str(&req("/.tollgate/challenge?return=/protected/x").body).unwrap();
    let token = offer["token"].as_str().unwrap();
    let r = req(&verify_path(token, answer(&offer), "/protected/x"));
    assert_eq!((r.status, reason(&r)), (303, "challenge_passed"), "{r:?}");
    let set = r.header("set-cookie").unwrap();
    set.split(';').next().unwrap().to_string()
}

#[test]
fn a_clearance_from_the_pingora_proxy_passes_nginx_and_back() {
    let b = build();
    let proxy_bin = profile_dir().join("tollgate");
    assert!(
        proxy_bin.exists(),
        "{} missing: cargo build -p tollgate-proxy",
        proxy_bin.display()
    );
    assert_fresh(&proxy_bin, "tollgate-proxy");
    let up = Upstream::start().unwrap();
    let rules = challenge_rules(Some(12));
    let pdir = TempDir::new("ngx-cross-proxy");
    let proxy = Tollgate::start(&proxy_bin, &pdir.0, &rules, up.addr);
    let ndir = TempDir::new("ngx-cross-nginx");
    let n = Nginx::start(&b, &ndir.0, &rules, up.addr);

    let me = "127.0.6.1";
    let from_proxy = earn(proxy.listen, me);
    let r = get(
        &n,
        me,
        "/protected/page",
        &[("User-Agent", UA), ("Cookie", &from_proxy)],
    );
    assert_eq!(
        (r.status, reason(&r)),
        (200, "-"),
        "proxy's clearance on nginx: {r:?}"
    );
    assert!(r.body.starts_with("upstream saw /protected/page"), "{r:?}");
    // Bound to the client: another address gets the challenge.
    let thief = get(
        &n,
        "127.0.6.2",
        "/protected/page",
        &[("User-Agent", UA), ("Cookie", &from_proxy)],
    );
    assert_eq!((thief.status, reason(&thief)), (403, "clearance_invalid"));

    let from_nginx = earn(n.listen, me);
    let r = http::request(
        me.parse().unwrap(),
        proxy.listen,
        "GET",
        "/protected/page",
        &[("User-Agent", UA), ("Cookie", &from_nginx)],
    )
    .unwrap();
    assert_eq!(
        (r.status, reason(&r)),
        (200, "-"),
        "nginx's clearance on the proxy: {r:?}"
    );
    assert!(
        from_nginx.starts_with(&format!("{COOKIE}=")),
        "{from_nginx}"
    );
}

#[test]
fn headless_chromium_pays_the_challenge_through_nginx() {
    if !browser::available() {
        return;
    }
    let b = build();
    let dir = TempDir::new("ngx-chromium");
    let up = Upstream::start().unwrap();
    let n = Nginx::start(&b, &dir.0, &challenge_rules(None), up.addr);
    let path = "/protected/page";
    let v = browser::pass(
        &format!("http://{}{path}", n.listen),
        &format!("upstream saw {path}"),
    );
    let page = browser::responses(&v, path);
    assert_eq!(
        page,
        [(403, Some("route_challenge".into())), (200, None)],
        "{v}"
    );
    let cookies = v["cookies"].as_array().unwrap();
    assert!(cookies.iter().any(|c| c["name"] == COOKIE), "{v}");
    assert_eq!(v["verify"]["solver"], "wasm-simd", "{v}");
    eprintln!(
        "nginx: Chromium solved in {} ms, backend after {} ms",
        v["solve_ms"], v["elapsed_ms"]
    );
}

#[test]
fn nginx_serves_the_webassembly_searches_byte_for_byte() {
    let b = build();
    let dir = TempDir::new("ngx-wasm");
    let up = Upstream::start().unwrap();
    let n = Nginx::start(&b, &dir.0, &challenge_rules(Some(8)), up.addr);
    let sizes = browser::served_solvers_agree("127.0.5.60".parse().unwrap(), n.listen, &dir.0);
    eprintln!("nginx: search.wasm, search-simd.wasm: {sizes:?} bytes");
}

#[test]
fn a_stray_non_utf8_byte_neither_hides_a_path_nor_a_forwarding_header() {
    use std::io::{Read, Write};
    let b = build();
    let dir = TempDir::new("ngx-bytes");
    let up = Upstream::start().unwrap();
    let rules =
        "[clients]\ntrusted_proxies = [\"127.0.7.50/32\"]\n[lists]\ndeny = [\"198.51.100.9/32\"]\n\
                 [[route]]\nname = \"admin\"\npath_prefix = \"/admin\"\naction = \"deny\"\n";
    // No realip here: the core itself must resolve the client behind the trusted proxy.
    let conf = NginxConf::default();
    let n = Nginx::start_conf(&b, &dir.0, rules, up.addr, &conf);
    let raw = |from: &str, head: &[u8]| {
        let mut s = http::connect(from.parse().unwrap(), n.listen).unwrap();
        s.write_all(head).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let admin = raw(
        "127.0.7.1",
        b"GET /admin/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        admin.starts_with("HTTP/1.1 403") && admin.contains("route_deny"),
        "{admin}"
    );
    // A proxy appends the real client after the attacker's stray byte: still the deny-listed client.
    let xff = raw(
        "127.0.7.50",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \xff, 198.51.100.9\r\nX-Real-IP: 203.0.113.1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        xff.starts_with("HTTP/1.1 403") && xff.contains("deny_list"),
        "{xff}"
    );
}

/// nginx proves a crawler by its published networks only: no worker waits on DNS. A claim only
/// reverse DNS could prove is treated as an ordinary visitor: challenged, neither refused nor
/// exempt (the README says so).
#[test]
fn nginx_proves_crawlers_by_network_and_treats_dns_only_claims_as_visitors() {
    let b = build();
    let dir = TempDir::new("ngx-crawlers");
    let up = Upstream::start().unwrap();
    let rules = r#"
[[crawler]]
name = "googlebot"
user_agent = "Googlebot"
rdns = ["googlebot.com"]
networks = ["127.0.5.1/32"]
[[route]]
name = "site"
path_prefix = "/"
action = "challenge"
"#;
    let n = Nginx::start(&b, &dir.0, rules, up.addr);
    let ua = [("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)")];
    let listed = get(&n, "127.0.5.1", "/page", &ua);
    assert_eq!(listed.status, 200, "{}", reason(&listed));
    let start = std::time::Instant::now();
    let elsewhere = get(&n, "127.0.5.2", "/page", &ua);
    assert_eq!(
        (elsewhere.status, reason(&elsewhere)),
        (403, "route_challenge")
    );
    assert!(start.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(up.hits(), 1);
}

/// The no-JavaScript wait through nginx: the same page, link and clearance as on the proxy.
#[test]
fn a_visitor_without_javascript_waits_through_nginx() {
    let b = build();
    let dir = TempDir::new("ngx-nojs");
    let up = Upstream::start().unwrap();
    let rules = "[challenge]\nnojs_wait_secs = 1\n[[route]]\nname = \"site\"\npath_prefix = \"/\"\naction = \"challenge\"\nnojs = \"wait\"\n";
    let n = Nginx::start(&b, &dir.0, rules, up.addr);
    let ua = [("User-Agent", "Lynx/2.9.0")];
    let page = get(&n, "127.0.5.9", "/doc", &ua);
    let link = tollgate_testkit::challenge::wait_link(&page.body).expect("the page's refresh");
    assert_eq!(reason(&get(&n, "127.0.5.9", &link, &ua)), "nojs_too_early");
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let paid = get(&n, "127.0.5.9", &link, &ua);
    assert_eq!((paid.status, reason(&paid)), (303, "nojs_waited"));
    let cookie = paid
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let headers = [ua[0], ("Cookie", cookie.as_str())];
    assert_eq!(get(&n, "127.0.5.9", "/doc", &headers).status, 200);
    assert_eq!(up.hits(), 1);
}
