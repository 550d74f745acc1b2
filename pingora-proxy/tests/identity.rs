//! What the upstream hears about the client, against a real proxy: every identity, URL,
//! scheme and method-override header a client could forge is stripped from every peer; the
//! configured `client_ip_header` is believed (and passed on) from trusted proxies only; and
//! tollgate sets `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto` itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::{bin, rules, solved, UA};

/// The headers the README promises never reach the upstream from a client.
const FORGEABLE: &[&str] = &[
    "Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "Forwarded",
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-Forwarded-Host",
    "X-Forwarded-Prefix",
    "X-Forwarded-Port",
    "X-Forwarded-Ssl",
    "X-Forwarded-Scheme",
    "X-Forwarded-Server",
    "X-HTTP-Method-Override",
];

fn forged_values() -> Vec<(&'static str, &'static str)> {
    let mut h: Vec<_> = FORGEABLE.iter().map(|n| (*n, "6.6.6.6")).collect();
    h.push(("X-Forwarded-For", "6.6.6.6"));
    h.push(("X-Real-IP", "6.6.6.6"));
    h.push(("X-Forwarded-Proto", "https"));
    h
}

#[test]
fn a_client_cannot_forge_identity_url_scheme_or_method_headers() {
    let dir = TempDir::new("identity");
    let up = Upstream::start().unwrap();
    let rules = "[clients]\ntrusted_proxies = [\"127.0.10.1/32\"]\nclient_ip_header = \"CF-Connecting-IP\"\n[lists]\ndeny = [\"6.6.6.6\"]\n";
    let t = Tollgate::start(bin(), &dir.0, rules, up.addr);
    let r = t.request("127.0.10.2", "GET", "/page", &forged_values());
    assert_eq!(
        r.status, 200,
        "an untrusted peer's headers name nobody: {r:?}"
    );
    for name in FORGEABLE {
        let lower = name.to_ascii_lowercase();
        assert_eq!(up.last_header(&lower), None, "{name} reached the upstream");
    }
    assert_eq!(up.last_forwarded_for().as_deref(), Some("127.0.10.2"));
    assert_eq!(up.last_header("x-real-ip").as_deref(), Some("127.0.10.2"));
    assert_eq!(up.last_header("x-forwarded-proto").as_deref(), Some("http"));

    // The trusted proxy's configured header is believed (and kept); the rest still go.
    let via_proxy = [
        ("CF-Connecting-IP", "203.0.113.8"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Real-IP", "6.6.6.6"),
        ("True-Client-IP", "6.6.6.6"),
        ("X-Forwarded-Proto", "https"),
    ];
    let r = t.request("127.0.10.1", "GET", "/page", &via_proxy);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        up.last_header("cf-connecting-ip").as_deref(),
        Some("203.0.113.8")
    );
    assert_eq!(up.last_header("true-client-ip"), None);
    assert_eq!(up.last_header("x-real-ip").as_deref(), Some("203.0.113.8"));
    assert_eq!(
        up.last_forwarded_for().as_deref(),
        Some("203.0.113.8, 127.0.10.1")
    );
    assert_eq!(
        up.last_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    let named = [("CF-Connecting-IP", "6.6.6.6")];
    let r = t.request("127.0.10.1", "GET", "/page", &named);
    assert_eq!(
        (r.status, r.header("x-tollgate-reason")),
        (403, Some("deny_list"))
    );
    assert_eq!(up.hits(), 2);
}

#[test]
fn behind_a_tls_terminating_trusted_proxy_the_clearance_is_the_secure_host_cookie() {
    let dir = TempDir::new("xfp");
    let up = Upstream::start().unwrap();
    let trusted = format!(
        "[clients]\ntrusted_proxies = [\"127.0.10.20\"]\n{}",
        rules(8)
    );
    let t = Tollgate::start(bin(), &dir.0, &trusted, up.addr);
    for (peer, want) in [
        ("127.0.10.20", "__Host-tollgate_clearance="),
        ("127.0.10.21", "tollgate_clearance="),
    ] {
        let headers = [("User-Agent", UA), ("X-Forwarded-Proto", "https")];
        let offer = t.request(
            peer,
            "GET",
            "/.tollgate/challenge?return=/protected/x",
            &headers,
        );
        let o: serde_json::Value = serde_json::from_str(&offer.body).unwrap();
        let r = t.request(peer, "GET", &solved(&o, "/protected/x"), &headers);
        let set = r.header("set-cookie").unwrap_or_default().to_string();
        assert!(set.starts_with(want), "{peer}: {set}");
        assert_eq!(set.ends_with("; Secure"), peer == "127.0.10.20", "{set}");
        let cookie = set.split(';').next().unwrap();
        let through = [
            ("User-Agent", UA),
            ("X-Forwarded-Proto", "https"),
            ("Cookie", cookie),
        ];
        assert_eq!(t.request(peer, "GET", "/protected/x", &through).status, 200);
    }
}
