//! Verified crawlers against a real DNS server on loopback (dnsmasq): the shipped
//! `rules/crawlers.toml` proves Googlebot and Bingbot by forward-confirmed reverse DNS, refuses
//! the claims DNS disproves, caches both, and a resolver that stops answering holds up nothing but
//! the lookup itself. Client addresses arrive in `X-Forwarded-For` from a trusted proxy on
//! loopback: the only traffic is to 127.0.0.1 (the proxy, the upstream, the DNS server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::time::{Duration, Instant};

use tollgate_testkit::dns::{Dns, Record};
use tollgate_testkit::http::Response;
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::bin;

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const BINGBOT: &str = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";

fn record(ip: &str, ptr: Option<&str>, forward: Option<&str>) -> Record {
    Record {
        ip: ip.parse().unwrap(),
        ptr: ptr.map(str::to_string),
        forward: forward.map(|f| f.parse().unwrap()),
    }
}

/// The records of every test: real crawlers, a PTR that lies about its forward name, a PTR
/// outside the crawler's domains, and an address without any PTR.
fn zone() -> Vec<Record> {
    let g1 = "crawl-66-249-66-1.googlebot.com";
    let g2 = "crawl-66-249-66-2.googlebot.com";
    vec![
        record("66.249.66.1", Some(g1), Some("66.249.66.1")),
        record(
            "66.249.66.3",
            Some("crawl-66-249-66-3.googlebot.com"),
            Some("66.249.66.3"),
        ),
        record("66.249.66.2", Some(g2), Some("66.249.66.99")),
        record(
            "203.0.113.5",
            Some("googlebot.com.attacker.example"),
            Some("203.0.113.5"),
        ),
        record(
            "157.55.39.1",
            Some("msnbot-157-55-39-1.search.msn.com"),
            Some("157.55.39.1"),
        ),
    ]
}

fn rules(timeout_ms: u32) -> String {
    let crawlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/crawlers.toml");
    format!(
        r#"
[clients]
trusted_proxies = ["127.0.0.0/8"]
[limit]
requests = 1000
per_secs = 1
burst = 1000
[crawlers]
files = ["{}"]
lookup_timeout_ms = {timeout_ms}
[[route]]
name = "site"
path_prefix = "/"
action = "challenge"
"#,
        crawlers.display()
    )
}

fn start(tag: &str, timeout_ms: u32) -> (TempDir, Dns, Upstream, Tollgate) {
    let dir = TempDir::new(tag);
    let dns = Dns::start(&dir.0, &zone()).unwrap();
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, &rules(timeout_ms));
    let how = Launch::new(up.addr)
        .arg("--resolver")
        .arg(dns.addr.to_string());
    let t = Tollgate::launch(bin(), &dir.0, &path, &how);
    (dir, dns, up, t)
}

/// A request for `/page` from client `client` (behind the trusted proxy) as `ua`.
fn fetch(t: &Tollgate, client: &str, ua: &str) -> Response {
    t.request(
        "127.0.0.1",
        "GET",
        "/page",
        &[("X-Forwarded-For", client), ("User-Agent", ua)],
    )
}

fn outcome(r: &Response) -> (u16, &str) {
    (r.status, r.header("x-tollgate-reason").unwrap_or(""))
}

#[test]
fn proved_crawlers_pass_and_disproved_claims_are_refused_each_looked_up_once() {
    let (_dir, dns, up, t) = start("crawlers-fcrdns", 2000);
    let r = fetch(&t, "66.249.66.1", GOOGLEBOT);
    assert_eq!(
        (r.status, up.hits()),
        (200, 1),
        "{:?}",
        r.header("x-tollgate-reason")
    );
    assert_eq!((dns.queries("PTR"), dns.queries("A")), (1, 1));
    for _ in 0..5 {
        assert_eq!(fetch(&t, "66.249.66.1", GOOGLEBOT).status, 200);
    }
    assert_eq!(dns.queries("PTR"), 1, "the verdict is cached");
    assert_eq!(up.hits(), 6);

    let refused = (403, "crawler_unverified");
    assert_eq!(
        outcome(&fetch(&t, "66.249.66.2", GOOGLEBOT)),
        refused,
        "forward mismatch"
    );
    assert_eq!(
        outcome(&fetch(&t, "203.0.113.5", GOOGLEBOT)),
        refused,
        "outside the domain"
    );
    assert_eq!(
        outcome(&fetch(&t, "203.0.113.6", GOOGLEBOT)),
        refused,
        "no PTR at all"
    );
    assert_eq!(
        outcome(&fetch(&t, "157.55.39.1", GOOGLEBOT)),
        refused,
        "Bing is not Google"
    );
    assert_eq!(
        fetch(&t, "157.55.39.1", BINGBOT).status,
        200,
        "but is Bingbot"
    );
    let ptr = dns.queries("PTR");
    assert_eq!(outcome(&fetch(&t, "66.249.66.2", GOOGLEBOT)), refused);
    assert_eq!(dns.queries("PTR"), ptr, "a refusal is cached too");

    // A proved address is exempt only while it says it is the crawler.
    let curl = fetch(&t, "66.249.66.1", "curl/8.5.0");
    assert_eq!(outcome(&curl), (403, "route_challenge"));
    assert_eq!(up.hits(), 7);
    assert_eq!(
        t.metric(r#"tollgate_crawler_lookups_total{result="verified"}"#),
        2.0
    );
    assert_eq!(
        t.metric(r#"tollgate_crawler_lookups_total{result="refused"}"#),
        4.0
    );
}

#[test]
fn a_silent_resolver_costs_the_claimant_its_deadline_and_nobody_else_anything() {
    let (_dir, dns, up, t) = start("crawlers-deadline", 800);
    assert!(dns.freeze());
    let claimant = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            let start = Instant::now();
            (fetch(&t, "66.249.66.3", GOOGLEBOT), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        // While that lookup hangs, other clients are answered at once.
        for i in 0..20 {
            let start = Instant::now();
            let r = fetch(
                &t,
                &format!("198.51.100.{i}"),
                "Mozilla/5.0 (X11; Linux x86_64)",
            );
            assert_eq!(r.status, 403, "challenged as usual");
            assert!(
                start.elapsed() < Duration::from_millis(300),
                "{:?}",
                start.elapsed()
            );
        }
        slow.join().unwrap()
    });
    let (r, took) = claimant;
    assert_eq!(
        outcome(&r),
        (403, "route_challenge"),
        "unknown: an ordinary visitor"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(dns.thaw());
    // Unknown is remembered for a minute: no second wait, no second query.
    let start = Instant::now();
    assert_eq!(
        outcome(&fetch(&t, "66.249.66.3", GOOGLEBOT)),
        (403, "route_challenge")
    );
    assert!(start.elapsed() < Duration::from_millis(300));
    assert_eq!(up.hits(), 0);
    assert_eq!(
        t.metric(r#"tollgate_crawler_lookups_total{result="unknown"}"#),
        1.0
    );
}

#[test]
fn concurrent_requests_from_one_address_share_one_lookup() {
    let (_dir, dns, up, t) = start("crawlers-dedupe", 2000);
    assert!(dns.freeze());
    std::thread::scope(|s| {
        let all: Vec<_> = (0..8)
            .map(|_| s.spawn(|| fetch(&t, "66.249.66.1", GOOGLEBOT).status))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        assert!(dns.thaw());
        for h in all {
            assert_eq!(h.join().unwrap(), 200);
        }
    });
    assert_eq!(up.hits(), 8);
    assert_eq!(dns.queries("PTR"), 1, "eight requests, one lookup");
}
