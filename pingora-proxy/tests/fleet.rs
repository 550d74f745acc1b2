//! Three instances and one real `redis-server` on loopback: a ban earned on one is enforced on
//! the others within a second, one solved challenge submitted to all three at once passes
//! exactly once, and with the store killed every instance keeps answering on its own, then
//! shares again once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::time::{Duration, Instant};

use tollgate_testkit::http;
use tollgate_testkit::process::eventually;
use tollgate_testkit::redis::Redis;
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::{bin, get, offer, reason, solved, UA};

/// Generous limits unless a test says otherwise.
const LIMIT: &str = "[limit]\nrequests = 1000\nper_secs = 1\nburst = 1000\n";

fn rules(redis: &Redis, limit: &str) -> String {
    format!(
        r#"
[fleet]
redis_url = "{}"
{limit}
[bans]
extreme_requests = 40
extreme_window_secs = 60
[challenge]
difficulty = 8
[[route]]
name = "site"
path_prefix = "/protected"
action = "challenge"
"#,
        redis.url()
    )
}

struct Fleet {
    _dirs: Vec<TempDir>,
    up: Upstream,
    nodes: Vec<Tollgate>,
    redis: Redis,
    _redis_dir: TempDir,
}

fn fleet(tag: &str) -> Fleet {
    fleet_with(tag, LIMIT)
}

/// A store (TLS-only with `tls`) and an upstream for a fleet called `tag`.
fn store(tag: &str, tls: bool) -> (TempDir, Redis, Upstream) {
    let dir = TempDir::new(&format!("{tag}-redis"));
    let redis = match tls {
        true => Redis::start_tls(&dir.0),
        false => Redis::start(&dir.0),
    };
    (dir, redis.unwrap(), Upstream::start().unwrap())
}

fn fleet_with(tag: &str, limit: &str) -> Fleet {
    let (redis_dir, redis, up) = store(tag, false);
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("{tag}-{i}")))
        .collect();
    let nodes: Vec<Tollgate> = dirs
        .iter()
        .map(|d| Tollgate::start(bin(), &d.0, &rules(&redis, limit), up.addr))
        .collect();
    for n in &nodes {
        assert!(eventually(Duration::from_secs(10), || n
            .metric("tollgate_fleet_up")
            == 1.0));
    }
    Fleet {
        _dirs: dirs,
        up,
        nodes,
        redis,
        _redis_dir: redis_dir,
    }
}

/// Past the extreme-rate threshold (40 in 60 s; a second of polling every 50 ms stays under
/// it): banned.
fn flood(node: &Tollgate, from: &str) {
    for _ in 0..42 {
        let _ = http::request(from.parse().unwrap(), node.listen, "GET", "/x", &[]);
    }
}

/// Whether `node` refuses `from` as banned: 403 `active_ban`, or (a ban it already knows at
/// accept) the connection closed before any answer.
fn banned(node: &Tollgate, from: &str) -> bool {
    match http::request(from.parse().unwrap(), node.listen, "GET", "/x", &[]) {
        Ok(r) => {
            // The poll must not earn the ban itself: then it would prove nothing.
            assert_ne!(
                reason(&r),
                "extreme_rate",
                "polling {} tripped a ban",
                node.listen
            );
            reason(&r) == "active_ban"
        }
        Err(_) => true,
    }
}

/// Time until `node` refuses `from` as banned, up to `limit` (polled 20 times at most: the
/// polls stay under the threshold).
fn banned_within(node: &Tollgate, from: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if banned(node, from) {
            return Some(start.elapsed());
        }
        std::thread::sleep(limit / 20);
    }
    None
}

/// Whether `node`, asked once 300 ms after a flood elsewhere, already holds the ban: its first
/// request from `from` is refused as `active_ban` (or at accept). The flood's counts reach it
/// too (the extreme-rate counter is shared), so a node without the ban would ban on that
/// request itself, with `extreme_rate`: a poll may not come first.
fn pushed_ban(node: &Tollgate, from: &str) -> bool {
    std::thread::sleep(Duration::from_millis(300));
    banned(node, from)
}

#[test]
fn a_ban_on_one_instance_holds_on_the_others_within_a_second() {
    let f = fleet("fleet-ban");
    let (a, others) = f.nodes.split_first().unwrap();
    flood(a, "127.0.6.1");
    assert!(banned(a, "127.0.6.1"));
    for n in others {
        assert!(
            pushed_ban(n, "127.0.6.1"),
            "not banned on {} within 1 s",
            n.listen
        );
    }
    // Only the flooder: its neighbour passes everywhere.
    for n in &f.nodes {
        assert_eq!(n.get("127.0.6.2", "/x").status, 200);
    }
    assert!(
        f.redis
            .cli(&["--scan", "--pattern", "tollgate:{k*}:ban"])
            .lines()
            .count()
            == 1
    );
    assert_eq!(a.metric("tollgate_fleet_bans_published_total"), 1.0);
    // Kept as long as its offence counts: the 300 s ban plus 86,400 s of history.
    let key = f.redis.cli(&["--scan", "--pattern", "tollgate:{k*}:ban"]);
    let ttl: u64 = f.redis.cli(&["TTL", &key]).parse().unwrap();
    assert!((86_400..=86_700).contains(&ttl), "TTL {ttl}");
    // An operator lifts it on one instance: gone from every instance's list, and from the store.
    let lifted = others[1].admin("DELETE", "/bans/127.0.6.1");
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    for n in &f.nodes {
        let gone = eventually(Duration::from_secs(1), || {
            !n.admin("GET", "/bans").body.contains("127.0.6.1")
        });
        assert!(gone, "still banned on {}", n.listen);
    }
    let keys = f.redis.cli(&["--scan", "--pattern", "tollgate:{k*}:ban"]);
    assert_eq!(
        keys, "",
        "the stored ban is deleted, so no catch-up restores it"
    );
}

#[test]
fn one_answer_sent_to_all_three_at_once_passes_exactly_once() {
    let f = fleet("fleet-answer");
    let o = offer(&f.nodes[0], "127.0.6.10", UA, "/protected/a");
    let path = solved(&o, "/protected/a");
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let all: Vec<_> = f
            .nodes
            .iter()
            .map(|n| {
                let path = path.clone();
                s.spawn(move || {
                    let r = get(n, "127.0.6.10", &path, UA, None);
                    (r.status, reason(&r).to_string())
                })
            })
            .collect();
        all.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let passed = statuses.iter().filter(|(s, _)| *s == 303).count();
    assert_eq!(passed, 1, "{statuses:?}");
    let replayed = statuses
        .iter()
        .filter(|(_, r)| r == "challenge_replayed")
        .count();
    assert_eq!(replayed, 2, "{statuses:?}");
}

#[test]
fn with_the_store_gone_every_instance_decides_alone_and_shares_again_when_it_is_back() {
    let mut f = fleet("fleet-outage");
    f.redis.down();
    for n in &f.nodes {
        let start = Instant::now();
        assert_eq!(n.get("127.0.6.20", "/x").status, 200);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
    }
    // A ban now stays where it was earned, and an answer passes on the instance that took it.
    let (a, others) = f.nodes.split_first().unwrap();
    flood(a, "127.0.6.21");
    assert!(banned(a, "127.0.6.21"));
    let down = eventually(Duration::from_secs(5), || {
        a.metric("tollgate_fleet_up") == 0.0
    });
    assert!(down, "{}", a.log());
    assert_eq!(others[0].get("127.0.6.21", "/x").status, 200);
    let o = offer(a, "127.0.6.22", UA, "/protected/b");
    let start = Instant::now();
    let r = get(a, "127.0.6.22", &solved(&o, "/protected/b"), UA, None);
    assert_eq!(r.status, 303, "{}", reason(&r));
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert!(a.log().contains("fleet store unreachable"), "{}", a.log());

    f.redis.up().unwrap();
    for n in &f.nodes {
        assert!(eventually(Duration::from_secs(10), || n
            .metric("tollgate_fleet_up")
            == 1.0));
    }
    // The ban kept while the store was away is published on reconnection, and new ones flow.
    let took = banned_within(&others[1], "127.0.6.21", Duration::from_secs(5));
    assert!(
        took.is_some(),
        "the outage's ban reached the others after reconnection"
    );
    flood(&others[0], "127.0.6.23");
    assert!(pushed_ban(a, "127.0.6.23"));
    assert!(f.up.hits() > 0);
}

/// `n` requests for `path` from `from`, round robin over the fleet, 30 ms apart (more than one
/// reconciliation); how many reached the upstream.
fn spread(f: &Fleet, from: &str, path: &str, n: usize, cookie: Option<&str>) -> usize {
    let before = f.up.hits();
    for i in 0..n {
        let _ = get(&f.nodes[i % 3], from, path, UA, cookie);
        std::thread::sleep(Duration::from_millis(30));
    }
    f.up.hits() - before
}

#[test]
fn a_limit_holds_across_the_fleet() {
    let f = fleet_with(
        "fleet-limit",
        "[limit]\nrequests = 1\nper_secs = 60\nburst = 5\n",
    );
    let passed = spread(&f, "127.0.6.30", "/x", 15, None);
    eprintln!("15 requests over 3 instances against a burst of 5: {passed} passed");
    assert!(
        (5..=6).contains(&passed),
        "{passed} passed (burst 5, slack 1)"
    );
}

/// `limits = "exact"` (it goes in `[fleet]`, which `rules` opens just before the limit).
const EXACT: &str = "limits = \"exact\"\n[limit]\nrequests = 1\nper_secs = 60\nburst = 5\n";

#[test]
fn an_exact_limit_holds_to_the_request_even_when_all_arrive_at_once() {
    let mut f = fleet_with("fleet-exact", EXACT);
    let before = f.up.hits();
    std::thread::scope(|s| {
        for i in 0..15 {
            let node = &f.nodes[i % 3];
            s.spawn(move || get(node, "127.0.6.50", "/x", UA, None));
        }
    });
    let passed = f.up.hits() - before;
    eprintln!("15 requests at once over 3 instances, exact, burst 5: {passed} passed");
    assert_eq!(passed, 5, "metered by the store, one bucket for the fleet");
    // The store gone: each instance's own bucket decides, within the deadline.
    f.redis.down();
    let start = Instant::now();
    assert_eq!(f.nodes[1].get("127.0.6.51", "/x").status, 200);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_clearance_budget_is_spent_across_the_fleet() {
    let f = fleet_with(
        "fleet-budget",
        &format!("{LIMIT}[clearance]\nrequests = 6\n"),
    );
    let cookie = support::earn(&f.nodes[0], "127.0.6.40", "/protected/c");
    let passed = spread(&f, "127.0.6.40", "/protected/c", 18, Some(&cookie));
    eprintln!("18 requests over 3 instances on a budget of 6: {passed} passed");
    assert!(
        (6..=7).contains(&passed),
        "{passed} passed (budget 6, slack 1)"
    );
}

#[test]
fn one_key_file_rotated_for_every_instance_keeps_clearances_passing_across_the_fleet() {
    let (_redis_dir, redis, up) = store("fleet-keys", false);
    let shared = TempDir::new("fleet-keys-file");
    let key_file = shared.0.join("secret.key");
    std::fs::write(&key_file, format!("current = \"{}\"\n", "3".repeat(64))).unwrap();
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("fleet-keys-{i}")))
        .collect();
    let how = Launch::new(up.addr)
        .env("TOLLGATE_SECRET", None)
        .arg("--secret-file")
        .arg(key_file.to_str().unwrap());
    let nodes: Vec<Tollgate> = dirs
        .iter()
        .map(|d| Tollgate::launch(bin(), &d.0, &write_rules(&d.0, &rules(&redis, LIMIT)), &how))
        .collect();
    let opens = |n: &Tollgate, from: &str, cookie: &str| {
        get(n, from, "/protected/k", UA, Some(cookie)).status == 200
    };
    let old = support::earn(&nodes[0], "127.0.6.50", "/protected/k");
    assert!(nodes.iter().all(|n| opens(n, "127.0.6.50", &old)));

    // Rotate the one file, then reload every instance.
    let out = std::process::Command::new(bin())
        .args(["rotate-secret", "--grace-secs", "600", "--secret-file"])
        .arg(&key_file)
        .env_remove("TOLLGATE_SECRET_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in &nodes {
        let before = n.metric("tollgate_reloads_total{result=\"ok\"}");
        assert!(n.proc.signal("HUP"));
        let reloaded = eventually(Duration::from_secs(5), || {
            n.metric("tollgate_reloads_total{result=\"ok\"}") > before
        });
        assert!(reloaded, "{}", n.log());
    }
    // The old key still verifies everywhere for its grace; the new one signs and verifies too.
    assert!(nodes.iter().all(|n| opens(n, "127.0.6.50", &old)));
    // A clearance signed with the new key alone (`tollgate token` on the rotated file) opens
    // every instance: each one reloaded the file.
    let rules_file = dirs[0].0.join("rules.toml");
    let new = support::cli(
        &[
            "token",
            "--ip",
            "127.0.6.51",
            "--user-agent",
            UA,
            "--rules",
            rules_file.to_str().unwrap(),
            "--secret-file",
            key_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(nodes.iter().all(|n| opens(n, "127.0.6.51", &new)));
    assert_ne!(
        std::fs::read_to_string(&key_file).unwrap(),
        format!("current = \"{}\"\n", "3".repeat(64)),
        "the file was rotated"
    );
}

#[test]
fn the_fleet_speaks_tls_to_a_store_with_a_private_ca_and_refuses_another_certificate() {
    let (_redis_dir, redis, up) = store("fleet-tls", true);
    let other_ca = TempDir::new("fleet-tls-other");
    let stranger = Redis::start_tls(&other_ca.0).unwrap(); // its CA signed nothing of `redis`'s
    let start = |tag: &str, ca: &std::path::Path| {
        let d = TempDir::new(tag);
        let with_ca = format!("[fleet]\nca_file = \"{}\"\n", ca.display());
        let text = rules(&redis, LIMIT).replacen("[fleet]\n", &with_ca, 1);
        let t = Tollgate::start(bin(), &d.0, &text, up.addr);
        (d, t)
    };
    let (_a_dir, a) = start("fleet-tls-a", &redis.ca());
    let (_b_dir, b) = start("fleet-tls-b", &redis.ca());
    let (_c_dir, c) = start("fleet-tls-c", &stranger.ca());
    for n in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(10), || n.metric("tollgate_fleet_up")
                == 1.0),
            "{}",
            n.log()
        );
    }
    flood(&a, "127.0.6.60");
    assert!(
        pushed_ban(&b, "127.0.6.60"),
        "the ban crossed the TLS store"
    );
    // A certificate from another CA is refused: that instance decides alone, and says so.
    let said = eventually(Duration::from_secs(10), || {
        c.log().contains("fleet store unreachable")
    });
    assert!(said, "{}", c.log());
    assert_eq!(c.metric("tollgate_fleet_up"), 0.0);
    assert_eq!(c.get("127.0.6.61", "/x").status, 200);
}
