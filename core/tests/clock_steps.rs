//! The core reads the wall clock, and an operator's NTP may step it back (or far ahead) at any
//! moment, between two requests of one client or while sibling requests are in flight. No
//! decision may panic for it: a test build checks every subtraction, as the debug proxy in CI
//! did when four tabs' rhythm updates crossed. The shipped rules run, on one engine and on two
//! over one shared region, through pages, assets, floods into bans, challenges, real answers,
//! garbage answers and sweeps, while a seeded walk moves the clock both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_core::{
    parse_rules, CoreClock, Engine, FsReader, HttpVersion, Keyring, Region, RequestView,
};
use tollgate_testkit::challenge::{answer, chromium_probe_result, verify_path};
use tollgate_testkit::TEST_SECRET_HEX;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const STEPS: u32 = 3_000;

/// The shipped rules, with puzzles a test build solves in milliseconds.
fn engines(clock: &CoreClock) -> Vec<Engine> {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/default.toml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .replace("difficulty = 23 ", "difficulty = 4 ")
        .replace("range = 16777216 ", "range = 32 ");
    assert_ne!(
        text,
        std::fs::read_to_string(path).unwrap(),
        "the puzzles moved"
    );
    let rules = parse_rules(&text, path, &FsReader).unwrap_or_else(|e| panic!("{e}"));
    let keys = Keyring::from_hex(TEST_SECRET_HEX).unwrap();
    let zone: &'static [AtomicU64] = Box::leak(
        (0..Region::MIN_BYTES / 8)
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let region = Arc::new(Region::attach(zone, [21, 22]).unwrap().0);
    let shared = |r| Engine::shared(r, keys.clone(), clock.clone(), region.clone());
    vec![
        Engine::new(rules.clone(), keys.clone(), clock.clone()),
        shared(rules.clone()),
        shared(rules),
    ]
}

/// A browser's request for `path` (a page, or an asset of `dest`).
fn browser<'a>(
    peer: IpAddr,
    path: &'a str,
    dest: &'a str,
    query: Option<&'a str>,
) -> RequestView<'a> {
    let mut v = RequestView::get(peer, path);
    v.user_agent = Some(CHROME);
    v.query = query;
    v.conn.tls = true;
    v.conn.version = HttpVersion::H2;
    v.accept = Some("text/html,application/xhtml+xml,*/*;q=0.8");
    v.accept_encoding = Some("gzip, deflate, br, zstd");
    v.accept_language = Some("en-US,en;q=0.9");
    v.sec_fetch_site = Some("same-origin");
    v.sec_fetch_mode = Some(if dest == "document" {
        "navigate"
    } else {
        "no-cors"
    });
    v.sec_fetch_dest = Some(dest);
    v
}

/// Fetches a challenge offer and answers it (rightly, with Chromium's probe answers, or with
/// a garbage nonce and probe result); the status of the answer.
fn answer_one(e: &Engine, peer: IpAddr, right: bool) -> Option<u16> {
    let offer = e.decide(&browser(
        peer,
        "/.tollgate/challenge",
        "empty",
        Some("return=/"),
    ));
    let reply = e.respond(&offer)?;
    let offer: Value = serde_json::from_slice(&reply.body).ok()?;
    let token = offer["token"].as_str()?;
    let (nonce, probes) = match right {
        true => (answer(&offer), chromium_probe_result(&offer)),
        false => (7, "2.zz".to_string()),
    };
    let path = verify_path(token, nonce, "/");
    let (_, query) = path.split_once('?')?;
    let query = format!("{query}&pr={probes}&wd=0&hc=2&vis=visible&ms=900");
    let verdict = e.decide(&browser(
        peer,
        "/.tollgate/verify",
        "document",
        Some(&query),
    ));
    Some(e.respond(&verdict).map_or(200, |r| r.status))
}

/// A seeded walk (xorshift64): the same steps every run.
struct Walk(u64);

impl Walk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn a_wall_clock_stepping_back_and_forth_never_panics_a_decision() {
    let clock = CoreClock::manual(1_800_000_000 * 1_000_000_000);
    let engines = engines(&clock);
    let mut walk = Walk(0x9e37_79b9_7f4a_7c15);
    let (mut backs, mut passed, mut refused) = (0, 0, 0);
    for step in 0..STEPS {
        let r = walk.next();
        let e = &engines[(r % 3) as usize];
        // 64 browsing clients in 16 networks, and flooders in a network of their own.
        let peer = IpAddr::from([10, 7, ((r >> 8) % 16) as u8, ((r >> 16) % 4) as u8]);
        let flooder = IpAddr::from([10, 9, 0, ((r >> 16) % 16) as u8]);
        match (r >> 24) % 16 {
            0..=5 => drop(e.decide(&browser(peer, "/articles/one", "document", None))),
            6..=8 => drop(e.decide(&browser(peer, "/static/site.css", "style", None))),
            // A flood from one client, in one instant: limits, then a ban.
            9 => (0..60).for_each(|_| drop(e.decide(&browser(flooder, "/", "document", None)))),
            10 if step % 4 == 0 => passed += usize::from(answer_one(e, peer, true) == Some(303)),
            10 | 11 => refused += usize::from(answer_one(e, peer, false) == Some(403)),
            12 => drop(e.sweep()),
            13 => {
                backs += 1;
                clock.step_back(Duration::from_millis((r >> 32) % 7_200_000));
            }
            14 => clock.advance(Duration::from_millis((r >> 32) % 3_600_000)),
            _ => clock.advance(Duration::from_millis((r >> 32) % 3_000)),
        }
        // Sibling requests: one stamped at the instant, one 2 s earlier, as in-flight requests
        // read the clock before another stored its arrival.
        if step % 64 == 0 {
            drop(e.decide(&browser(peer, "/b", "document", None)));
            clock.step_back(Duration::from_secs(2));
            drop(e.decide(&browser(peer, "/a", "document", None)));
            clock.advance(Duration::from_secs(2));
        }
    }
    assert!(backs > 100, "the clock stepped back {backs} times");
    assert!(
        passed > 5 && refused > 50,
        "answers: {passed} passed, {refused} refused"
    );
}
