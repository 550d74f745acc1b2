//! Helpers the challenge tests share: the rules, requests as a client, earning a clearance, and
//! running the `tollgate` command line.
#![allow(dead_code)] // each test file uses its own share of these

pub mod site;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tollgate_testkit::challenge::{answer, verify_path};
use tollgate_testkit::http::Response;
use tollgate_testkit::process::stdout_of;
use tollgate_testkit::tollgate::Tollgate;

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Two challenge routes, one per puzzle kind. `bits` keeps debug-build solving quick.
pub fn rules(bits: u32) -> String {
    format!(
        r#"
[limit]
requests = 1000
per_secs = 1
burst = 1000
[challenge]
difficulty = {bits}
range = 20000
[[route]]
name = "hashcash"
path_prefix = "/protected"
action = "challenge"
[[route]]
name = "range"
path_prefix = "/login"
action = "challenge"
puzzle = "range"
"#
    )
}

pub const UA: &str = "Mozilla/5.0 tollgate-test";

pub fn get(t: &Tollgate, from: &str, path: &str, ua: &str, cookie: Option<&str>) -> Response {
    let mut headers = vec![("User-Agent", ua)];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    t.request(from, "GET", path, &headers)
}

/// The JSON offer for `path`, as client `from` with user agent `ua`.
pub fn offer(t: &Tollgate, from: &str, ua: &str, path: &str) -> Value {
    let r = get(
        t,
        from,
        &format!("/.tollgate/challenge?return={path}"),
        ua,
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

pub fn clearance_of(r: &Response) -> String {
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {r:?}"));
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.split(';').next().unwrap().to_string()
}

pub fn reason(r: &Response) -> &str {
    r.header("x-tollgate-reason").unwrap_or("-")
}

/// The verify path carrying a correct answer to `o`, returning to `back`.
pub fn solved(o: &Value, back: &str) -> String {
    verify_path(o["token"].as_str().unwrap(), answer(o), back)
}

/// A clearance cookie earned by solving `path`'s challenge as `from` with user agent [`UA`].
pub fn earn(t: &Tollgate, from: &str, path: &str) -> String {
    let o = offer(t, from, UA, path);
    clearance_of(&get(t, from, &solved(&o, path), UA, None))
}

/// Runs `tollgate ARGS` (with `env`), which must succeed; returns its trimmed stdout.
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> String {
    stdout_of(Command::new(bin()).args(args).envs(env.iter().copied()))
}
