//! What the upstream is told about the client, and what it must never be told.
//!
//! Frameworks believe many headers a client can simply send: identity (`True-Client-IP`,
//! `CF-Connecting-IP`, `Forwarded`…), the URL (`X-Original-URL` and `X-Rewrite-URL` override the
//! path in some frameworks and so every route), the scheme and host (`X-Forwarded-Proto/-Host…`)
//! and the method (`X-HTTP-Method-Override`). Tollgate strips all of them from every peer, except
//! the configured client-address header from a trusted proxy, and sets its own
//! `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto`.

use std::borrow::Cow;
use std::net::IpAddr;

use super::client::{via_trusted_proxy, IpHeader};
use crate::request::cidr::CidrSet;
use crate::request::key::canonical;
use crate::request::RequestView;

/// Headers to set on and remove from a request before it goes upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarding {
    pub set: Vec<(&'static str, String)>,
    /// The static list itself unless the configured header is on it (then a copy without it).
    pub remove: Cow<'static, [&'static str]>,
    /// Replace the `Cookie` header with this (empty: remove it); `None`: leave it.
    pub cookie: Option<String>,
}

/// Removed from every request (lower-case), whoever sent it: see the module comment.
pub const STRIPPED_HEADERS: &[&str] = match STRIPPED_AND_UPGRADE.split_last() {
    Some((_, always)) => always,
    None => &[],
};

/// [`STRIPPED_HEADERS`], then `upgrade`: also removed unless the route allows upgrades.
const STRIPPED_AND_UPGRADE: &[&str] = &[
    "client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "x-forwarded-port",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-http-method-override",
    "upgrade",
];

/// Where the trust settings come from.
pub struct Trust<'a> {
    pub proxies: &'a CidrSet,
    pub header: &'a IpHeader,
}

/// The `X-Forwarded-For` value to send upstream: the believed chain plus the peer, or the
/// resolved client and the peer (only the peer when they are the same). A client's own header
/// is dropped, not extended.
pub fn forwarded_for(req: &RequestView<'_>, trust: &Trust<'_>, client: IpAddr) -> String {
    let peer = canonical(req.peer);
    let trusted = via_trusted_proxy(req, trust.proxies);
    match req.forwarded_for {
        Some(xff)
            if trusted && *trust.header == IpHeader::ForwardedFor && !xff.trim().is_empty() =>
        {
            format!("{xff}, {peer}")
        }
        _ if client != peer => format!("{client}, {peer}"),
        _ => peer.to_string(),
    }
}

/// `https` when the client's connection is TLS: at tollgate, or as a trusted proxy says.
pub fn scheme_https(req: &RequestView<'_>, proxies: &CidrSet) -> bool {
    let claimed = req
        .forwarded_proto
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    req.conn.tls || (claimed && via_trusted_proxy(req, proxies))
}

/// The headers for the upstream: tollgate's own identity headers set, everything a client could
/// forge removed (the configured header stays when a trusted proxy sent it), and `Upgrade`
/// removed unless `upgrade` (the route allows it).
pub fn forwarding(
    req: &RequestView<'_>,
    trust: &Trust<'_>,
    client: IpAddr,
    upgrade: bool,
) -> Forwarding {
    let keep = via_trusted_proxy(req, trust.proxies).then(|| trust.header.name());
    let stripped = if upgrade {
        STRIPPED_HEADERS
    } else {
        STRIPPED_AND_UPGRADE
    };
    let proto = if scheme_https(req, trust.proxies) {
        "https"
    } else {
        "http"
    };
    Forwarding {
        set: vec![
            ("x-forwarded-for", forwarded_for(req, trust, client)),
            ("x-real-ip", client.to_string()),
            ("x-forwarded-proto", proto.to_string()),
        ],
        remove: match keep.filter(|k| STRIPPED_HEADERS.contains(k)) {
            None => Cow::Borrowed(stripped),
            Some(k) => Cow::Owned(stripped.iter().copied().filter(|h| *h != k).collect()),
        },
        cookie: None,
    }
}

#[cfg(test)]
mod tests;
