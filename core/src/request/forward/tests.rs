use std::borrow::Cow;

use super::*;
use crate::request::cidr::parse_net;

fn proxies() -> CidrSet {
    CidrSet::new(["10.0.0.0/8"].iter().map(|s| parse_net(s).unwrap()))
}

fn req<'a>(peer: &str, xff: Option<&'a str>) -> RequestView<'a> {
    RequestView {
        forwarded_for: xff,
        ..RequestView::get(peer.parse().unwrap(), "/")
    }
}

fn fwd(r: &RequestView<'_>, header: &IpHeader, client: &str) -> Forwarding {
    let p = proxies();
    let trust = Trust {
        proxies: &p,
        header,
    };
    // On a route that allows upgrades: the always-stripped list alone.
    forwarding(r, &trust, client.parse().unwrap(), true)
}

fn set<'a>(f: &'a Forwarding, name: &str) -> &'a str {
    f.set
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("-", |(_, v)| v.as_str())
}

#[test]
fn an_untrusted_peers_chain_is_replaced_and_everything_forgeable_stripped() {
    let f = fwd(
        &req("198.51.100.7", Some("1.2.3.4")),
        &IpHeader::ForwardedFor,
        "198.51.100.7",
    );
    assert_eq!(set(&f, "x-forwarded-for"), "198.51.100.7");
    assert_eq!(set(&f, "x-real-ip"), "198.51.100.7");
    assert_eq!(set(&f, "x-forwarded-proto"), "http");
    assert_eq!(&*f.remove, STRIPPED_HEADERS);
}

#[test]
fn a_trusted_chain_is_extended_and_the_configured_header_kept() {
    let r = req("10.0.0.2", Some("6.6.6.6, 203.0.113.9"));
    let f = fwd(&r, &IpHeader::ForwardedFor, "203.0.113.9");
    assert_eq!(set(&f, "x-forwarded-for"), "6.6.6.6, 203.0.113.9, 10.0.0.2");
    assert_eq!(
        &*f.remove, STRIPPED_HEADERS,
        "X-Forwarded-For is set, not kept"
    );
    assert!(
        matches!(f.remove, Cow::Borrowed(_)),
        "the static list, not a copy"
    );
    let cf = IpHeader::from_name("CF-Connecting-IP");
    let f = fwd(&r, &cf, "203.0.113.5");
    assert!(!f.remove.contains(&"cf-connecting-ip"));
    assert_eq!(f.remove.len(), STRIPPED_HEADERS.len() - 1);
    assert_eq!(set(&f, "x-forwarded-for"), "203.0.113.5, 10.0.0.2");
    // From an untrusted peer the configured header goes too.
    let f = fwd(&req("198.51.100.7", None), &cf, "198.51.100.7");
    assert!(f.remove.contains(&"cf-connecting-ip"));
}

#[test]
fn the_scheme_is_https_under_tls_or_when_a_trusted_proxy_says_so() {
    let claims = |peer: &str| RequestView {
        forwarded_proto: Some("HTTPS"),
        ..req(peer, None)
    };
    assert!(scheme_https(&claims("10.0.0.2"), &proxies()));
    assert!(!scheme_https(&claims("198.51.100.7"), &proxies()));
    let mut tls = req("198.51.100.7", None);
    tls.conn.tls = true;
    assert!(scheme_https(&tls, &proxies()));
}

#[test]
fn upgrade_is_stripped_unless_the_route_allows_it() {
    let p = proxies();
    let cf = IpHeader::from_name("CF-Connecting-IP");
    for header in [&IpHeader::ForwardedFor, &cf] {
        let trust = Trust {
            proxies: &p,
            header,
        };
        let r = req("10.0.0.2", None);
        let client = "10.0.0.2".parse().unwrap();
        let closed = forwarding(&r, &trust, client, false);
        assert!(closed.remove.contains(&"upgrade"), "{header:?}");
        assert!(!forwarding(&r, &trust, client, true)
            .remove
            .contains(&"upgrade"));
    }
    assert!(!STRIPPED_HEADERS.contains(&"upgrade"));
    assert_eq!(STRIPPED_HEADERS.len(), 16);
}
