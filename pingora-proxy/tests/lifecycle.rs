//! The proxy as operators live with it: hot reload, rejected reloads, bans across reload and
//! restart, the admin API, and the state bound under an address spray. Real processes only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn limit_rules(burst: u32) -> String {
    format!("[limit]\nrequests = 1\nper_secs = 60\nburst = {burst}\n[bans]\nextreme_requests = 0\nviolations = 0\n")
}

/// Statuses of `n` requests from `ip`.
fn statuses(t: &Tollgate, ip: &str, n: usize) -> Vec<u16> {
    (0..n).map(|_| t.get(ip, "/").status).collect()
}

#[test]
fn a_saved_limit_change_takes_effect_within_two_seconds() {
    let dir = TempDir::new("reload");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &limit_rules(5), up.addr);
    assert_eq!(statuses(&t, "127.0.1.1", 5), [200; 5]);
    // A client over its limit: each of its requests writes a refusal line to the log, which
    // lives in the rules file's directory, while the reload should be settling.
    assert_eq!(statuses(&t, "127.0.1.250", 6)[5], 429);

    fs::write(&t.rules_path, limit_rules(2)).unwrap();
    let saved = Instant::now();
    let mut client = 2;
    let applied = eventually(Duration::from_secs(5), || {
        client += 1;
        let refused = (0..4).all(|_| t.get("127.0.1.250", "/").status == 429);
        refused && statuses(&t, &format!("127.0.1.{client}"), 3) == [200, 200, 429]
    });
    let took = saved.elapsed();
    assert!(applied, "new limit never applied; log:\n{}", t.log());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(t.log().contains("rules reloaded"), "{}", t.log());
    assert!(t.metric("tollgate_reloads_total{result=\"ok\"}") >= 1.0);
}

#[test]
fn an_invalid_file_is_rejected_and_the_old_rules_keep_serving() {
    let dir = TempDir::new("invalid");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &limit_rules(2), up.addr);

    fs::write(
        &t.rules_path,
        "[limit]\nrequests = 1\nburst = 0\n[lists]\ndeny = [\"10.0.0/8\"]\n",
    )
    .unwrap();
    let rejected = eventually(Duration::from_secs(3), || {
        t.metric("tollgate_reloads_total{result=\"failed\"}") >= 1.0
    });
    assert!(rejected, "log:\n{}", t.log());
    let log = t.log();
    assert!(
        log.contains("rules.toml:3:9: [limit]: burst = 0 is out of range"),
        "{log}"
    );
    assert!(
        log.contains("rules.toml:5:9: [lists] deny: invalid CIDR or address \"10.0.0/8\""),
        "{log}"
    );
    assert!(log.contains("previous rules keep serving"), "{log}");
    // Old rules (burst 2) still apply, and traffic flows.
    assert_eq!(statuses(&t, "127.0.2.1", 3), [200, 200, 429]);

    // SIGHUP with the same bad file: rejected again, process alive.
    assert!(t.proc.signal("HUP"));
    let again = eventually(Duration::from_secs(3), || {
        t.metric("tollgate_reloads_total{result=\"failed\"}") >= 2.0
    });
    assert!(again, "log:\n{}", t.log());
    assert_eq!(statuses(&t, "127.0.2.2", 3), [200, 200, 429]);
}

#[test]
fn bans_survive_reload_and_restart_and_operators_can_lift_them() {
    let dir = TempDir::new("bans");
    let up = Upstream::start().unwrap();
    // Banned peers are answered (not dropped at accept), so each check below reads the reason.
    let rules = "[limit]\nenabled = false\n[bans]\nextreme_requests = 5\nextreme_window_secs = 60\nttl_secs = 600\nclose_connection = false\n";
    let mut t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    assert_eq!(statuses(&t, "127.0.3.1", 6), [200, 200, 200, 200, 200, 403]);
    assert_eq!(
        t.get("127.0.3.1", "/").header("x-tollgate-reason"),
        Some("active_ban")
    );

    // Reload (a changed file, by SIGHUP): still banned.
    fs::write(&t.rules_path, format!("{rules}# edited\n")).unwrap();
    assert!(t.proc.signal("HUP"));
    assert!(eventually(Duration::from_secs(3), || t
        .metric("tollgate_reloads_total{result=\"ok\"}")
        >= 1.0));
    assert_eq!(t.get("127.0.3.1", "/").status, 403);
    assert_eq!(
        t.metric("tollgate_requests_total{decision=\"banned\",reason=\"extreme_rate\"}"),
        1.0
    );
    assert_eq!(t.metric("tollgate_active_bans"), 1.0);
    let listed = t.admin("GET", "/bans").body;
    assert!(listed.contains("\"network\": \"127.0.3.1/32\""), "{listed}");

    // Graceful stop writes the state file; a new process on the same state dir keeps the ban.
    // The second ban is made just before SIGTERM: the periodic save runs every 5 s, so the ban
    // is in the file only if the save at shutdown works (unless a periodic save happens to fall
    // in the milliseconds between).
    assert_eq!(statuses(&t, "127.0.3.9", 6)[5], 403);
    assert!(t.proc.signal("TERM"));
    assert_eq!(
        t.proc.wait_exit(Duration::from_secs(15)),
        Some(0),
        "log:\n{}",
        t.log()
    );
    let saved = fs::read_to_string(dir.0.join("state/bans.json")).unwrap();
    assert!(saved.contains("127.0.3.1"), "{saved}");
    assert!(
        saved.contains("127.0.3.9"),
        "banned just before SIGTERM: {saved}"
    );
    let rules_path = t.rules_path.clone();
    drop(t);
    let t = Tollgate::start_with(bin(), &dir.0, &rules_path, up.addr);
    let r = t.get("127.0.3.1", "/");
    assert_eq!(
        (r.status, r.header("x-tollgate-reason")),
        (403, Some("active_ban"))
    );
    assert_eq!(t.get("127.0.3.9", "/").status, 403);
    assert_eq!(t.get("127.0.3.2", "/").status, 200);

    // Operator lifts it.
    assert_eq!(t.admin("DELETE", "/bans/127.0.3.1").status, 200);
    assert_eq!(t.admin("DELETE", "/bans/127.0.3.1").status, 404);
    assert_eq!(t.admin("DELETE", "/bans/not-an-ip").status, 400);
    assert_eq!(t.get("127.0.3.1", "/").status, 200);
}

#[test]
fn an_address_spray_stays_within_the_key_bound() {
    let dir = TempDir::new("spray");
    let up = Upstream::start().unwrap();
    let rules = "[clients]\nmax_tracked_keys = 1000\n[limit]\nrequests = 1\nper_secs = 600\nburst = 5\n[bans]\nextreme_requests = 1000\nextreme_window_secs = 600\nviolations = 0\n";
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    // The heavy client comes first, so it is the OLDEST key, but spends its whole burst: its
    // debt (TAT 5 x 600 s ahead) is larger than any sprayed key's (one request, 600 s ahead).
    // Eviction by age or at random would forget it; eviction by least debt must not.
    assert_eq!(statuses(&t, "127.8.0.1", 6), [200, 200, 200, 200, 200, 429]);
    let mut sent = 0;
    for a in 1..=12u8 {
        for b in 1..=250u8 {
            assert_eq!(t.get(&format!("127.9.{a}.{b}"), "/").status, 200);
            sent += 1;
        }
    }
    // Two counters (default limit and extreme threshold), kept side by side in one key per
    // client, capped at 1000 keys rounded up to a multiple of the 64 shards (1024).
    let tracked = t.metric("tollgate_tracked_keys");
    assert!(
        tracked <= 1024.0,
        "{tracked} keys tracked after {sent} addresses"
    );
    assert!(t.metric("tollgate_evicted_keys") >= (sent - 1024) as f64);
    assert_eq!(
        t.get("127.8.0.1", "/").status,
        429,
        "the flooding client was forgotten by the spray"
    );
}

#[test]
fn check_reports_every_error_and_exits_non_zero() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ok = std::process::Command::new(bin())
        .arg("check")
        .arg(root.join("rules/default.toml"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("default.toml: ok"));

    let bad = std::process::Command::new(bin())
        .arg("check")
        .arg(root.join("rules/testdata/bad/many-errors.toml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("7 errors in rules"), "{err}");
    assert!(
        err.contains("many-errors.toml:12:8: route \"a\": duplicate route name"),
        "{err}"
    );

    // Structural and semantic errors in one run.
    let mixed = std::process::Command::new(bin())
        .arg("check")
        .arg(root.join("rules/testdata/bad/structure.toml"))
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(err.contains("8 errors in rules"), "{err}");
    for at in [
        "structure.toml:5:1: unknown field",
        "structure.toml:6:12: invalid type",
    ] {
        assert!(err.contains(at), "{at} in {err}");
    }

    // `run` refuses to start on an invalid file, with the same messages.
    let run = std::process::Command::new(bin())
        .args(["run", "--rules"])
        .arg(root.join("rules/testdata/bad/unknown-key.toml"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr)
        .contains("unknown-key.toml:3:1: unknown field `bursts`"));

    for args in [&["--help"][..], &["run", "--help"], &["check", "--help"]] {
        assert!(std::process::Command::new(bin())
            .args(args)
            .output()
            .unwrap()
            .status
            .success());
    }
}

/// Sends raw request bytes from `from` and returns (status, body).
fn raw_request(t: &Tollgate, from: &str, bytes: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = tollgate_testkit::http::connect(from.parse().unwrap(), t.listen).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn a_garbled_forwarded_for_cannot_pick_an_identity_and_forged_headers_are_stripped() {
    let dir = TempDir::new("xff");
    let up = Upstream::start().unwrap();
    let rules = "[clients]\ntrusted_proxies = [\"127.0.4.1/32\"]\n[lists]\nallow = [\"6.6.6.6/32\"]\n[limit]\nrequests = 1\nper_secs = 60\nburst = 1\n";
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    // Through the trusted proxy, a non-UTF-8 hop plus a forged X-Real-IP of an allow-listed
    // address: the client is the hop the proxy appended, so it is limited, not allow-listed.
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \xff, 203.0.113.9\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(&t, "127.0.4.1", req).0, 200);
    assert_eq!(
        up.last_forwarded_for().as_deref(),
        Some("\u{fffd}, 203.0.113.9, 127.0.4.1")
    );
    assert_eq!(raw_request(&t, "127.0.4.1", req).0, 429);

    // From an untrusted client, forged identity headers never reach the upstream.
    let forged = b"GET /echo HTTP/1.1\r\nHost: x\r\nForwarded: for=6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n";
    let (status, body) = raw_request(&t, "127.0.4.2", forged);
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.last_forwarded_for().as_deref(), Some("127.0.4.2"));
    assert_eq!(up.last_header("forwarded"), None);
    assert_eq!(up.last_header("true-client-ip"), None);
    assert_eq!(up.last_header("x-real-ip").as_deref(), Some("127.0.4.2"));
}

/// Observe mode and `mode = "off"` both let a deny-listed client through; only observe mode
/// decides, and says so in its log line.
#[test]
fn observe_mode_logs_what_it_would_refuse_and_off_decides_nothing() {
    let up = Upstream::start().unwrap();
    let rules = |mode: &str| format!("mode = \"{mode}\"\n[lists]\ndeny = [\"127.0.4.1\"]\n");
    let lines = |t: &Tollgate| -> Vec<String> {
        let log = t.log();
        let mine = log.lines().filter(|l| l.contains("client=127.0.4.1 "));
        mine.map(String::from).collect()
    };
    for mode in ["observe", "off"] {
        let dir = TempDir::new(&format!("mode-{mode}"));
        let t = Tollgate::start(bin(), &dir.0, &rules(mode), up.addr);
        let before = up.hits();
        let r = t.get("127.0.4.1", "/");
        assert_eq!(
            (r.status, r.header("x-tollgate-reason")),
            (200, None),
            "{mode}"
        );
        assert_eq!(up.hits(), before + 1, "{mode}: the upstream answered");
        if mode == "observe" {
            let seen = eventually(Duration::from_secs(2), || !lines(&t).is_empty());
            assert!(seen, "observe mode logged nothing:\n{}", t.log());
            let line = &lines(&t)[0];
            assert!(
                line.contains("observed=true") && line.contains("reason=\"deny_list\""),
                "{line}"
            );
        } else {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(
                lines(&t),
                Vec::<String>::new(),
                "mode = off decides nothing"
            );
        }
    }
}

/// Reading the rules file (a backup job, `cat`, `tollgate check`) is no change: the watcher
/// ignores access events, so reads start no reload, let alone a loop of them.
#[test]
fn reading_or_rewriting_the_same_rules_reloads_nothing() {
    let dir = TempDir::new("read-only");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &limit_rules(5), up.addr);
    let reloads = |t: &Tollgate| t.log().matches("rules reloaded").count();
    for _ in 0..3 {
        fs::read_to_string(&t.rules_path).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let check = std::process::Command::new(bin())
        .arg("check")
        .arg(&t.rules_path)
        .output()
        .unwrap();
    assert!(check.status.success());
    // Nor do writes that leave the bytes as they were: touch, or a backup job's rewrite.
    let same = fs::read(&t.rules_path).unwrap();
    fs::write(&t.rules_path, &same).unwrap();
    std::process::Command::new("touch")
        .arg(&t.rules_path)
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(
        reloads(&t),
        0,
        "reads or same-byte writes reloaded:\n{}",
        t.log()
    );
    // A real change still reloads, exactly once.
    fs::write(&t.rules_path, limit_rules(4)).unwrap();
    assert!(eventually(Duration::from_secs(3), || reloads(&t) >= 1));
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(reloads(&t), 1, "one save, one reload:\n{}", t.log());
}
