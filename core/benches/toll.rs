//! Cost of the toll: issuing and verifying challenges, checking clearances, and the native hash
//! rate the browser's is compared with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: fail loudly
//!
//! Run: `cargo bench -p tollgate-core --bench toll`. Prints the native single-core hash rate
//! first (median of 5 runs of 4M tries, the same work per try as the browser's worker), then
//! criterion medians for issue, verify and clearance checks.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::{
    check_answer, check_clearance, issue_challenge, seal_clearance, solve, Binding, Clearance,
    ClientKey, IssueParams, Keyring, Offer, Puzzle, Work,
};

const NOW: u64 = 1_700_000_000;

fn keys() -> Keyring {
    Keyring::from_bytes(&[9; 32]).unwrap()
}

fn binding() -> Binding {
    let key = ClientKey::new("203.0.113.9".parse().unwrap(), 32, 64);
    Binding::new(
        &key,
        Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"),
    )
}

fn params(puzzle: Puzzle) -> IssueParams<'static> {
    IssueParams {
        puzzle,
        route: "login",
        binding: binding(),
        now_secs: NOW,
        ttl_secs: 300,
        serial: [1; 16],
        signals: 0,
    }
}

/// Single-core tries per second of the native solver, median of 5 runs of `n` tries.
fn native_rate(n: u64) -> f64 {
    let work = Work::new(
        Puzzle::Range { size: n },
        &"f".repeat(64),
        Some(&"0".repeat(64)),
    )
    .unwrap();
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let found = solve(&work, 0, 1, &AtomicBool::new(false), &AtomicU64::new(0));
            assert!(found.is_none());
            n as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn solved(o: &Offer) -> u64 {
    let work = Work::from_offer(o).unwrap();
    solve(&work, 0, 1, &AtomicBool::new(false), &AtomicU64::new(0)).unwrap()
}

fn bench(c: &mut Criterion) {
    let rate = native_rate(4_000_000);
    println!("native hash rate, one core: {:.2} MH/s", rate / 1e6);

    let keys = keys();
    let hashcash = Puzzle::Hashcash { bits: 12 };
    let range = Puzzle::Range { size: 4_096 };
    c.bench_function("issue_hashcash", |b| {
        b.iter(|| issue_challenge(&keys, black_box(&params(hashcash))))
    });
    c.bench_function("issue_range", |b| {
        b.iter(|| issue_challenge(&keys, black_box(&params(range))))
    });
    for (name, puzzle) in [("verify_hashcash", hashcash), ("verify_range", range)] {
        let o = issue_challenge(&keys, &params(puzzle));
        let n = solved(&o);
        let bind = binding();
        c.bench_function(name, |b| {
            b.iter(|| check_answer(&keys, black_box(&o.token), n, &bind, NOW + 1).unwrap())
        });
    }
    let grant = Clearance {
        issued_unix_secs: NOW,
        expires_unix_secs: NOW + 3_600,
        budget: 1_000,
        work_bits: 21,
        serial: [3; 16],
    };
    let bind = binding();
    let cookie = seal_clearance(&keys, &grant, &bind);
    c.bench_function("clearance_check", |b| {
        b.iter(|| check_clearance(&keys, black_box(&cookie), &bind, NOW + 1).unwrap())
    });
}

criterion_group! {
    name = toll;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(toll);
