//! What the bypass defences cost per request and per connection: the canonical path (a plain
//! path is borrowed; an encoded one is decoded, cut and resolved) and the TLS ClientHello parse
//! with its JA4 fingerprint (once per TLS connection), on hellos captured from curl and
//! Chromium.
//!
//! Run: `cargo bench -p tollgate-core --bench request`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::{canonical_path, TlsHello};

const CURL: &[u8] = include_bytes!("../tests/data/curl-hello.bin");
const CHROMIUM: &[u8] = include_bytes!("../tests/data/chromium-hello.bin");

fn paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("canonical_path");
    for (name, raw) in [
        ("plain", "/articles/2026/12/one-long-enough-slug.html"),
        (
            "encoded",
            "/public/..%2Fprotected;jsessionid=1/%2e/secret%5Cfile.html",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| canonical_path(black_box(raw)).path.len())
        });
    }
    // Same-run baseline: the check the previous matcher ran on every path before borrowing it
    // (three substring scans and a prefix test).
    let plain = "/articles/2026/12/one-long-enough-slug.html";
    g.bench_function("baseline_previous_check", |b| {
        b.iter(|| {
            let p = black_box(plain);
            !p.starts_with('/') || p.contains("//") || p.contains("/.") || p.contains('%')
        })
    });
    g.finish();
}

fn hellos(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_hello+ja4");
    for (name, record) in [("curl", CURL), ("chromium", CHROMIUM)] {
        g.bench_function(name, |b| {
            b.iter(|| TlsHello::parse(black_box(record)).map(|h| h.ja4.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, paths, hellos);
criterion_main!(benches);
