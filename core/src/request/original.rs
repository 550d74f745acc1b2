//! The request a front proxy asks about, in forward-auth mode.
//!
//! nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth` send their own request
//! to tollgate's auth listener and name the client's in headers: `X-Forwarded-Method`,
//! `X-Forwarded-Uri` (nginx: `X-Original-URI`, set by the operator's config) and
//! `X-Forwarded-Host`; the front end reads the URI header its endpoint's front sets. Anyone can
//! send those headers, so they are believed only from a trusted proxy, and the client's address
//! then comes from the configured client-address header, as for any request through a trusted
//! proxy. The rest of the request (user agent, cookies, `Accept`…)
//! is the client's own: the fronts copy it into the auth request.

use thiserror::Error;

use super::cidr::CidrSet;
use super::client::via_trusted_proxy;
use super::key::canonical;
use super::RequestView;

/// The headers a front proxy names the original request in, as the front end read them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forwarded<'a> {
    /// `X-Forwarded-Method`; GET when absent (nginx sends its subrequests as GET).
    pub method: Option<&'a str>,
    /// `X-Forwarded-Uri`, else `X-Original-URI`: the path and query as the client sent them.
    pub uri: Option<&'a str>,
    /// `X-Forwarded-Host`; else the auth request's own `Host` (the fronts keep it).
    pub host: Option<&'a str>,
}

/// Why an auth request names no request tollgate can decide.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ForwardedError {
    #[error("forward-auth request from {0}, which is not in [clients] trusted_proxies")]
    Untrusted(std::net::IpAddr),
    #[error("forward-auth request without X-Forwarded-Uri or X-Original-URI")]
    NoUri,
    #[error("forward-auth request whose original URI is not a path: {0:?}")]
    NotAPath(String),
    #[error("forward-auth request with a malformed X-Forwarded-Method: {0:?}")]
    BadMethod(String),
}

/// `auth` (the front proxy's request) turned into the client's request it stands for.
pub fn original<'a>(
    auth: &RequestView<'a>,
    trusted: &CidrSet,
    fwd: Forwarded<'a>,
) -> Result<RequestView<'a>, ForwardedError> {
    if !via_trusted_proxy(auth, trusted) {
        return Err(ForwardedError::Untrusted(canonical(auth.peer)));
    }
    let uri = fwd.uri.map(str::trim).ok_or(ForwardedError::NoUri)?;
    if !uri.starts_with('/') {
        return Err(ForwardedError::NotAPath(uri.chars().take(80).collect()));
    }
    let method = fwd.method.map_or("GET", str::trim);
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ForwardedError::BadMethod(method.chars().take(20).collect()));
    }
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let mut req = auth.clone();
    req.method = method;
    req.path = path;
    req.query = query;
    req.routed_path = None;
    req.host = fwd
        .host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .or(auth.host);
    // `Connection` is hop-by-hop: the front's own (nginx closes its subrequests), not the
    // client's, and must not score the client.
    req.connection = None;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> CidrSet {
        CidrSet::new([super::super::cidr::parse_net("127.0.0.0/8").unwrap()])
    }

    fn from(peer: &str) -> RequestView<'static> {
        let mut r = RequestView::get(peer.parse().unwrap(), "/.tollgate/auth");
        r.host = Some("auth.internal");
        r
    }

    #[test]
    fn a_trusted_front_names_the_method_target_and_host() {
        let fwd = Forwarded {
            method: Some("POST"),
            uri: Some("/login?next=/a"),
            host: Some("shop.example"),
        };
        let r = original(&from("127.0.0.5"), &proxies(), fwd).unwrap();
        assert_eq!(
            (r.method, r.path, r.query),
            ("POST", "/login", Some("next=/a"))
        );
        assert_eq!(r.host, Some("shop.example"));
        let nginx = Forwarded {
            uri: Some("/x"),
            ..Forwarded::default()
        };
        let r = original(&from("127.0.0.5"), &proxies(), nginx).unwrap();
        assert_eq!(
            (r.method, r.path, r.host),
            ("GET", "/x", Some("auth.internal"))
        );
    }

    #[test]
    fn anyone_else_and_malformed_names_are_refused() {
        let fwd = Forwarded {
            uri: Some("/x"),
            ..Forwarded::default()
        };
        assert_eq!(
            original(&from("192.0.2.9"), &proxies(), fwd).err(),
            Some(ForwardedError::Untrusted("192.0.2.9".parse().unwrap()))
        );
        let none = Forwarded::default();
        assert_eq!(
            original(&from("127.0.0.5"), &proxies(), none).err(),
            Some(ForwardedError::NoUri)
        );
        let full = Forwarded {
            uri: Some("https://evil.example/x"),
            ..fwd
        };
        assert!(matches!(
            original(&from("127.0.0.5"), &proxies(), full),
            Err(ForwardedError::NotAPath(_))
        ));
        let method = Forwarded {
            method: Some("get /x HTTP/1.1"),
            ..fwd
        };
        assert!(matches!(
            original(&from("127.0.0.5"), &proxies(), method),
            Err(ForwardedError::BadMethod(_))
        ));
    }
}
