//! `decide()` cost with 1M tracked client keys, against baselines measured in the same run.
#![allow(clippy::panic)] // a bench with broken rules must stop
//!
//! Run: `cargo bench -p tollgate-core --bench decide`. Prints the memory per tracked key first
//! (resident-set growth while 1M clients are tracked, read from /proc), then criterion medians for:
//! - `mode_off`: client resolution only (the floor any front end pays);
//! - `allowed_1m_keys`: the full pipeline for an allowed request, random client among 1M;
//! - `allowed_cached_key`: the same for one client whose counters stay in cache;
//! - `banned`: a banned client (ban table lookup only);
//! - `deny_list_100k`: a deny-list miss against 100k networks;
//! - `default_rules_exempt`: the shipped `rules/default.toml` (13 path patterns, 5 crawlers'
//!   user-agent patterns), a Chrome user agent on `/robots.txt`; `default_rules_exempt_no_crawlers`
//!   the same with `[crawlers] enabled = false`, so the difference is the crawler claim check;
//! - `default_rules_verified_crawler`: Googlebot from an address whose lookup is cached as proved.
//!
//! Last, the `allowed_1m_keys` / `mode_off` ratio of this run's medians.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::FsReader;
use tollgate_core::{parse_rules, CoreClock, Decision, Engine, Keyring, Reason, RequestView};

const KEYS: u32 = 1_000_000;

const RULES: &str = r#"
[clients]
max_tracked_keys = 2000000
[limit]
requests = 1000
per_secs = 1
burst = 1000
[bans]
extreme_requests = 100000
extreme_window_secs = 1
[[route]]
name = "robots"
path_prefix = "/robots.txt"
action = "allow"
[[route]]
name = "login"
path_prefix = "/login"
methods = ["POST"]
action = "limit"
limit = { requests = 5, per_secs = 60, burst = 5 }
"#;

fn engine(rules: &str) -> Engine {
    let rules =
        parse_rules(rules, Path::new("bench.toml"), &FsReader).unwrap_or_else(|e| panic!("{e}"));
    let keys = Keyring::from_bytes(&[1; 32]).unwrap_or_else(|e| panic!("{e}"));
    Engine::new(rules, keys, CoreClock::system())
}

fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0B00_0000 + i))
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Tracks 1M clients and reports resident-set growth per client and per stored key.
fn populated() -> Engine {
    let e = engine(RULES);
    let before = rss_bytes();
    for i in 0..KEYS {
        black_box(e.decide(&RequestView::get(client(i), "/")));
    }
    let grown = rss_bytes().saturating_sub(before);
    let stats = e.stats();
    println!(
        "memory: {KEYS} clients -> {} stored keys (default limit and extreme counter, two lanes of one key), RSS +{:.1} MiB = {:.1} bytes/client, {:.1} bytes/stored key",
        stats.tracked_keys,
        grown as f64 / 1048576.0,
        grown as f64 / f64::from(KEYS),
        grown as f64 / stats.tracked_keys.max(1) as f64
    );
    e
}

fn bench(c: &mut Criterion) {
    let started = std::time::SystemTime::now();
    let e = populated();
    let mut g = c.benchmark_group("decide");
    let mut i = 0u32;
    let mut next = move || {
        // A fixed odd stride visits all 1M clients in a scattered order.
        i = (i + 7_919) % KEYS;
        client(i)
    };
    let off = engine("mode = \"off\"\n");
    g.bench_function("mode_off", |b| {
        b.iter(|| black_box(off.decide(&RequestView::get(next(), "/"))))
    });
    g.bench_function("allowed_1m_keys", |b| {
        b.iter(|| black_box(e.decide(&RequestView::get(next(), "/robots.txt"))))
    });
    // The same client every time: its slot stays in cache, so the difference to
    // `allowed_1m_keys` is what one lookup in a table far larger than the cache costs.
    let hot = client(KEYS / 2);
    g.bench_function("allowed_cached_key", |b| {
        b.iter(|| black_box(e.decide(&RequestView::get(hot, "/robots.txt"))))
    });
    let ban = engine(
        "[limit]\nenabled = false\n[bans]\nextreme_requests = 1\nextreme_window_secs = 60\n",
    );
    let banned_ip = client(1);
    ban.decide(&RequestView::get(banned_ip, "/"));
    ban.decide(&RequestView::get(banned_ip, "/"));
    g.bench_function("banned", |b| {
        b.iter(|| black_box(ban.decide(&RequestView::get(banned_ip, "/"))))
    });
    let list: Vec<String> = (0..100_000u32)
        .map(|k| format!("\"{}\"", Ipv4Addr::from(0x2000_0000 + k * 64)))
        .collect();
    let deny = engine(&format!(
        "[limit]\nenabled = false\n[bans]\nenabled = false\n[lists]\ndeny = [{}]\n",
        list.join(",")
    ));
    g.bench_function("deny_list_100k_miss", |b| {
        b.iter(|| black_box(deny.decide(&RequestView::get(next(), "/"))))
    });
    default_rules(&mut g, &mut next);
    g.finish();
    print_ratio("allowed_1m_keys", "mode_off", started);
}

/// `a`'s median over `b`'s, as criterion just saved them (target/criterion/decide/*/new): the
/// same run's baseline, so the machine's fast and slow phases cancel.
fn print_ratio(a: &str, b: &str, since: std::time::SystemTime) {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let median = |id: &str| -> Option<f64> {
        let path = dir.join(format!("criterion/decide/{id}/new/estimates.json"));
        // Only what this run wrote: a filtered run leaves older estimates behind.
        let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        if written < since {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    match (median(a), median(b)) {
        (Some(x), Some(y)) if y > 0.0 => println!(
            "decide/{a} / decide/{b}: {:.0} ns / {:.0} ns = {:.2}x   (target <= 3.00x)",
            x,
            y,
            x / y
        ),
        _ => println!("decide/{a} / decide/{b}: not both measured in this run"),
    }
}

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The shipped default rules, with or without their crawlers.
fn shipped(crawlers: bool) -> Engine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default.toml");
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    if !crawlers {
        text = text.replace("[crawlers]\n", "[crawlers]\nenabled = false\n");
    }
    let rules = parse_rules(&text, &path, &FsReader).unwrap_or_else(|e| panic!("{e}"));
    let keys = Keyring::from_bytes(&[1; 32]).unwrap_or_else(|e| panic!("{e}"));
    Engine::new(rules, keys, CoreClock::system())
}

fn default_rules(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    next: &mut impl FnMut() -> IpAddr,
) {
    for (name, e) in [
        ("default_rules_exempt", shipped(true)),
        ("default_rules_exempt_no_crawlers", shipped(false)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut v = RequestView::get(next(), "/robots.txt");
                v.host = Some("example.com");
                v.user_agent = Some(CHROME);
                black_box(e.decide(&v))
            })
        });
    }
    // Proved crawlers at every address `next` visits, so none is over its limit or banned.
    let e = shipped(true);
    e.enable_crawler_lookups();
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let view = |ip| {
        let mut v = RequestView::get(ip, "/page");
        v.host = Some("example.com");
        v.user_agent = Some(googlebot);
        v
    };
    // Half the verdict store's bound: none is evicted.
    const CRAWLERS: u32 = KEYS / 2;
    for i in 0..CRAWLERS {
        if let Decision::Verify { lookup, .. } = e.decide(&view(client(i))).decision {
            e.record_crawler(&lookup, Some(true));
        }
    }
    let proved = e.decide(&view(client(7))).decision.reason();
    assert_eq!(proved, Reason::CrawlerVerified);
    let mut i = 0u32;
    g.bench_function("default_rules_verified_crawler", |b| {
        b.iter(|| {
            i = (i + 7_919) % CRAWLERS;
            black_box(e.decide(&view(client(i))))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
