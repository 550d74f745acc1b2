//! The proof-of-work toll against a real proxy and a real upstream: headless Chromium pays it,
//! curl never gets past it, `tollgate solve` pays it natively, and every kind of bad answer or
//! token is refused, including one answer submitted 50 times at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::IpAddr;
use std::process::Command;
use std::sync::{Arc, Barrier};

use tollgate_core::CLEARANCE_COOKIE as COOKIE;
use tollgate_core::{
    issue_challenge, solve_parallel, Binding, ClientKey, IssueParams, Keyring, Puzzle, Work,
};
use tollgate_testkit::browser;
use tollgate_testkit::challenge::{answer, forged_cookie, verify_path, wrong_answer};
use tollgate_testkit::http::{self, Response};
use tollgate_testkit::tollgate::{log_field, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;
use tollgate_testkit::TEST_SECRET_HEX;

mod support;

use support::*;

#[test]
fn curl_gets_the_challenge_page_and_never_the_backend() {
    let dir = TempDir::new("curl");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(12), up.addr);
    let url = format!("http://{}/protected/data", t.listen);
    for lang in ["en-US", "zh-CN,zh;q=0.9"] {
        for _ in 0..10 {
            let out = Command::new("curl")
                .args(["-s", "-i", "-H", &format!("Accept-Language: {lang}"), &url])
                .output()
                .expect("curl is installed");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.starts_with("HTTP/1.1 403"), "{text}");
            assert!(
                text.contains("x-tollgate-reason: route_challenge"),
                "{text}"
            );
            assert!(
                text.contains("content-security-policy: default-src 'none'"),
                "{text}"
            );
            let noscript = if lang.starts_with("zh") {
                "此检查需要 JavaScript"
            } else {
                "This check needs JavaScript"
            };
            assert!(text.contains(noscript), "{text}");
        }
    }
    assert_eq!(up.hits(), 0, "curl reached the backend");
}

#[test]
fn native_answers_pass_once_and_every_bad_answer_or_token_is_refused() {
    let dir = TempDir::new("verify");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(12), up.addr);
    let (me, other) = ("127.0.3.1", "127.0.3.2");
    for path in ["/protected/a", "/login"] {
        let o = offer(&t, me, UA, path);
        let token = o["token"].as_str().unwrap();
        let n = answer(&o);
        let good = verify_path(token, n, path);
        let refused = |from: &str, ua: &str, p: &str, want: &str| {
            let r = get(&t, from, p, ua, None);
            assert_eq!(
                (r.status, reason(&r)),
                (403, want),
                "{p} from {from} {ua}: {r:?}"
            );
        };
        let r = get(&t, me, &good, UA, None);
        assert_eq!((r.status, reason(&r)), (303, "challenge_passed"), "{r:?}");
        assert_eq!(r.header("location"), Some(path));
        let cookie = clearance_of(&r);
        refused(me, UA, &good, "challenge_replayed");
        refused(other, UA, &good, "challenge_invalid");
        refused(me, "curl/8.0", &good, "challenge_invalid");
        let tampered = token.replacen('A', "B", 1);
        refused(
            me,
            UA,
            &verify_path(&tampered, n, path),
            "challenge_invalid",
        );
        let wrong = wrong_answer(&o, n);
        refused(me, UA, &verify_path(token, wrong, path), "challenge_failed");

        let before = up.hits();
        let ok = get(&t, me, path, UA, Some(&cookie));
        assert_eq!((ok.status, reason(&ok)), (200, "-"), "{ok:?}");
        assert_eq!(up.hits(), before + 1);
        for (from, ua) in [(other, UA), (me, "curl/8.0")] {
            let r = get(&t, from, path, ua, Some(&cookie));
            assert_eq!((r.status, reason(&r)), (403, "clearance_invalid"), "{r:?}");
        }
        assert_eq!(up.hits(), before + 1, "a refused token reached the backend");
    }
}

#[test]
fn an_expired_challenge_gets_a_fresh_one() {
    let dir = TempDir::new("expired");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(8), up.addr);
    let keys = Keyring::from_hex(TEST_SECRET_HEX).unwrap();
    let ip: IpAddr = "127.0.3.9".parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = issue_challenge(
        &keys,
        &IssueParams {
            puzzle: Puzzle::Hashcash { bits: 8 },
            route: "hashcash",
            binding: Binding::new(&ClientKey::new(ip, 32, 64), Some(UA)),
            now_secs: now - 600,
            ttl_secs: 300,
            serial: [7; 16],
            signals: 0,
        },
    );
    let n = solve_parallel(&Work::from_offer(&old).unwrap(), 1)
        .unwrap()
        .0;
    let r = get(
        &t,
        "127.0.3.9",
        &verify_path(&old.token, n, "/protected/x"),
        UA,
        None,
    );
    assert_eq!((r.status, reason(&r)), (403, "challenge_expired"), "{r:?}");
    assert!(
        r.body.contains("tollgate-data"),
        "a fresh challenge page: {}",
        r.body
    );
    assert_eq!(up.hits(), 0);
}

#[test]
fn fifty_concurrent_submissions_of_one_answer_succeed_exactly_once() {
    let dir = TempDir::new("race");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(12), up.addr);
    let me = "127.0.3.20";
    let o = offer(&t, me, UA, "/protected/race");
    let path = solved(&o, "/protected/race");
    let barrier = Arc::new(Barrier::new(50));
    let listen = t.listen;
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let (barrier, path) = (barrier.clone(), path.clone());
            std::thread::spawn(move || {
                let mut s = http::connect(me.parse().unwrap(), listen).unwrap();
                barrier.wait();
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\n\r\n"
                );
                std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
                http::read_response(&mut s).unwrap()
            })
        })
        .collect();
    let results: Vec<Response> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let passed = results.iter().filter(|r| r.status == 303).count();
    // The copies after the first are replays; one still pricing itself while another replay's
    // offence doubles the client's price is refused as too easy instead. None passes.
    let refused = results
        .iter()
        .filter(|r| {
            r.status == 403 && matches!(reason(r), "challenge_replayed" | "challenge_too_easy")
        })
        .count();
    assert_eq!((passed, refused), (1, 49), "{results:?}");
}

#[test]
fn clients_that_keep_failing_get_harder_puzzles() {
    let dir = TempDir::new("adaptive");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(10), up.addr);
    let me = "127.0.3.30";
    let first = offer(&t, me, UA, "/protected/x");
    assert_eq!(first["param"], 10);
    for _ in 0..3 {
        let r = get(&t, me, "/protected/x", UA, Some(&forged_cookie()));
        assert_eq!(reason(&r), "clearance_invalid");
    }
    let later = offer(&t, me, UA, "/protected/x");
    assert_eq!(later["param"], 13, "three offences, three doublings");
    let bystander = offer(&t, "127.0.3.31", UA, "/protected/x");
    assert_eq!(bystander["param"], 10, "other clients are not affected");
}

#[test]
fn headless_chromium_pays_both_puzzles_and_reaches_the_backend() {
    if !browser::available() {
        return;
    }
    let dir = TempDir::new("chromium");
    let up = Upstream::start().unwrap();
    // The shipped default difficulty: what real visitors pay.
    let rules = rules(23).replace("difficulty = 23\nrange = 20000\n", "");
    let t = Tollgate::start(bin(), &dir.0, &rules, up.addr);
    for (path, route) in [("/protected/page", "hashcash"), ("/login", "range")] {
        let before = up.hits();
        let v = browser::pass(
            &format!("http://{}{path}", t.listen),
            &format!("upstream saw {path}"),
        );
        assert_eq!(v["verify"]["solver"], "wasm-simd", "{route}: {v}");
        let stdout = v.to_string();
        let reasons: Vec<&str> = v["responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["reason"].as_str())
            .collect();
        assert_eq!(reasons.first(), Some(&"route_challenge"), "{stdout}");
        assert!(reasons.contains(&"challenge_passed"), "{stdout}");
        let cookies = v["cookies"].as_array().unwrap();
        let cookie = cookies.iter().find(|c| c["name"] == COOKIE).unwrap();
        assert_eq!(cookie["httpOnly"].as_bool(), Some(true), "{stdout}");
        // The protected path was answered by tollgate first, and by the backend only after the
        // answer was accepted (Chromium may also fetch /favicon.ico, which is not protected).
        let page = browser::responses(&v, path);
        assert_eq!(
            page,
            [(403, Some("route_challenge".into())), (200, None)],
            "{stdout}"
        );
        assert!(up.hits() > before, "{route}: the backend was reached");
        eprintln!(
            "{route}: solved in {} ms, backend after {} ms",
            v["solve_ms"], v["elapsed_ms"]
        );
    }
}

#[test]
fn without_webassembly_chromium_pays_both_puzzles_in_javascript() {
    if !browser::available() {
        return;
    }
    let dir = TempDir::new("chromium-nowasm");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(14), up.addr);
    for path in ["/protected/page", "/login"] {
        let url = format!("http://{}{path}", t.listen);
        let v = browser::pass_without_wasm(&url, &format!("upstream saw {path}"));
        assert_eq!(v["verify"]["solver"], "js", "{path}: {v}");
        assert_eq!(
            browser::responses(&v, path),
            [(403, Some("route_challenge".into())), (200, None)],
            "{v}"
        );
    }
}

#[test]
fn the_served_webassembly_searches_agree_with_sha256() {
    let dir = TempDir::new("wasm");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(8), up.addr);
    let from: IpAddr = "127.0.3.60".parse().unwrap();
    let sizes = browser::served_solvers_agree(from, t.listen, &dir.0);
    eprintln!("search.wasm, search-simd.wasm: {sizes:?} bytes");
    // The page names its files by content (`?v=`), so no browser mixes two releases' files.
    let o = offer(&t, "127.0.3.61", UA, "/protected/x");
    let mut urls = vec![o["worker"].as_str().unwrap().to_string()];
    urls.extend(
        o["solvers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["url"].as_str().unwrap().to_string()),
    );
    for url in &urls {
        assert!(
            url.contains("?v=") && url.len() > url.find("?v=").unwrap() + 12,
            "{url}"
        );
        let r = http::get(from, t.listen, url).unwrap();
        assert_eq!(r.status, 200, "{url}");
    }
    assert_eq!(urls.len(), 3, "{o}");
}

#[test]
fn a_cheap_answer_never_opens_a_dearer_route() {
    let dir = TempDir::new("cheap");
    let up = Upstream::start().unwrap();
    let rules = r#"
[challenge]
difficulty = 6
[[route]]
name = "cheap"
path_prefix = "/cheap"
action = "challenge"
[[route]]
name = "dear"
path_prefix = "/dear"
action = "challenge"
difficulty = 13
"#;
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    let me = "127.0.3.50";
    // A puzzle fetched for the cheap route (or for no route at all) and returned to the dear one.
    for fetched_for in ["/cheap", "/elsewhere"] {
        let o = offer(&t, me, UA, fetched_for);
        assert_eq!(o["param"], 6);
        let r = get(&t, me, &solved(&o, "/dear"), UA, None);
        assert_eq!(r.status, 303, "{r:?}");
        let cookie = clearance_of(&r);
        let cheap = get(&t, me, "/cheap", UA, Some(&cookie));
        assert_eq!(cheap.status, 200, "{cheap:?}");
        let dear = get(&t, me, "/dear", UA, Some(&cookie));
        assert_eq!(
            (dear.status, reason(&dear)),
            (403, "clearance_too_weak"),
            "{dear:?}"
        );
    }
    // A client whose penalty rose after its puzzle was issued must pay the new price.
    let o = offer(&t, me, UA, "/dear");
    assert_eq!(o["param"], 13);
    for _ in 0..2 {
        get(&t, me, "/dear", UA, Some(&forged_cookie()));
    }
    let r = get(&t, me, &solved(&o, "/dear"), UA, None);
    assert_eq!((r.status, reason(&r)), (403, "challenge_too_easy"), "{r:?}");
    assert!(
        r.body.contains("\"param\":15"),
        "fresh puzzle two steps harder: {}",
        r.body
    );
}

#[test]
fn the_upstream_never_sees_tollgates_cookie() {
    let dir = TempDir::new("strip");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(8), up.addr);
    let me = "127.0.3.60";
    let cookie = earn(&t, me, "/protected/x");
    let both = format!("session=abc; {cookie}; theme=dark");
    assert_eq!(get(&t, me, "/protected/x", UA, Some(&both)).status, 200);
    assert_eq!(
        up.last_header("cookie").as_deref(),
        Some("session=abc; theme=dark")
    );
    assert_eq!(get(&t, me, "/protected/x", UA, Some(&cookie)).status, 200);
    assert_eq!(up.last_header("cookie"), None);
}

#[test]
fn four_tabs_of_one_browser_solving_at_once_all_pass_with_their_own_probe_cookies() {
    if !browser::available() {
        return;
    }
    let dir = TempDir::new("tabs");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &format!("[score]\n{}", rules(14)), up.addr);
    let url = format!("http://{}/protected/tab-", t.listen);
    let v = browser::tabs(&url, "upstream saw /protected/tab-", 4);
    let probes = v["cookies"].as_array().unwrap().iter();
    let probes = probes.filter(|c| c.as_str().is_some_and(|n| n.starts_with("tollgate_probe_")));
    assert_eq!(probes.count(), 4, "one probe cookie per challenge: {v}");
    // Every answer came back with its own challenge's probe cookie: none scored lower for it.
    let granted: Vec<String> = t
        .log()
        .lines()
        .filter(|l| l.contains("granted"))
        .map(String::from)
        .collect();
    assert_eq!(granted.len(), 4, "{}", t.log());
    for line in &granted {
        let signals = log_field(line, "signals");
        assert!(signals.contains("cookie_roundtrip"), "{line}");
    }
}
