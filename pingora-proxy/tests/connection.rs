//! Connection signals in clear text, against a real proxy: `h2c = true` accepts prior-knowledge
//! HTTP/2 and scores it `h2`; on HTTP/1.1 keep-alive the second request on a connection scores
//! `reused_connection` and the first does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tollgate_testkit::http::Conn;
use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{log_field, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn rules(h2c: bool) -> String {
    format!(
        "[server]\nh2c = {h2c}\n[score]\n[[route]]\nname = \"protected\"\npath_prefix = \"/protected/\"\naction = \"challenge\"\n"
    )
}

/// The signals of the refusal logged for `path`.
fn signals(t: &Tollgate, path: &str) -> Vec<String> {
    let mut line = None;
    let logged = eventually(Duration::from_secs(5), || {
        line = t
            .log()
            .lines()
            .find(|l| l.contains("refused") && l.contains(&format!(" path=\"{path}\"")))
            .map(str::to_string);
        line.is_some()
    });
    assert!(logged, "no refusal for {path}:\n{}", t.log());
    let line = line.unwrap_or_default();
    log_field(&line, "signals")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// `curl --http2-prior-knowledge` from `from`: its `%{http_code} %{http_version}`.
fn curl_h2c(from: &str, url: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ])
        .args([
            "--http2-prior-knowledge",
            "--interface",
            from,
            "--max-time",
            "5",
            url,
        ])
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn h2c_is_accepted_only_when_configured_and_scores_h2() {
    let dir = TempDir::new("h2c");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(true), up.addr);
    let url = format!("http://{}/protected/h2c", t.listen);
    assert_eq!(curl_h2c("127.0.7.1", &url), "403 2");
    let s = signals(&t, "/protected/h2c");
    assert!(s.iter().any(|x| x == "h2"), "{s:?}");
    drop(t);

    let dir = TempDir::new("no-h2c");
    let t = Tollgate::start(bin(), &dir.0, &rules(false), up.addr);
    let url = format!("http://{}/protected/h2c", t.listen);
    assert_eq!(
        curl_h2c("127.0.7.2", &url),
        "000 0",
        "prior knowledge refused"
    );
    assert_eq!(up.hits(), 0);
}

#[test]
fn the_second_request_on_a_keep_alive_connection_scores_reused_connection() {
    let dir = TempDir::new("reuse");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(false), up.addr);
    let mut conn = Conn::open("127.0.7.10".parse().unwrap(), t.listen).unwrap();
    let ua = [("User-Agent", "keepalive-test")];
    for path in ["/protected/first", "/protected/second", "/protected/third"] {
        assert_eq!(conn.send(path, &ua).unwrap().status, 403);
    }
    let has = |path: &str| signals(&t, path).iter().any(|s| s == "reused_connection");
    assert_eq!(
        [
            has("/protected/first"),
            has("/protected/second"),
            has("/protected/third")
        ],
        [false, true, true]
    );
    for path in ["/protected/first", "/protected/second"] {
        let s = signals(&t, path);
        assert!(!s.iter().any(|x| x == "connection_close"), "{path}: {s:?}");
    }
}
