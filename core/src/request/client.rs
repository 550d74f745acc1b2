//! Who the client really is.
//!
//! `X-Forwarded-For` and `X-Real-IP` are believed only when the TCP peer is a configured trusted
//! proxy; from anyone else they are ignored (and replaced when we forward). Within a trusted chain
//! we walk `X-Forwarded-For` from the right, skipping trusted proxies, and take the first address
//! we do not trust: everything left of it could have been written by the client.

use std::net::IpAddr;

use crate::request::cidr::CidrSet;
use crate::request::key::canonical;
use crate::request::RequestView;

/// The client address for `req`, given the trusted proxies.
pub fn resolve(req: &RequestView<'_>, trusted: &CidrSet) -> IpAddr {
    let peer = canonical(req.peer);
    if !via_trusted_proxy(req, trusted) {
        return peer;
    }
    if let Some(xff) = req.forwarded_for {
        let mut last_trusted = peer;
        for hop in xff.rsplit(',') {
            match parse_hop(hop) {
                Some(ip) if trusted.contains(ip) => last_trusted = ip,
                Some(ip) => return ip,
                // A malformed hop ends what we can believe; the last trusted hop is the client.
                None => return last_trusted,
            }
        }
        return last_trusted;
    }
    req.real_ip.and_then(parse_hop).unwrap_or(peer)
}

/// The TCP peer is one of the trusted proxies: the request came through it, so the connection
/// (HTTP version, TLS, reuse) is the proxy's, not the client's.
pub fn via_trusted_proxy(req: &RequestView<'_>, trusted: &CidrSet) -> bool {
    !trusted.is_empty() && trusted.contains(canonical(req.peer))
}

/// The `X-Forwarded-For` value to send upstream: the chain we believed plus the peer, or only the
/// peer when the peer is not trusted (a client's own header is dropped, not extended).
pub fn forwarded_for(req: &RequestView<'_>, trusted: &CidrSet) -> String {
    let peer = canonical(req.peer);
    match req.forwarded_for {
        Some(xff) if trusted.contains(peer) && !xff.trim().is_empty() => format!("{xff}, {peer}"),
        _ => peer.to_string(),
    }
}

/// Headers to set on and remove from a request before it goes upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarding {
    pub set: Vec<(&'static str, String)>,
    pub remove: &'static [&'static str],
    /// Replace the `Cookie` header with this (empty: remove it); `None`: leave it.
    pub cookie: Option<String>,
}

/// Client-identity headers a client could forge; removed unless the peer is a trusted proxy.
const SPOOFABLE: &[&str] = &[
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
];

/// What the upstream should be told about the client: `X-Forwarded-For` (the believed chain plus
/// the peer), `X-Real-IP` (the resolved client) and, from untrusted peers, no forged identity
/// headers at all.
pub fn forwarding(req: &RequestView<'_>, trusted: &CidrSet, client_ip: IpAddr) -> Forwarding {
    let peer_trusted = trusted.contains(canonical(req.peer));
    Forwarding {
        set: vec![
            ("x-forwarded-for", forwarded_for(req, trusted)),
            ("x-real-ip", client_ip.to_string()),
        ],
        remove: if peer_trusted { &[] } else { SPOOFABLE },
        cookie: None,
    }
}

/// One `X-Forwarded-For` element: an address, possibly `[v6]` or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn untrusted_peer_header_is_ignored_and_replaced() {
        let r = req("198.51.100.7", Some("1.2.3.4"));
        assert_eq!(resolve(&r, &trusted()).to_string(), "198.51.100.7");
        assert_eq!(forwarded_for(&r, &trusted()), "198.51.100.7");
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
        assert_eq!(resolve(&r, &trusted()).to_string(), "203.0.113.9");
        assert_eq!(
            forwarded_for(&r, &trusted()),
            "6.6.6.6, 203.0.113.9, 10.1.1.1, 10.0.0.2"
        );
    }

    #[test]
    fn garbled_header_from_a_trusted_proxy_is_a_malformed_hop() {
        // A non-UTF-8 value reaches the core as U+FFFD; the hop the trusted proxy appended wins.
        let r = RequestView {
            real_ip: Some("6.6.6.6"),
            ..req("10.0.0.2", Some("\u{fffd}, 203.0.113.9"))
        };
        assert_eq!(resolve(&r, &trusted()).to_string(), "203.0.113.9");
        let r = RequestView {
            real_ip: Some("6.6.6.6"),
            ..req("10.0.0.2", Some("\u{fffd}"))
        };
        assert_eq!(resolve(&r, &trusted()).to_string(), "10.0.0.2");
    }

    #[test]
    fn forged_identity_headers_are_removed_from_untrusted_peers_only() {
        let ip = "198.51.100.7".parse().unwrap();
        assert_eq!(
            forwarding(&req("198.51.100.7", None), &trusted(), ip).remove,
            SPOOFABLE
        );
        assert!(forwarding(&req("10.0.0.2", None), &trusted(), ip)
            .remove
            .is_empty());
    }

    #[test]
    fn odd_forms_and_garbage() {
        let t = trusted();
        assert_eq!(
            resolve(&req("10.0.0.2", Some("[2001:db8::1]:443")), &t).to_string(),
            "2001:db8::1"
        );
        assert_eq!(
            resolve(&req("10.0.0.2", Some("203.0.113.9:1234")), &t).to_string(),
            "203.0.113.9"
        );
        assert_eq!(
            resolve(&req("10.0.0.2", Some("garbage")), &t).to_string(),
            "10.0.0.2"
        );
        assert_eq!(
            resolve(&req("10.0.0.2", Some("")), &t).to_string(),
            "10.0.0.2"
        );
        let real = RequestView {
            real_ip: Some("203.0.113.5"),
            ..req("127.0.0.1", None)
        };
        assert_eq!(resolve(&real, &t).to_string(), "203.0.113.5");
    }
}
