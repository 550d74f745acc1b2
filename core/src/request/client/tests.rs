use super::*;
use crate::request::cidr::parse_net;

fn trusted() -> CidrSet {
    CidrSet::new(
        ["10.0.0.0/8", "127.0.0.1"]
            .iter()
            .map(|s| parse_net(s).unwrap()),
    )
}

fn req<'a>(peer: &str, xff: Option<&'a str>) -> RequestView<'a> {
    RequestView {
        forwarded_for: xff,
        ..RequestView::get(peer.parse().unwrap(), "/")
    }
}

fn with_header<'a>(peer: &str, value: &'a str) -> RequestView<'a> {
    RequestView {
        client_ip_header: Some(value),
        ..req(peer, Some("6.6.6.6"))
    }
}

fn xff(r: &RequestView<'_>) -> String {
    resolve(r, &trusted(), &IpHeader::ForwardedFor).to_string()
}

#[test]
fn untrusted_peer_header_is_ignored() {
    assert_eq!(xff(&req("198.51.100.7", Some("1.2.3.4"))), "198.51.100.7");
    let real = IpHeader::from_name("X-Real-IP");
    let r = with_header("198.51.100.7", "1.2.3.4");
    assert_eq!(resolve(&r, &trusted(), &real).to_string(), "198.51.100.7");
}

#[test]
fn a_trusted_proxy_is_recognised_in_any_address_form() {
    assert!(via_trusted_proxy(&req("10.1.2.3", None), &trusted()));
    assert!(via_trusted_proxy(&req("::ffff:10.1.2.3", None), &trusted()));
    assert!(!via_trusted_proxy(&req("198.51.100.7", None), &trusted()));
    assert!(!via_trusted_proxy(
        &req("10.1.2.3", None),
        &CidrSet::new([])
    ));
}

#[test]
fn trusted_chain_yields_rightmost_untrusted() {
    let r = req("10.0.0.2", Some("6.6.6.6, 203.0.113.9, 10.1.1.1"));
    assert_eq!(xff(&r), "203.0.113.9");
}

#[test]
fn only_the_configured_header_is_believed() {
    // Behind a front that sets X-Real-IP, the client's own X-Forwarded-For is not believed...
    let real = IpHeader::from_name("X-Real-IP");
    let r = with_header("10.0.0.2", "203.0.113.5");
    assert_eq!(resolve(&r, &trusted(), &real).to_string(), "203.0.113.5");
    // ...and with the default, a trusted peer's X-Real-IP is no fallback.
    let no_xff = RequestView {
        client_ip_header: Some("203.0.113.5"),
        ..req("10.0.0.2", None)
    };
    assert_eq!(xff(&no_xff), "10.0.0.2");
    // A named header keeps its last occurrence (the one the proxy appended).
    let cf = IpHeader::from_name("CF-Connecting-IP");
    assert_eq!(cf.name(), "cf-connecting-ip");
    let twice = with_header("10.0.0.2", "9.9.9.9,203.0.113.6");
    assert_eq!(resolve(&twice, &trusted(), &cf).to_string(), "203.0.113.6");
}

#[test]
fn forwarded_is_walked_like_x_forwarded_for() {
    let fwd = IpHeader::from_name("Forwarded");
    for (value, want) in [
        (
            "for=6.6.6.6, for=203.0.113.9;proto=https, for=10.1.1.1",
            "203.0.113.9",
        ),
        ("for=\"[2001:db8::1]:4711\"", "2001:db8::1"),
        ("For=198.51.100.1;by=10.0.0.1", "198.51.100.1"),
        ("for=6.6.6.6, for=unknown", "10.0.0.2"),
        ("for=_hidden", "10.0.0.2"),
        ("proto=https", "10.0.0.2"),
    ] {
        let r = with_header("10.0.0.2", value);
        assert_eq!(resolve(&r, &trusted(), &fwd).to_string(), want, "{value}");
    }
}

#[test]
fn garbled_header_from_a_trusted_proxy_is_a_malformed_hop() {
    // A non-UTF-8 value reaches the core as U+FFFD; the hop the trusted proxy appended wins.
    assert_eq!(
        xff(&req("10.0.0.2", Some("\u{fffd}, 203.0.113.9"))),
        "203.0.113.9"
    );
    assert_eq!(xff(&req("10.0.0.2", Some("\u{fffd}"))), "10.0.0.2");
}

#[test]
fn odd_forms_and_garbage() {
    assert_eq!(
        xff(&req("10.0.0.2", Some("[2001:db8::1]:443"))),
        "2001:db8::1"
    );
    assert_eq!(
        xff(&req("10.0.0.2", Some("203.0.113.9:1234"))),
        "203.0.113.9"
    );
    assert_eq!(xff(&req("10.0.0.2", Some("garbage"))), "10.0.0.2");
    assert_eq!(xff(&req("10.0.0.2", Some(""))), "10.0.0.2");
}
