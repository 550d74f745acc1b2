//! The core reads the wall clock, and an operator's NTP may step it back (or far ahead) at any
//! moment: between two requests of one client, between a challenge and its answer, or while
//! sibling requests are in flight. No decision may fail for it: every verdict here is checked
//! not to be the caught panic's `internal_error`, and a test build checks every subtraction, as
//! the debug proxy in CI did when four tabs' rhythm updates crossed. The shipped rules run, on
//! one engine and on two over one shared region, through pages (with the clearances earned),
//! assets, floods into bans, challenges answered rightly and wrongly, and sweeps, while a
//! seeded walk steps the clock back and ahead alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_core::{
    parse_rules, CoreClock, Engine, FsReader, HttpVersion, Keyring, Reason, Region, RequestView,
    Verdict,
};
use tollgate_testkit::challenge::{answer, chromium_probe_result, verify_path};
use tollgate_testkit::TEST_SECRET_HEX;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const STEPS: u32 = 3_000;
const HOUR_MS: u64 = 3_600_000;

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

/// Decides `req`; never the caught panic.
fn decide(e: &Engine, req: &RequestView<'_>) -> Verdict {
    let v = e.decide(req);
    assert_ne!(
        v.decision.reason(),
        Reason::InternalError,
        "{} {:?}",
        req.path,
        req.query
    );
    v
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

/// Fetches a challenge offer and answers it, rightly (the nonce, Chromium's probe answers) or
/// with garbage, after the clock moved by `skew` (back when negative); the answer's status and
/// the clearance it set.
fn answer_one(
    e: &Engine,
    clock: &CoreClock,
    peer: IpAddr,
    right: bool,
    skew: i64,
) -> (u16, Option<String>) {
    let offer = decide(
        e,
        &browser(peer, "/.tollgate/challenge", "empty", Some("return=/")),
    );
    let Some(offer) = e
        .respond(&offer)
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
    else {
        return (0, None); // refused before a challenge: a ban, a limit
    };
    let token = offer["token"].as_str().unwrap();
    let (nonce, probes) = match right {
        true => (answer(&offer), chromium_probe_result(&offer)),
        false => (7, "2.zz".to_string()),
    };
    let path = verify_path(token, nonce, "/");
    let query = format!(
        "{}&pr={probes}&wd=0&hc=2&vis=visible&ms=900",
        &path[path.find('?').unwrap() + 1..]
    );
    let by = Duration::from_millis(skew.unsigned_abs());
    if skew < 0 {
        clock.step_back(by)
    } else {
        clock.advance(by)
    }
    let verdict = decide(
        e,
        &browser(peer, "/.tollgate/verify", "document", Some(&query)),
    );
    let reply = e.respond(&verdict).unwrap();
    let cookie = reply
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("set-cookie"));
    let cookie = cookie.map(|(_, c)| c.split(';').next().unwrap_or_default().to_string());
    (reply.status, cookie)
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
fn a_wall_clock_stepping_back_and_ahead_fails_no_decision() {
    let clock = CoreClock::manual(1_800_000_000 * 1_000_000_000);
    let engines = engines(&clock);
    // Two days of room: the walk seldom reads earlier than the engines' start, where answers
    // get fresh challenges (README: persisted state).
    clock.advance(Duration::from_secs(2 * 86_400));
    let mut walk = Walk(0x9e37_79b9_7f4a_7c15);
    let mut cookies: HashMap<IpAddr, String> = HashMap::new();
    let (mut backs, mut passed, mut refused, mut bans, mut cleared) = (0, [0; 3], 0, 0, 0);
    for step in 0..STEPS {
        let r = walk.next();
        let i = (r % 3) as usize;
        let e = &engines[i];
        // 64 browsing clients in 16 networks; flooders and wrong answerers in networks of
        // their own (their bans would otherwise shut the browsing clients out).
        let peer = IpAddr::from([10, 7, ((r >> 8) % 16) as u8, ((r >> 16) % 4) as u8]);
        let flooder = IpAddr::from([10, 9, 0, ((r >> 16) % 16) as u8]);
        let liar = IpAddr::from([10, 8, ((r >> 8) % 16) as u8, ((r >> 16) % 4) as u8]);
        let skew = [-2_000, 2_000, 0, 0, 0][((r >> 40) % 5) as usize];
        // Time passes at a site's pace between steps; now and then the clock steps.
        clock.advance(Duration::from_millis((r >> 44) % 1_500));
        match (r >> 24) % 16 {
            0..=4 => {
                let mut req = browser(peer, "/articles/one", "document", None);
                req.cookie = cookies.get(&peer).map(String::as_str);
                cleared += usize::from(decide(e, &req).decision.reason() == Reason::Cleared);
            }
            5 | 6 => drop(decide(e, &browser(peer, "/static/site.css", "style", None))),
            // A flood from one client, in one instant: past the burst of 40, more than the 100
            // refusals a minute that ban.
            7 => {
                for _ in 0..150 {
                    let v = decide(e, &browser(flooder, "/", "document", None));
                    bans += usize::from(v.decision.reason() == Reason::ActiveBan);
                }
            }
            8 | 13 => {
                let (status, cookie) = answer_one(e, &clock, peer, true, skew);
                passed[i] += usize::from(status == 303);
                if let Some(c) = cookie.filter(|_| status == 303) {
                    cookies.insert(peer, c);
                }
            }
            9 => refused += usize::from(answer_one(e, &clock, liar, false, skew).0 == 403),
            10 => drop(e.sweep()),
            11 => {
                backs += 1;
                clock.step_back(Duration::from_millis((r >> 32) % HOUR_MS));
            }
            12 => clock.advance(Duration::from_millis((r >> 32) % HOUR_MS)),
            _ => drop(decide(e, &browser(peer, "/", "document", None))),
        }
        // Sibling requests: one stamped at the instant, one 2 s earlier, as in-flight requests
        // read the clock before another stored its arrival.
        if step % 64 == 0 {
            drop(decide(e, &browser(peer, "/b", "document", None)));
            clock.step_back(Duration::from_secs(2));
            drop(decide(e, &browser(peer, "/a", "document", None)));
            clock.advance(Duration::from_secs(2));
        }
    }
    let counts = format!("{backs} steps back, {passed:?} passed, {refused} refused, {bans} banned, {cleared} cleared");
    assert!(backs > 100, "{counts}");
    // Browsing clients keep passing, and their clearances keep working, through the steps: a
    // step back once put every recent client deep in its limits' debt and banned most of them.
    assert!(passed.iter().all(|&n| n > 20), "{counts}");
    assert!(refused > 50 && bans > 0 && cleared > 200, "{counts}");
}
