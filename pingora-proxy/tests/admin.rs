//! The admin listener refuses what a rebinding page or a cross-site form can send: a foreign
//! `Host` gets 421 on every route, and mutating routes need the bearer token from the 0600 file
//! in the state directory (or the configured one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Three requests in ten seconds ban; banned peers are answered, not dropped at accept.
const BAN_RULES: &str = "[limit]\nrequests = 1000\nburst = 1000\n[bans]\nextreme_requests = 3\n\
                         extreme_window_secs = 10\nviolations = 0\nclose_connection = false\n";

fn ban(t: &Tollgate, client: &str) {
    let statuses: Vec<u16> = (0..4).map(|_| t.get(client, "/").status).collect();
    assert_eq!(statuses, [200, 200, 200, 403], "{}", t.log());
}

#[test]
fn a_foreign_host_gets_421_on_every_route_and_changes_nothing() {
    let dir = TempDir::new("admin-host");
    let up = Upstream::start().unwrap();
    let rules = format!("[server]\nadmin_hosts = [\"tollgate.internal\"]\n{BAN_RULES}");
    let t = Tollgate::start(bin(), &dir.0, &rules, up.addr);
    ban(&t, "127.0.11.1");
    let bearer = format!("Bearer {}", t.admin_token());
    let rebound = [
        ("Host", "rebind.attacker.example"),
        ("Authorization", &bearer),
    ];
    for (method, path) in [
        ("GET", "/bans"),
        ("GET", "/metrics"),
        ("DELETE", "/bans/127.0.11.1"),
        ("POST", "/reload"),
    ] {
        let r = t.admin_with(method, path, &rebound);
        assert_eq!(r.status, 421, "{method} {path}: {r:?}");
    }
    assert!(t.admin("GET", "/bans").body.contains("127.0.11.1"));
    let admin_port = t.admin.port();
    for host in [
        format!("127.0.0.1:{admin_port}"),
        format!("localhost:{admin_port}"),
        "LOCALHOST".to_string(),
        "[::1]:9180".to_string(),
        "tollgate.internal".to_string(),
        format!("Tollgate.Internal:{admin_port}"),
    ] {
        let r = t.admin_with("GET", "/healthz", &[("Host", &host)]);
        assert_eq!(r.status, 200, "Host: {host}");
    }
    for host in ["tollgate.internal.attacker.example", "127.0.0.1.nip.io", ""] {
        let r = t.admin_with("GET", "/healthz", &[("Host", host)]);
        assert_eq!(r.status, 421, "Host: {host:?}");
    }
}

#[test]
fn mutating_routes_need_the_token_and_a_cross_site_post_is_refused() {
    let dir = TempDir::new("admin-token");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, BAN_RULES, up.addr);
    ban(&t, "127.0.11.2");
    let cross_site = [
        ("Origin", "https://attacker.example"),
        ("Content-Type", "text/plain"),
    ];
    assert_eq!(t.admin_with("POST", "/reload", &cross_site).status, 401);
    let reloads = t.metric("tollgate_reloads_total{result=\"ok\"}");
    assert_eq!(reloads, 0.0, "a refused POST /reload reloaded");
    for auth in [
        "",
        "Bearer ",
        "Bearer wrong-token-of-enough-length",
        "Basic YWRtaW4=",
    ] {
        let r = t.admin_with("DELETE", "/bans/127.0.11.2", &[("Authorization", auth)]);
        assert_eq!(r.status, 401, "Authorization: {auth:?}");
        assert!(r.header("www-authenticate").is_some(), "{r:?}");
    }
    assert_eq!(t.get("127.0.11.2", "/").status, 403, "still banned");
    // Reading needs no token: scrapers and `curl /bans` keep working.
    assert_eq!(t.admin_with("GET", "/bans", &[]).status, 200);
    assert_eq!(t.admin("DELETE", "/bans/127.0.11.2").status, 200);
    assert!(!t.admin("GET", "/bans").body.contains("127.0.11.2"));
    assert_eq!(t.admin("POST", "/reload").status, 200);

    let file = dir.0.join("state/admin.token");
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = t.admin_token();
    assert_eq!(token.len(), 64, "{token}");
    let rules = t.rules_path.clone();
    drop(t);
    let again = Tollgate::start_with(bin(), &dir.0, &rules, up.addr);
    assert_eq!(again.admin_token(), token, "a restart keeps the token");
}

#[test]
fn a_configured_token_file_is_used_and_a_short_one_refuses_to_start() {
    let dir = TempDir::new("admin-file");
    let up = Upstream::start().unwrap();
    let token = "operator-chosen-token-0123456789";
    fs::write(dir.0.join("ops.token"), format!("{token}\n")).unwrap();
    let rules = write_rules(
        &dir.0,
        &format!("[server]\nadmin_token_file = \"ops.token\"\n{BAN_RULES}"),
    );
    let t = Tollgate::launch(bin(), &dir.0, &rules, &Launch::new(up.addr));
    let bearer = format!("Bearer {token}");
    let r = t.admin_with("POST", "/reload", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!dir.0.join("state/admin.token").exists());
    drop(t);

    fs::write(dir.0.join("ops.token"), "short\n").unwrap();
    let out = std::process::Command::new(bin())
        .args(["run", "--rules"])
        .arg(&rules)
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .env("TOLLGATE_SECRET", tollgate_testkit::TEST_SECRET_HEX)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shorter than 16"), "{stderr}");
}
