//! Under-attack mode against a real `tollgate`: bounded floods of requests and of upstream
//! errors engage it (a browser-like client then drops from the trusted band to the neutral one,
//! and pays the full price) and it releases after the cooldown. (Passing on score needs TLS and
//! HTTP/2, so over this cleartext harness the band shows in the puzzle's price.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tollgate_testkit::process::{eventually, DeadPort};
use tollgate_testkit::tollgate::{log_field, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Plain HTTP, one request per connection; the browser-like header set scores 90 (trusted:
/// 12 bits less 2), 70 when under attack (neutral: 12 bits).
const ATTACK_RULES: &str = r#"
[challenge]
difficulty = 12
[limit]
enabled = false
[bans]
enabled = false
[score]
base = 70
floor = 0
[score.weights]
connection_close = 0
[under_attack]
requests_per_sec = 50
upstream_errors_per_sec = 5
release_percent = 50
cooldown_secs = 2
[[route]]
name = "articles"
path_prefix = "/articles/"
action = "challenge"
pass_on_score = true
"#;

/// The trusted band's price, and the neutral band's.
const TRUSTED: u64 = 10;
const NEUTRAL: u64 = 12;

/// The puzzle (bits) a browser-like client is offered for `/articles/x` now.
fn browser_price(t: &Tollgate, from: &str) -> u64 {
    let headers = [
        ("User-Agent", CHROME_UA),
        ("Accept", "text/html,*/*;q=0.8"),
        ("Accept-Encoding", "gzip, br"),
        ("Accept-Language", "en"),
        ("Sec-Fetch-Site", "none"),
    ];
    let r = t.request(
        from,
        "GET",
        "/.tollgate/challenge?return=/articles/x",
        &headers,
    );
    let offer: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    offer["param"].as_u64().unwrap_or_else(|| panic!("{offer}"))
}

/// Sends requests from 4 threads until `done` holds, `limit` passes or `max` requests were sent;
/// returns whether `done` held.
fn flood_until(t: &Tollgate, limit: Duration, max: usize, done: impl Fn() -> bool + Sync) -> bool {
    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..4 {
            let (stop, sent) = (&stop, &sent);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= max {
                        break;
                    }
                    t.get(&format!("127.0.1.{}", (n * 4 + w) % 20 + 1), "/");
                }
            });
        }
        let held = eventually(limit, &done);
        stop.store(true, Ordering::Relaxed);
        held
    })
}

#[test]
fn under_attack_mode_engages_on_a_flood_and_releases_after_the_cooldown() {
    let dir = TempDir::new("attack");
    let upstream = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, ATTACK_RULES, upstream.addr);
    assert_eq!(
        browser_price(&t, "127.0.0.90"),
        TRUSTED,
        "trusted when calm"
    );
    assert_eq!(t.metric("tollgate_under_attack"), 0.0);

    // A bounded flood from 4 threads and 20 addresses until the gauge flips (at most 10 s or
    // 20,000 requests): a debug build on a loaded machine still crosses 50 per second.
    let engaged = flood_until(&t, Duration::from_secs(10), 20_000, || {
        t.metric("tollgate_under_attack") == 1.0
    });
    assert!(engaged, "{}", t.log());
    // The engage line is written by the housekeeping thread, up to a second later.
    let logged = eventually(Duration::from_secs(3), || {
        t.log().contains("under-attack mode engaged")
    });
    assert!(logged, "{}", t.log());
    // The same client now pays the neutral price: its score lost the under_attack weight.
    assert_eq!(browser_price(&t, "127.0.0.91"), NEUTRAL);
    let line = t
        .log()
        .lines()
        .find(|l| l.contains("client=127.0.0.91 "))
        .map(String::from)
        .unwrap_or_default();
    assert!(
        log_field(&line, "signals").contains("under_attack"),
        "{line}"
    );

    let released = eventually(Duration::from_secs(10), || {
        t.metric("tollgate_under_attack") == 0.0
    });
    assert!(released, "{}", t.log());
    assert!(t.log().contains("under-attack mode released"));
    assert_eq!(browser_price(&t, "127.0.0.92"), TRUSTED, "trusted again");
}

#[test]
fn upstream_errors_engage_under_attack_mode() {
    let dir = TempDir::new("attack-upstream");
    // Nothing listens here, and the port stays ours: every proxied request is refused (502).
    let dead = DeadPort::new().unwrap();
    let t = Tollgate::start(bin(), &dir.0, ATTACK_RULES, dead.addr);
    assert_eq!(
        browser_price(&t, "127.0.2.90"),
        TRUSTED,
        "trusted when calm"
    );
    for i in 0..20 {
        let r = t.get(&format!("127.0.2.{}", i + 1), "/");
        assert_eq!(r.status, 502);
    }
    let engaged = eventually(Duration::from_secs(5), || {
        t.metric("tollgate_under_attack") == 1.0
    });
    assert!(engaged, "{}", t.log());
    assert!(t.metric("tollgate_upstream_errors_total") >= 20.0);
    // Engaged means tightened: the browser-like client trusted when calm now pays in full.
    assert_eq!(browser_price(&t, "127.0.2.90"), NEUTRAL, "{}", t.log());
}
