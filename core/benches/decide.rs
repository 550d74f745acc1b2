//! `decide()` cost with 1M tracked client keys, against baselines measured in the same run.
#![allow(clippy::panic)] // a bench with broken rules must stop
//!
//! Run: `cargo bench -p tollgate-core --bench decide`. Prints the memory per tracked key first
//! (resident-set growth while 1M clients are tracked, read from /proc), then criterion medians for:
//! - `mode_off`: client resolution only (the floor any front end pays);
//! - `allowed_1m_keys`: the full pipeline for an allowed request, random client among 1M;
//! - `banned`: a banned client (ban table lookup only);
//! - `deny_list_100k`: a deny-list miss against 100k networks.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::FsReader;
use tollgate_core::{parse_rules, CoreClock, Engine, Keyring, RequestView};

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
        "memory: {KEYS} clients -> {} stored keys (default limit + extreme counter), RSS +{:.1} MiB = {:.1} bytes/client, {:.1} bytes/stored key",
        stats.tracked_keys,
        grown as f64 / 1048576.0,
        grown as f64 / f64::from(KEYS),
        grown as f64 / stats.tracked_keys.max(1) as f64
    );
    e
}

fn bench(c: &mut Criterion) {
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
