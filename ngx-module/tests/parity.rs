//! What the module does beside deciding, as the proxy does, in a real nginx: the decision in
//! the access log through `$tollgate_decision`, `$tollgate_reason`, `$tollgate_score` and
//! `$tollgate_signals`; the clearance cookie taken out before `proxy_pass`; and upstream errors,
//! seen in the log phase, engaging under-attack mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::time::Duration;

use tollgate_testkit::http::{self, Response};
use tollgate_testkit::nginx::{assert_fresh, minted, profile_dir, Nginx, NginxBuild, NginxConf};
use tollgate_testkit::process::{eventually, DeadPort};
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn build() -> NginxBuild {
    NginxBuild::beside_this_test(Path::new(env!("TOLLGATE_NGINX_BUILD_DIR")))
}

fn get(n: &Nginx, from: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.parse().unwrap(), n.listen, "GET", path, headers).unwrap()
}

/// An access log of the client address, the four variables and the Cookie header as the
/// upstream got it.
fn logged(dir: &Path) -> NginxConf {
    NginxConf {
        http_extra: "  log_format tg '$remote_addr $tollgate_decision $tollgate_reason \
                     $tollgate_score $tollgate_signals [$http_cookie]';\n"
            .into(),
        server_extra: format!(
            "    access_log {}/logs/access.log tg;\n    location /off/ {{ tollgate off; proxy_pass http://backend; }}",
            dir.display()
        ),
        ..NginxConf::default()
    }
}

/// The access-log lines of `client`, once there are `n`.
fn lines_of(dir: &Path, client: &str, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let all = eventually(Duration::from_secs(5), || {
        let log = std::fs::read_to_string(dir.join("logs/access.log")).unwrap_or_default();
        let prefix = format!("{client} ");
        lines = log
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(String::from)
            .collect();
        lines.len() >= n
    });
    assert!(all, "{n} lines of {client} expected: {lines:?}");
    lines
}

const RULES: &str =
    "[[route]]\nname = \"p\"\npath_prefix = \"/protected\"\naction = \"challenge\"\n";

#[test]
fn the_access_log_shows_the_decision_and_the_upstream_never_gets_the_clearance() {
    let dir = TempDir::new("ngx-vars");
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, RULES, up.addr, &logged(&dir.0));
    let (from, ua) = ("127.0.9.10", "vars-test");
    assert_eq!(
        get(&n, from, "/protected/a", &[("User-Agent", ua)]).status,
        403
    );
    let clearance = minted(&n.rules_path, from, ua);
    let both = format!("theme=dark; {clearance}");
    for cookie in [&both, &clearance] {
        let r = get(
            &n,
            from,
            "/protected/b",
            &[("User-Agent", ua), ("Cookie", cookie)],
        );
        assert_eq!(r.status, 200, "{r:?}");
        let sent = up.last_header("cookie").unwrap_or_default();
        assert!(!sent.contains("tollgate"), "the upstream got {sent:?}");
        assert_eq!(sent, if cookie == &both { "theme=dark" } else { "" });
    }
    // Without [score] there is no score: `-` (the next test reads one).
    let lines = lines_of(&dir.0, from, 3);
    let rest = |l: &str| {
        l.split_once(' ')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    };
    // Two workers write the log: lines of back-to-back requests may land in either order.
    let mut seen: Vec<String> = lines.iter().map(|l| rest(l)).collect();
    seen.sort();
    let want = [
        "allow cleared - - []",
        "allow cleared - - [theme=dark]",
        "challenge route_challenge - - [-]",
    ];
    assert_eq!(seen, want);
    // A location tollgate is off in decides nothing: the variables are empty.
    assert_eq!(get(&n, "127.0.9.11", "/off/x", &[]).status, 200);
    assert_eq!(rest(&lines_of(&dir.0, "127.0.9.11", 1)[0]), "- - - - [-]");
}

/// Under-attack mode at five upstream errors a second; the signal shows in `$tollgate_signals`.
const ATTACK_RULES: &str = "[limit]\nenabled = false\n[bans]\nenabled = false\n[score]\n\
                            [under_attack]\nrequests_per_sec = 100000\n\
                            upstream_errors_per_sec = 5\ncooldown_secs = 30\n";

#[test]
fn upstream_errors_seen_in_the_log_phase_engage_under_attack_mode() {
    let dir = TempDir::new("ngx-upstream-errors");
    // Nothing listens here, and the port stays ours: every proxied request fails (502).
    let dead = DeadPort::new().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, ATTACK_RULES, dead.addr, &logged(&dir.0));
    let calm = line_of_one(&n, &dir.0, "127.0.9.20");
    assert!(calm.starts_with("127.0.9.20 allow within_limit "), "{calm}");
    let score = calm.split(' ').nth(3).unwrap_or_default();
    assert!(score.parse::<i32>().is_ok(), "a score: {calm}");
    assert!(
        calm.contains("connection_close") && !calm.contains("under_attack"),
        "{calm}"
    );
    for i in 0..20 {
        assert_eq!(
            get(&n, &format!("127.0.9.{}", 30 + i), "/", &[]).status,
            502
        );
    }
    // The meter rolls once a second: within a few, a fresh client's score carries the signal.
    let mut next = 60..120;
    let mut seen = String::new();
    let engaged = eventually(Duration::from_secs(5), || {
        let client = format!("127.0.9.{}", next.next().unwrap_or(120));
        seen = line_of_one(&n, &dir.0, &client);
        seen.contains("under_attack")
    });
    assert!(engaged, "{seen}");
}

/// The log line of one request from `client` (a fresh client each time).
fn line_of_one(n: &Nginx, dir: &Path, client: &str) -> String {
    assert_eq!(get(n, client, "/", &[]).status, 502);
    lines_of(dir, client, 1).remove(0)
}

/// `/metrics` from the zone: `tollgate_metrics` in a location of its own.
fn with_metrics() -> NginxConf {
    NginxConf {
        server_extra: "    location = /metrics { tollgate off; tollgate_metrics; }".into(),
        ..NginxConf::default()
    }
}

/// One series' value in Prometheus text.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_every_workers_decisions_by_reason() {
    let dir = TempDir::new("ngx-metrics");
    let up = Upstream::start().unwrap();
    let rules = format!("[score]\n{RULES}");
    let n = Nginx::start_conf(&build(), &dir.0, &rules, up.addr, &with_metrics());
    // One connection each, from distinct addresses: reuseport spreads them over both workers.
    for i in 0..6 {
        let from = format!("127.0.9.{}", 70 + i);
        assert_eq!(get(&n, &from, "/protected/m", &[]).status, 403);
    }
    for i in 0..4 {
        let from = format!("127.0.9.{}", 80 + i);
        assert_eq!(get(&n, &from, "/open", &[]).status, 200);
    }
    let m = get(&n, "127.0.9.90", "/metrics", &[]);
    assert_eq!(m.status, 200, "{m:?}");
    assert!(m
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let t = &m.body;
    let challenged = r#"tollgate_requests_total{decision="challenge",reason="route_challenge"}"#;
    assert_eq!(series(t, challenged), Some(6.0), "{t}");
    let allowed = r#"tollgate_requests_total{decision="allow",reason="within_limit"}"#;
    assert_eq!(series(t, allowed), Some(4.0), "{t}");
    assert_eq!(series(t, "tollgate_score_count"), Some(10.0), "{t}");
    let closed = r#"tollgate_signals_total{signal="connection_close"}"#;
    assert_eq!(series(t, closed), Some(10.0), "{t}");
    assert_eq!(series(t, "tollgate_under_attack"), Some(0.0), "{t}");
    assert_eq!(series(t, "tollgate_active_bans"), Some(0.0), "{t}");
    assert!(series(t, r#"tollgate_zone_slots{table="counters"}"#).unwrap_or(0.0) > 1000.0);
    assert!(series(t, r#"tollgate_zone_used{table="counters"}"#).unwrap_or(0.0) >= 10.0);
}

/// Every `tollgate_*` name in the dashboard's queries (`expr` and variable `query` fields).
fn dashboard_series() -> Vec<String> {
    let text = include_str!("../../docs/grafana-dashboard.json");
    let dash: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut queries = Vec::new();
    collect_queries(&dash, &mut queries);
    assert!(queries.len() >= 9, "{queries:?}");
    let mut names: Vec<String> = queries
        .iter()
        .flat_map(|q| q.match_indices("tollgate_").map(|(i, _)| &q[i..]))
        .map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '_'));
            rest[..end.unwrap_or(rest.len())].to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn collect_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("expr" | "query", Some(q)) => out.push(q.to_string()),
                    _ => collect_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

fn missing(metrics: &str, names: &[String]) -> Vec<String> {
    let has = |n: &str| {
        metrics.lines().any(|l| {
            l.strip_prefix(n)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
    };
    names.iter().filter(|n| !has(n)).cloned().collect()
}

#[test]
fn the_grafana_dashboard_queries_only_series_both_front_ends_serve() {
    let names = dashboard_series();
    assert!(names.len() >= 6, "{names:?}");
    let dir = TempDir::new("ngx-dashboard");
    let up = Upstream::start().unwrap();
    let rules = format!("[score]\n{RULES}");
    let n = Nginx::start_conf(&build(), &dir.0, &rules, up.addr, &with_metrics());
    let proxy_dir = TempDir::new("proxy-dashboard");
    let bin = profile_dir().join("tollgate");
    assert_fresh(&bin, "tollgate-proxy");
    let t = Tollgate::start(&bin, &proxy_dir.0, &rules, up.addr);
    // Traffic both front ends decide alike, so every labelled series the dashboard reads exists.
    for (path, status) in [("/protected/d", 403), ("/open", 200)] {
        assert_eq!(
            get(&n, "127.0.9.100", path, &[]).status,
            status,
            "nginx {path}"
        );
        assert_eq!(t.get("127.0.9.101", path).status, status, "proxy {path}");
    }
    let nginx = get(&n, "127.0.9.102", "/metrics", &[]).body;
    assert_eq!(
        missing(&nginx, &names),
        Vec::<String>::new(),
        "nginx:\n{nginx}"
    );
    let proxy = t.admin("GET", "/metrics").body;
    assert_eq!(
        missing(&proxy, &names),
        Vec::<String>::new(),
        "proxy:\n{proxy}"
    );
}

const SCORED: &str = "[score]\n[challenge]\ndifficulty = 12\n[[route]]\nname = \"p\"\npath_prefix = \"/protected\"\naction = \"challenge\"\n";

/// The rhythm rides in the zone's shared slot: a real `wget` loop with a fixed `sleep`, spread
/// over both workers, shows `fixed_interval` from its sixth request, as on the proxy.
#[test]
fn a_wget_loop_shows_fixed_interval_through_the_shared_zone() {
    let dir = TempDir::new("ngx-rhythm");
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, SCORED, up.addr, &logged(&dir.0));
    let url = format!("http://{}/protected/feed", n.listen);
    let script = format!(
        "for i in $(seq 8); do wget -q --tries=1 --timeout=5 --bind-address=127.0.9.40 \
         -O /dev/null '{url}'; sleep 1; done; true"
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash and wget are installed");
    assert!(out.status.success(), "{out:?}");
    let lines = lines_of(&dir.0, "127.0.9.40", 8);
    let fixed = lines
        .iter()
        .filter(|l| l.contains("fixed_interval"))
        .count();
    assert!((1..=3).contains(&fixed), "requests 6 to 8 only: {lines:#?}");
}

/// The core judges the probe result the module passes on: one copied from another challenge
/// is refused with `probe_forged`, the challenge's own passes.
#[test]
fn a_probe_result_copied_from_another_challenge_is_refused_by_nginx_too() {
    use tollgate_testkit::challenge::{answer, chromium_probe_result, verify_path};
    let dir = TempDir::new("ngx-probes");
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, SCORED, up.addr, &logged(&dir.0));
    let (from, ua) = ("127.0.9.41", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36");
    let offer = || {
        let r = get(
            &n,
            from,
            "/.tollgate/challenge?return=/protected/a",
            &[("User-Agent", ua)],
        );
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()
    };
    let (first, second) = (offer(), offer());
    let submit = |o: &serde_json::Value, result: &str| {
        let path = verify_path(o["token"].as_str().unwrap(), answer(o), "/protected/a");
        let path = format!("{path}&wd=0&hc=8&vis=visible&ms=900&pr={result}");
        get(&n, from, &path, &[("User-Agent", ua)])
    };
    let copied = submit(&second, &chromium_probe_result(&first));
    assert_eq!(copied.status, 403, "{copied:?}");
    assert_eq!(copied.header("x-tollgate-reason"), Some("score_too_low"));
    let own = submit(&first, &chromium_probe_result(&first));
    assert_eq!(own.status, 303, "{own:?}");
    let lines = lines_of(&dir.0, from, 4);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("score_too_low") && l.contains("probe_forged")),
        "{lines:#?}"
    );
}
