//! The operations section of the README against a real process: banned clients' connections,
//! list-file reloads and their log line, graceful stop with a request in flight, the periodic
//! ban save, the metrics and log formats operators read, and round-robin upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_testkit::http::{self, Conn};
use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{log_field, write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Three requests in ten seconds ban; no rate limit gets in the way.
fn ban_rules(close_connection: bool) -> String {
    format!(
        "[limit]\nrequests = 1000\nburst = 1000\n[bans]\nextreme_requests = 3\n\
         extreme_window_secs = 10\nviolations = 0\nclose_connection = {close_connection}\n"
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Bans `client` by crossing the extreme-rate threshold.
fn ban(t: &Tollgate, client: &str) {
    let statuses: Vec<u16> = (0..4).map(|_| t.get(client, "/").status).collect();
    assert_eq!(statuses, [200, 200, 200, 403], "{}", t.log());
}

#[test]
fn a_banned_client_is_refused_and_its_connection_closed_unless_configured_otherwise() {
    for close in [true, false] {
        let dir = TempDir::new("close");
        let up = Upstream::start().unwrap();
        let t = Tollgate::start(bin(), &dir.0, &ban_rules(close), up.addr);
        let client = "127.0.4.1";
        ban(&t, client);
        let mut conn = Conn::open(ip(client), t.listen).unwrap();
        if close {
            // Dropped at accept: no answer at all (connections.rs covers the metric).
            assert!(conn.closed_by_peer(Duration::from_secs(2)));
        } else {
            let r = conn.send("/", &[]).unwrap();
            assert_eq!(
                (r.status, r.header("x-tollgate-reason")),
                (403, Some("active_ban"))
            );
            assert!(r.header("retry-after").is_some(), "{r:?}");
            assert!(!conn.closed_by_peer(Duration::from_secs(1)));
            let again = conn.send("/", &[]).unwrap();
            assert_eq!(again.header("x-tollgate-reason"), Some("active_ban"));
        }
        // A client in good standing keeps its keep-alive connection.
        let mut good = Conn::open(ip("127.0.4.2"), t.listen).unwrap();
        assert_eq!(good.send("/", &[]).unwrap().status, 200);
        assert_eq!(good.send("/", &[]).unwrap().status, 200);
        assert_eq!(up.hits(), 5);
    }
}

#[test]
fn saving_a_list_file_reloads_and_the_log_says_what_changed() {
    let dir = TempDir::new("listfile");
    let up = Upstream::start().unwrap();
    fs::write(dir.0.join("deny.txt"), "# nobody yet\n").unwrap();
    let rules = "[lists]\ndeny_files = [\"deny.txt\"]\n";
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    let client = "127.0.4.10";
    assert_eq!(t.get(client, "/").status, 200);

    fs::write(dir.0.join("deny.txt"), "# one\n127.0.4.10\n").unwrap();
    let saved = Instant::now();
    let denied = eventually(Duration::from_secs(5), || {
        t.get(client, "/").header("x-tollgate-reason") == Some("deny_list")
    });
    assert!(denied, "list change never applied; log:\n{}", t.log());
    assert!(
        saved.elapsed() < Duration::from_secs(2),
        "{:?}",
        saved.elapsed()
    );
    let log = t.log();
    let line = log
        .lines()
        .find(|l| l.contains("rules reloaded"))
        .unwrap_or_else(|| panic!("no reload line:\n{log}"));
    assert!(
        line.contains("deny list ranges: 0 -> 1"),
        "the reload line names the change: {line}"
    );
    assert_eq!(t.get("127.0.4.11", "/").status, 200, "others still pass");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let dir = TempDir::new("grace");
    let up = Upstream::start().unwrap();
    let rules = write_rules(&dir.0, "");
    let how = Launch::new(up.addr).arg("--grace-secs").arg("5");
    let mut t = Tollgate::launch(bin(), &dir.0, &rules, &how);
    let to = t.listen;
    let in_flight = thread::spawn(move || http::get(ip("127.0.4.20"), to, "/slow/1500"));
    assert!(eventually(Duration::from_secs(5), || up.hits() == 1));
    assert!(t.proc.signal("TERM"));
    let refused_new = eventually(Duration::from_secs(3), || {
        http::connect(ip("127.0.4.21"), to).is_err()
    });
    assert!(refused_new, "still accepting after SIGTERM");
    let r = in_flight
        .join()
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "upstream saw /slow/1500 xff=127.0.4.20\n")
    );
    assert_eq!(
        t.proc.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        t.log()
    );
}

#[test]
fn bans_are_saved_every_five_seconds_while_running() {
    let dir = TempDir::new("periodic");
    let up = Upstream::start().unwrap();
    let mut t = Tollgate::start(bin(), &dir.0, &ban_rules(true), up.addr);
    let file = dir.0.join("state/bans.json");
    let banned_at = Instant::now();
    ban(&t, "127.0.4.30");
    let saved = eventually(Duration::from_secs(7), || {
        fs::read_to_string(&file).is_ok_and(|s| s.contains("127.0.4.30"))
    });
    assert!(
        saved,
        "not saved within 7 s: {:?}",
        fs::read_to_string(&file)
    );
    assert!(banned_at.elapsed() <= Duration::from_millis(6500));
    assert!(t.proc.child.try_wait().unwrap().is_none(), "still running");
}

#[test]
fn metrics_count_decisions_ban_records_and_suppressed_log_lines() {
    let dir = TempDir::new("metrics");
    let up = Upstream::start().unwrap();
    let rules = write_rules(
        &dir.0,
        "[limit]\nrequests = 1\nper_secs = 60\nburst = 2\n[bans]\nextreme_requests = 0\nviolations = 4\nclose_connection = false\n",
    );
    let how = Launch::new(up.addr).arg("--log-refusals-per-sec").arg("2");
    let t = Tollgate::launch(bin(), &dir.0, &rules, &how);
    let client = "127.0.4.40";
    let statuses: Vec<u16> = (0..10).map(|_| t.get(client, "/").status).collect();
    // Two pass, four are limited, the fifth refusal bans, the rest meet the ban.
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 403, 403, 403, 403]);
    assert_eq!(t.metric("tollgate_decision_seconds_count"), 10.0);
    assert_eq!(t.metric("tollgate_ban_records"), 1.0);
    assert_eq!(t.metric("tollgate_active_bans"), 1.0);
    // Eight refusals: each one logged or counted as suppressed, at most two a second logged.
    let counted = eventually(Duration::from_secs(3), || {
        let logged = t.log().matches(&format!("client={client} ")).count() as f64;
        logged + t.metric("tollgate_log_lines_suppressed_total") == 8.0
    });
    assert!(counted, "{}", t.log());
    assert!(t.metric("tollgate_log_lines_suppressed_total") >= 1.0);
    let summary = "suppressed by the log budget in the last second";
    assert!(eventually(Duration::from_secs(3), || t
        .log()
        .contains(summary)));
}

#[test]
fn json_logs_are_one_object_per_line_with_the_refusals_fields() {
    let dir = TempDir::new("json");
    let up = Upstream::start().unwrap();
    let rules = write_rules(&dir.0, "[lists]\ndeny = [\"127.0.4.50\"]\n");
    let how = Launch::new(up.addr).arg("--log-format").arg("json");
    let t = Tollgate::launch(bin(), &dir.0, &rules, &how);
    assert_eq!(t.get("127.0.4.50", "/nope").status, 403);
    let mut refusal = None;
    assert!(eventually(Duration::from_secs(3), || {
        let lines: Vec<Value> = t
            .log()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        refusal = lines.into_iter().find(|v| v["client"] == "127.0.4.50");
        refusal.is_some()
    }));
    let v = refusal.unwrap();
    for (field, want) in [
        ("decision", "deny"),
        ("reason", "deny_list"),
        ("method", "GET"),
        ("path", "/nope"),
        ("level", "INFO"),
    ] {
        assert_eq!(v[field], want, "{field} in {v}");
    }
    assert!(v["timestamp"].is_string() && v["key"].is_string(), "{v}");
}

#[test]
fn requests_go_round_robin_across_two_upstreams() {
    let dir = TempDir::new("roundrobin");
    let (a, b) = (Upstream::start().unwrap(), Upstream::start().unwrap());
    let rules = write_rules(&dir.0, "");
    let t = Tollgate::launch(bin(), &dir.0, &rules, &Launch::new(a.addr).upstream(b.addr));
    for i in 0..6 {
        assert_eq!(t.get(&format!("127.0.4.{}", 60 + i), "/").status, 200);
    }
    assert_eq!((a.hits(), b.hits()), (3, 3));
}

#[test]
fn the_default_rules_serve_the_demo_backend_behind_the_toll() {
    let dir = TempDir::new("demo");
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default.toml");
    let how = Launch::without_upstream().tls();
    let t = Tollgate::launch(bin(), &dir.0, &default, &how);
    // The whole site is behind the toll; what the default rules exempt comes from the demo.
    let home = t.get("127.0.4.70", "/");
    assert_eq!(
        (home.status, home.header("x-tollgate-reason")),
        (403, Some("route_challenge"))
    );
    let robots = t.get("127.0.4.70", "/robots.txt");
    assert_eq!(robots.status, 200, "{robots:?}");
    assert!(
        robots.body.contains("You passed tollgate"),
        "{}",
        robots.body
    );
    assert!(
        robots.body.contains("X-Forwarded-For: 127.0.4.70"),
        "{}",
        robots.body
    );
    let line = t.log();
    let running = line
        .lines()
        .find(|l| l.contains("tollgate running"))
        .unwrap();
    assert_eq!(log_field(running, "demo_backend"), "true");
}
