//! Environment scoring cost per request (target ≤ 100 ns), against the rest of `decide()`
//! measured in the same run.
#![allow(clippy::panic)] // a bench with broken rules must stop
//!
//! Run: `cargo bench -p tollgate-core --bench score`. Prints a summary first (medians of 15
//! rounds of 200k calls, and the cost scoring adds to a whole decision), then criterion's
//! figures for the same functions:
//! - `signals+score/<client>`: `request_signals` and the weighted sum, per client type;
//! - `decide/score_off` and `decide/score_on`: a whole decision for an allowed Chrome request
//!   with `[score]` absent and present.
//!
//! The summary also prints what the request rhythm adds to `decide()` (`rhythm = false`
//! against the default; target ≤ 30 ns) and the cost of checking one answer's engine probes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::FsReader;
use tollgate_core::{
    parse_rules, ConnectionView, CoreClock, Engine, HttpVersion, Keyring, RequestView,
};
use tollgate_core::{request_signals, ScoreRules};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

fn chrome(version: HttpVersion) -> RequestView<'static> {
    let mut r = RequestView::get(PEER, "/articles/one");
    r.conn = ConnectionView {
        tls: true,
        version,
        requests: 3,
    };
    r.user_agent = Some(CHROME);
    r.accept = Some(
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    );
    r.accept_encoding = Some("gzip, deflate, br, zstd");
    r.accept_language = Some("en-US,en;q=0.9");
    r.sec_fetch_site = Some("none");
    r.sec_fetch_mode = Some("navigate");
    r
}

fn curl() -> RequestView<'static> {
    let mut r = RequestView::get(PEER, "/articles/one");
    r.conn.tls = true;
    r.conn.version = HttpVersion::H2;
    r.user_agent = Some("curl/7.88.1");
    r.accept = Some("*/*");
    r
}

/// An engine with `[score]` as given (empty: absent).
fn engine_with(score: &str) -> Engine {
    let rules =
        format!("[limit]\nrequests = 1000000000\nper_secs = 1\n[bans]\nenabled = false\n{score}");
    let rules =
        parse_rules(&rules, Path::new("bench.toml"), &FsReader).unwrap_or_else(|e| panic!("{e}"));
    let keys = Keyring::from_bytes(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
    Engine::new(rules, keys, CoreClock::system())
}

fn engine(score: bool) -> Engine {
    engine_with(if score { "[score]\n" } else { "" })
}

const CALLS: u32 = 200_000;

/// Ns per call of `f` over one round of 200k calls.
fn round_ns(f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(mut rounds: Vec<f64>) -> f64 {
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

/// Median ns per call of `f` over 15 rounds of 200k calls.
fn median_ns(mut f: impl FnMut()) -> f64 {
    median((0..15).map(|_| round_ns(&mut f)).collect())
}

/// Median ns per call of `f` and of `g` over 15 rounds each, taken in turns, so that a drift
/// of the machine's speed falls on both alike.
fn median_pair_ns(mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let (a, b) = (0..15)
        .map(|_| (round_ns(&mut f), round_ns(&mut g)))
        .unzip();
    (median(a), median(b))
}

fn summary() {
    let rules = ScoreRules::new(50, 10, ScoreRules::default_bands());
    let cases = [
        ("chrome_h2", chrome(HttpVersion::H2)),
        ("copied_h1", chrome(HttpVersion::Http11)),
        ("curl_h2", curl()),
    ];
    for (name, req) in &cases {
        let ns = median_ns(|| {
            black_box(rules.score(request_signals(black_box(req), false)));
        });
        println!("score summary: signals+score/{name}: {ns:.1} ns (target <= 100)");
    }
    let req = chrome(HttpVersion::H2);
    let (off, on) = (engine(false), engine(true));
    let off_ns = median_ns(|| {
        black_box(off.decide(black_box(&req)));
    });
    let on_ns = median_ns(|| {
        black_box(on.decide(black_box(&req)));
    });
    println!(
        "score summary: decide score_off {off_ns:.1} ns, score_on {on_ns:.1} ns: scoring adds {:.1} ns ({:.2}x)",
        on_ns - off_ns,
        on_ns / off_ns
    );
    let steady = engine_with("[score]\nrhythm = false\n");
    let (steady_ns, on_ns) = median_pair_ns(
        || {
            black_box(steady.decide(black_box(&req)));
        },
        || {
            black_box(on.decide(black_box(&req)));
        },
    );
    println!(
        "score summary: decide rhythm_off {steady_ns:.1} ns, rhythm_on {on_ns:.1} ns: the request rhythm adds {:.1} ns (target <= 30)",
        on_ns - steady_ns
    );
    probe_check();
}

/// The server's check of one answer's probe result: the challenge's plan, decoding, judging.
fn probe_check() {
    use tollgate_core::Plan;
    let probe = "0123456789abcdef0123456789abcdef";
    let plan = Plan::of(probe);
    let result = plan.encode(&vec![Some(false); plan.order.len()]);
    let ns = median_ns(|| {
        let plan = Plan::of(black_box(probe));
        black_box(plan.judge(black_box(&result), Some(CHROME)));
    });
    println!("score summary: probe check per answer (plan + decode + judge): {ns:.1} ns");
}

fn bench(c: &mut Criterion) {
    summary();
    let rules = ScoreRules::new(50, 10, ScoreRules::default_bands());
    let chrome_h2 = chrome(HttpVersion::H2);
    let copied = chrome(HttpVersion::Http11);
    let curl = curl();
    let mut g = c.benchmark_group("signals+score");
    for (name, req) in [
        ("chrome_h2", &chrome_h2),
        ("copied_h1", &copied),
        ("curl_h2", &curl),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| rules.score(request_signals(black_box(req), false)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decide");
    for (name, e) in [("score_off", engine(false)), ("score_on", engine(true))] {
        g.bench_function(name, |b| b.iter(|| e.decide(black_box(&chrome_h2))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
