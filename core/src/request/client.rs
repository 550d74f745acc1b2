//! Who the client really is.
//!
//! One header names the client, and only when the TCP peer is a configured trusted proxy:
//! `[clients] client_ip_header` (`X-Forwarded-For` by default). From anyone else every identity
//! header is ignored (and stripped when we forward). Believing a second header as a fallback
//! would let a client behind a front that sets only the first pick its own address, so there is
//! no fallback. Within a trusted chain (`X-Forwarded-For`, `Forwarded`) we walk from the right,
//! skipping trusted proxies, and take the first address we do not trust: everything left of it
//! could have been written by the client.

use std::net::IpAddr;

use crate::request::cidr::CidrSet;
use crate::request::key::canonical;
use crate::request::RequestView;

/// `[clients] client_ip_header`: the one header believed from trusted proxies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpHeader {
    /// `X-Forwarded-For`, a chain walked from the right past trusted hops.
    ForwardedFor,
    /// RFC 7239 `Forwarded`, its `for=` parameters walked the same way.
    Forwarded,
    /// Any other header holding one address (`X-Real-IP`, `CF-Connecting-IP`, …); lower-case.
    Single(String),
}

impl IpHeader {
    /// The header as configured (`X-Forwarded-For` etc.), case-insensitively.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "x-forwarded-for" => Self::ForwardedFor,
            "forwarded" => Self::Forwarded,
            _ => Self::Single(lower),
        }
    }

    /// The header's lower-case name, for a front end to read into
    /// [`RequestView::client_ip_header`].
    pub fn name(&self) -> &str {
        match self {
            Self::ForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
            Self::Single(name) => name,
        }
    }
}

/// The client address for `req`, given the trusted proxies and the header they set.
#[inline]
pub fn resolve(req: &RequestView<'_>, trusted: &CidrSet, header: &IpHeader) -> IpAddr {
    let peer = canonical(req.peer);
    if !via_trusted_proxy(req, trusted) {
        return peer;
    }
    named_by_proxy(req, peer, trusted, header)
}

/// The client that the trusted proxy at `peer` names in `header`. Out of line: every request
/// runs `resolve`, and most come from untrusted peers, which return above.
#[inline(never)]
fn named_by_proxy(
    req: &RequestView<'_>,
    peer: IpAddr,
    trusted: &CidrSet,
    header: &IpHeader,
) -> IpAddr {
    match header {
        IpHeader::ForwardedFor => req
            .forwarded_for
            .map_or(peer, |v| walk(v.rsplit(',').map(parse_hop), peer, trusted)),
        IpHeader::Forwarded => req.client_ip_header.map_or(peer, |v| {
            walk(v.rsplit(',').map(forwarded_for_param), peer, trusted)
        }),
        // Several occurrences arrive joined with ','; the last is the one the proxy wrote.
        IpHeader::Single(_) => req
            .client_ip_header
            .and_then(|v| parse_hop(v.rsplit(',').next()?))
            .unwrap_or(peer),
    }
}

/// The first hop, from the right, that is not a trusted proxy. A malformed hop ends what we can
/// believe: the last trusted hop is the client.
fn walk(hops: impl Iterator<Item = Option<IpAddr>>, peer: IpAddr, trusted: &CidrSet) -> IpAddr {
    let mut last_trusted = peer;
    for hop in hops {
        match hop {
            Some(ip) if trusted.contains(ip) => last_trusted = ip,
            Some(ip) => return ip,
            None => return last_trusted,
        }
    }
    last_trusted
}

/// The TCP peer is one of the trusted proxies: the request came through it, so the connection
/// (HTTP version, TLS, reuse) is the proxy's, not the client's.
pub fn via_trusted_proxy(req: &RequestView<'_>, trusted: &CidrSet) -> bool {
    is_trusted_proxy(req.peer, trusted)
}

/// Whether `peer` is one of the `trusted` proxies.
pub fn is_trusted_proxy(peer: IpAddr, trusted: &CidrSet) -> bool {
    !trusted.is_empty() && trusted.contains(canonical(peer))
}

/// The connection is not the client's own: it came through a trusted proxy, or the front end
/// resolved the client from a proxy's header itself. Its HTTP version, TLS, reuse and
/// ClientHello then describe the proxy.
pub fn connection_is_proxys(req: &RequestView<'_>, trusted: &CidrSet) -> bool {
    req.resolved_by_front_end || via_trusted_proxy(req, trusted)
}

/// One `X-Forwarded-For` element: an address, possibly `[v6]` or with a port.
pub(super) fn parse_hop(hop: &str) -> Option<IpAddr> {
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

/// The `for=` address of one `Forwarded` element (`for=192.0.2.1;proto=https`,
/// `for="[2001:db8::1]:4711"`); `unknown`, obfuscated names and garbage are no address.
fn forwarded_for_param(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })?;
    parse_hop(value.trim_matches('"'))
}

#[cfg(test)]
mod tests;
