//! Request targets and Host headers the scenario table cannot carry to every front end (nginx
//! answers these 400s itself before the module runs): the proxy refuses a NUL or a broken
//! escape with 400 `bad_path` and HTTP/1.1 without `Host` with 400 `missing_host`; HTTP/1.0
//! without `Host` passes, but never matches a host-scoped route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::Write;
use std::path::Path;

use tollgate_testkit::http;
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

const RULES: &str = r#"
[limit]
requests = 1000
burst = 1000
[[route]]
name = "admin-host"
host = "admin.example"
action = "deny"
[[route]]
name = "protected"
path_prefix = "/protected/"
action = "challenge"
"#;

/// `(status, x-tollgate-reason)` for `bytes` sent as they are from 127.0.9.1.
fn raw(t: &Tollgate, bytes: &str) -> (u16, String) {
    let mut s = http::connect("127.0.9.1".parse().unwrap(), t.listen).unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    let r = http::read_response(&mut s).unwrap();
    let reason = r.header("x-tollgate-reason").unwrap_or("-").to_string();
    (r.status, reason)
}

#[test]
fn ambiguous_targets_and_missing_hosts_get_400_with_their_reason() {
    let dir = TempDir::new("targets");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, RULES, up.addr);
    let get = |target: &str, version: &str, host: Option<&str>| {
        let host = host.map_or(String::new(), |h| format!("Host: {h}\r\n"));
        raw(
            &t,
            &format!("GET {target} {version}\r\n{host}Connection: close\r\n\r\n"),
        )
    };
    let bad = |why: &str| (400, why.to_string());
    assert_eq!(
        get("/protected%00/x", "HTTP/1.1", Some("a")),
        bad("bad_path")
    );
    assert_eq!(get("/x/%zz", "HTTP/1.1", Some("a")), bad("bad_path"));
    assert_eq!(get("/x/%4", "HTTP/1.1", Some("a")), bad("bad_path"));
    assert_eq!(get("/x", "HTTP/1.1", None), bad("missing_host"));
    assert_eq!(get("/x", "HTTP/1.1", Some("")), bad("missing_host"));
    assert_eq!(up.hits(), 0);
    // HTTP/1.0 may omit Host: it passes, and the host-scoped deny route cannot match it...
    assert_eq!(get("/x", "HTTP/1.0", None), (200, "-".into()));
    // ...which does match when the host is named.
    assert_eq!(
        get("/x", "HTTP/1.0", Some("ADMIN.example.")),
        (403, "route_deny".into())
    );
    assert_eq!(up.hits(), 1);
}
