//! Runs the shared scenario table (`tests/scenarios/*.toml`) against the core directly: each
//! scenario once on one engine and once on two engines sharing one region, each its own test case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::FsReader;
use tollgate_core::Region;
use tollgate_core::{parse_rules, CoreClock, Engine, Keyring, RequestView};
use tollgate_testkit::scenario::{trials, Scenario, Step};
use tollgate_testkit::TEST_SECRET_HEX;

/// The request as the HTTP harness sends it: one HTTP/1.1 request per connection, with
/// `Connection: close`.
fn view<'a>(step: &'a Step, cookie: Option<&'a str>, ip_header: Option<&str>) -> RequestView<'a> {
    let mut v = RequestView::get(
        step.peer.parse::<IpAddr>().expect("peer is an IP"),
        &step.path,
    );
    v.method = &step.method;
    v.host = Some(step.host.as_deref().unwrap_or("localhost")); // every HTTP client sends one
    v.user_agent = step.user_agent.as_deref();
    v.forwarded_for = step.forwarded_for.as_deref();
    v.client_ip_header = match ip_header {
        Some("x-real-ip") => step.real_ip.as_deref(),
        Some(name) => step.header(name),
        None => None,
    };
    v.forwarded_proto = step.header("x-forwarded-proto");
    v.cookie = cookie;
    v.accept = step.header("accept");
    v.accept_encoding = step.header("accept-encoding");
    v.accept_language = step.header("accept-language");
    v.sec_fetch_site = step.header("sec-fetch-site");
    v.sec_fetch_mode = step.header("sec-fetch-mode");
    v.sec_fetch_dest = step.header("sec-fetch-dest");
    v.content_type = step.header("content-type");
    v.connection = Some("close");
    v.conn.tls = step.tls;
    if step.h2 {
        v.conn.version = tollgate_core::HttpVersion::H2;
        v.connection = None;
    }
    v
}

/// Where the engines under test keep their state.
#[derive(Clone, Copy)]
enum Memory {
    /// One engine, in-process state (the Pingora proxy).
    Local,
    /// Two engines over one shared region, taking requests in turn (nginx's workers).
    SharedByTwo,
}

fn engines(s: &Scenario, clock: &CoreClock, memory: Memory) -> Vec<Engine> {
    let rules = parse_rules(&s.rules, Path::new("scenario.toml"), &FsReader)
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    let keys = Keyring::from_hex(TEST_SECRET_HEX).unwrap();
    match memory {
        Memory::Local => vec![Engine::new(rules, keys, clock.clone())],
        Memory::SharedByTwo => {
            let zone: &'static [AtomicU64] = Box::leak(
                (0..Region::MIN_BYTES / 8)
                    .map(|_| AtomicU64::new(0))
                    .collect(),
            );
            let (region, _) = Region::attach(zone, [11, 12]).unwrap();
            let region = Arc::new(region);
            (0..2)
                .map(|_| Engine::shared(rules.clone(), keys.clone(), clock.clone(), region.clone()))
                .collect()
        }
    }
}

fn run(s: &Scenario, memory: Memory) {
    let clock = CoreClock::manual(1_700_000_000_000_000_000);
    let engines = engines(s, &clock, memory);
    let mut turn = 0;
    for (i, step) in s.steps.iter().enumerate() {
        clock.advance(Duration::from_secs(step.advance_secs));
        let cookie = s.cookie(step, clock.now_ns() / 1_000_000_000);
        for n in 0..step.repeat {
            let (path, query) = match step.path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (step.path.as_str(), None),
            };
            let mut req =
                engines[0].with_client_ip_header(|name| view(step, cookie.as_deref(), name));
            req.path = path;
            req.query = query;
            let engine = &engines[turn % engines.len()];
            turn += 1;
            let v = engine.decide(&req);
            let what = format!("{} / step {i} / request {n}: {v:?}", s.name);
            assert_eq!(v.decision.kind(), step.expect, "{what}");
            if let Some(reason) = step.reason {
                assert_eq!(v.decision.reason(), reason, "{what}");
            }
            if let Some(xff) = &step.upstream_forwarded_for {
                assert_eq!(&engine.forwarded_for(&req), xff, "{what}");
            }
            if let Some(want) = &step.signals {
                let got = v.score.map_or("-".to_string(), |s| s.signals.names());
                assert_eq!(&got, want, "{what}");
            }
        }
    }
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut all = trials("one_engine::", false, |s| run(s, Memory::Local));
    all.extend(trials("two_engines_one_region::", false, |s| {
        run(s, Memory::SharedByTwo)
    }));
    libtest_mimic::run(&args, all).exit();
}
