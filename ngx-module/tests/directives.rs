//! The module among nginx's own configuration, in a real nginx: tollgate decides before
//! `deny` and `auth_basic` (it counts and refuses requests those would refuse anyway), rules see
//! the URI after `rewrite`, the key can come from `$TOLLGATE_SECRET`, and a reload that changes
//! the zone's size starts an empty zone while one that keeps it keeps the bans.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::Command;

use tollgate_core::STRIPPED_HEADERS;
use tollgate_testkit::http::{self, Response};
use tollgate_testkit::nginx::{minted, Nginx, NginxBuild, NginxConf};
use tollgate_testkit::tollgate::TempDir;
use tollgate_testkit::upstream::Upstream;

fn build() -> NginxBuild {
    NginxBuild::beside_this_test(Path::new(env!("TOLLGATE_NGINX_BUILD_DIR")))
}

fn get(n: &Nginx, from: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.parse().unwrap(), n.listen, "GET", path, headers).unwrap()
}

/// `(status, x-tollgate-reason)` of `n` requests from `from` to `path`.
fn answers(n: &Nginx, from: &str, path: &str, count: usize) -> Vec<(u16, String)> {
    (0..count)
        .map(|_| {
            let r = get(n, from, path, &[]);
            let reason = r.header("x-tollgate-reason").unwrap_or("-").to_string();
            (r.status, reason)
        })
        .collect()
}

fn nginx(status: u16) -> (u16, String) {
    (status, "-".into())
}

fn limited() -> (u16, String) {
    (429, "rate_limit".into())
}

/// Two requests per client, then 429; three refusals ban for two minutes.
const RULES: &str =
    "[limit]\nrequests = 1\nper_secs = 60\nburst = 2\n[bans]\nextreme_requests = 0\n\
                     violations = 3\nttl_secs = 120\n";

#[test]
fn tollgate_decides_before_deny_and_auth_basic() {
    let dir = TempDir::new("ngx-order");
    std::fs::write(dir.0.join("htpasswd"), "user:{PLAIN}secret\n").unwrap();
    let conf = NginxConf {
        server_extra: format!(
            "    location /denied/ {{ deny all; proxy_pass http://backend; }}
    location /members/ {{ auth_basic \"members\"; auth_basic_user_file {}/htpasswd;
                          proxy_pass http://backend; }}",
            dir.0.display()
        ),
        ..NginxConf::default()
    };
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, RULES, up.addr, &conf);
    // nginx refuses the first two itself; tollgate counted them, so the third is its 429.
    assert_eq!(
        answers(&n, "127.0.8.1", "/denied/x", 3),
        [nginx(403), nginx(403), limited()]
    );
    assert_eq!(
        answers(&n, "127.0.8.2", "/members/x", 3),
        [nginx(401), nginx(401), limited()]
    );
    // Within its limit, a member with the password reaches the backend through both.
    let auth = [("Authorization", "Basic dXNlcjpzZWNyZXQ=")];
    assert_eq!(get(&n, "127.0.8.3", "/members/x", &auth).status, 200);
    assert_eq!(up.hits(), 1);
}

#[test]
fn without_a_secret_file_the_key_comes_from_tollgate_secret() {
    let dir = TempDir::new("ngx-envkey");
    let rules = "[[route]]\nname = \"p\"\npath_prefix = \"/protected\"\naction = \"challenge\"\n";
    let conf = NginxConf {
        secret_from_env: true,
        ..NginxConf::default()
    };
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, rules, up.addr, &conf);
    let cookie = minted(&n.rules_path, "127.0.8.10", "env-key");
    let ua = ("User-Agent", "env-key");
    let r = get(&n, "127.0.8.10", "/protected/x", &[ua, ("Cookie", &cookie)]);
    assert_eq!(
        r.status, 200,
        "a cookie signed with $TOLLGATE_SECRET passes: {r:?}"
    );
    // Without the variable (and without the directive) nginx has no key and refuses the file.
    let t = n.test_config();
    let err = String::from_utf8_lossy(&t.stderr);
    assert!(
        !t.status.success() && err.contains("no signing key"),
        "{err}"
    );
}

#[test]
fn rules_match_the_uri_after_nginx_rewrites_it() {
    let dir = TempDir::new("ngx-rewrite");
    let rules = "[[route]]\nname = \"p\"\npath_prefix = \"/protected/\"\naction = \"challenge\"\n";
    let conf = NginxConf {
        server_extra: "    rewrite ^/old/(.*)$ /protected/$1 last;".into(),
        ..NginxConf::default()
    };
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, rules, up.addr, &conf);
    let challenged = (403, "route_challenge".to_string());
    assert_eq!(answers(&n, "127.0.8.30", "/old/report", 1), [challenged]);
    assert_eq!(answers(&n, "127.0.8.30", "/new/report", 1), [nginx(200)]);
    assert_eq!(up.hits(), 1);
}

#[test]
fn the_shipped_header_snippet_strips_what_the_proxy_strips() {
    let snippet = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/proxy_headers.conf");
    let text = std::fs::read_to_string(&snippet).unwrap();
    let mut emptied: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("proxy_set_header ")?.strip_suffix(" \"\";"))
        .map(str::to_ascii_lowercase)
        .collect();
    emptied.sort();
    let mut want: Vec<String> = STRIPPED_HEADERS.iter().map(|h| h.to_string()).collect();
    want.sort();
    assert_eq!(
        emptied,
        want,
        "{} is out of step with the proxy",
        snippet.display()
    );

    let dir = TempDir::new("ngx-strip");
    let conf = NginxConf {
        server_extra: format!(
            "    location /app/ {{ proxy_pass http://backend; proxy_http_version 1.1;
                      proxy_set_header Connection \"\"; include {}; }}",
            snippet.display()
        ),
        ..NginxConf::default()
    };
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, "", up.addr, &conf);
    let forged: Vec<(&str, &str)> = STRIPPED_HEADERS.iter().map(|h| (*h, "6.6.6.6")).collect();
    assert_eq!(get(&n, "127.0.8.40", "/app/x", &forged).status, 200);
    for h in STRIPPED_HEADERS {
        assert_eq!(up.last_header(h), None, "{h} reached the upstream");
    }
    assert_eq!(up.last_header("x-real-ip").as_deref(), Some("127.0.8.40"));
    assert_eq!(up.last_header("x-forwarded-proto").as_deref(), Some("http"));
}

#[test]
fn a_reload_keeps_the_zone_unless_its_size_changes() {
    let dir = TempDir::new("ngx-zone");
    let up = Upstream::start().unwrap();
    let b = build();
    let sized = |size: &str| NginxConf {
        zone_size: Some(size.into()),
        ..NginxConf::default()
    };
    let n = Nginx::start_conf(&b, &dir.0, RULES, up.addr, &sized("4m"));
    let client = "127.0.8.20";
    let ban = answers(&n, client, "/", 6);
    assert_eq!(ban[5], (403, "repeated_violations".into()), "{ban:?}");

    n.rewrite_conf(&sized("4m"));
    assert!(n.reload());
    assert_eq!(answers(&n, client, "/", 1), [(403, "active_ban".into())]);

    n.rewrite_conf(&sized("5m"));
    assert!(n.reload(), "{}", n.log());
    assert_eq!(
        answers(&n, client, "/", 3),
        [nginx(200), nginx(200), limited()],
        "a new size is a new, empty zone"
    );
}

#[test]
fn a_client_named_by_realip_is_not_scored_by_its_proxys_connection() {
    // A second request on a kept-alive connection scores reused_connection (+5), which moves a
    // client into the dearer band: 12 bits, then 14.
    let rules =
        "[challenge]\ndifficulty = 12\n[limit]\nenabled = false\n[score]\nbase = 70\nfloor = 0
[score.weights]\nconnection_close = 0
[[score.band]]\nname = \"reused\"\nmin = 75\nextra_difficulty = 2
[[score.band]]\nname = \"first\"\nmin = 0\n";
    let dir = TempDir::new("ngx-realip");
    let conf = NginxConf {
        real_ip_from: vec!["127.0.8.50".into()],
        real_ip_header: "X-Forwarded-For".into(),
        ..NginxConf::default()
    };
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, rules, up.addr, &conf);
    let prices = |from: &str, headers: &[(&str, &str)]| -> Vec<u64> {
        let mut conn = http::Conn::open(from.parse().unwrap(), n.listen).unwrap();
        (0..2)
            .map(|_| {
                let r = conn
                    .send("/.tollgate/challenge?return=/x", headers)
                    .unwrap();
                let o: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                o["param"].as_u64().unwrap()
            })
            .collect()
    };
    let ua = ("User-Agent", "probe/1");
    assert_eq!(
        prices("127.0.8.51", &[ua]),
        [12, 14],
        "a direct client's reuse counts"
    );
    let via_proxy = [ua, ("X-Forwarded-For", "203.0.113.9")];
    assert_eq!(
        prices("127.0.8.50", &via_proxy),
        [12, 12],
        "the proxy's reuse does not"
    );
}

#[test]
fn over_tls_the_client_hello_gives_away_a_copied_chrome_and_a_real_browser_passes() {
    let dir = TempDir::new("ngx-hello");
    let tls = tollgate_testkit::process::free_port();
    let conf = NginxConf {
        tls_port: Some(tls),
        ..NginxConf::default()
    };
    let rules = "[score]\n[[route]]\nname = \"articles\"\npath_prefix = \"/articles/\"\naction = \"challenge\"\npass_on_score = true\n";
    let up = Upstream::start().unwrap();
    let n = Nginx::start_conf(&build(), &dir.0, rules, up.addr, &conf);
    let tls_addr = std::net::SocketAddr::from(([127, 0, 0, 1], tls));
    let listening =
        tollgate_testkit::process::wait_listening(tls_addr, std::time::Duration::from_secs(10));
    assert!(listening, "{}", n.log());
    let url = format!("https://localhost:{tls}/articles/x");
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let copied = [
        format!("User-Agent: {chrome}"),
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8".into(),
        "Accept-Encoding: gzip, deflate, br, zstd".into(),
        "Accept-Language: en-US,en;q=0.9".into(),
        "Sec-Fetch-Site: none".into(),
        "Sec-Fetch-Mode: navigate".into(),
    ];
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sk",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
    ]);
    for h in &copied {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(&url).output().expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403 2", "{}", n.log());
    assert_eq!(up.hits(), 0, "a copied header set never passes");
    if tollgate_testkit::browser::available() {
        // Chromium's own stack passes on score (the driver fails unless the upstream's page
        // shows; the browser also fetches /favicon.ico by itself), as a person's would.
        use tollgate_testkit::browser::{pass_as, As};
        let v = pass_as(As::Person, &url, "upstream saw /articles/x");
        let page = tollgate_testkit::browser::responses(&v, "/articles/x");
        assert_eq!(page, [(200, None)], "no challenge: {v}");
    }
}
