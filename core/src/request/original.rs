//! The request a front proxy asks about, in forward-auth mode.
//!
//! nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth` send their own request
//! to tollgate's auth listener and name the client's in headers: `X-Forwarded-Method`,
//! `X-Forwarded-Uri` (nginx: `X-Original-URI`, set by the operator's config) and
//! `X-Forwarded-Host`. Each front sets one URI header itself (overwriting a client's) and copies
//! the client's other headers, so which header names the URI is decided by the endpoint the
//! front asked: nginx's reads only `X-Original-URI`, Caddy's and Traefik's only
//! `X-Forwarded-Uri`. Anyone can send those headers, so they are believed only from a trusted proxy, and the client's address
//! then comes from the configured client-address header, as for any request through a trusted
//! proxy. The rest of the request (user agent, cookies, `Accept`…)
//! is the client's own: the fronts copy it into the auth request.

use thiserror::Error;

use super::cidr::CidrSet;
use super::client::via_trusted_proxy;
use super::key::canonical;
use super::RequestView;

/// Where Caddy and Traefik send their auth requests. Every other path on the auth listener is
/// a request of the client's own (the fronts route `/.tollgate/` there): decided as it is.
pub const AUTH_PATH: &str = "/.tollgate/auth";

/// Where nginx `auth_request` sends its auth requests (see `engine/auth.rs` for its answers).
pub const AUTH_REQUEST_PATH: &str = "/.tollgate/auth-request";

/// Whether `path` is one of the auth requests' paths.
pub fn is_auth_path(path: &str) -> bool {
    path == AUTH_PATH || path == AUTH_REQUEST_PATH
}

/// The headers a front proxy names the original request in, as the front end read them (all
/// of them: which to believe is decided here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forwarded<'a> {
    /// `X-Forwarded-Method`; GET when absent (nginx sends its subrequests as GET).
    pub method: Option<&'a str>,
    /// `X-Forwarded-Uri` (Caddy, Traefik): the path and query as the client sent them.
    pub forwarded_uri: Option<&'a str>,
    /// `X-Original-URI` (nginx, as the README's configuration sets it).
    pub original_uri: Option<&'a str>,
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

/// `auth` (a front proxy's auth request) turned into the client's request it stands for;
/// `None` when `auth` is no auth request (its path is not an auth path): it is its own.
pub fn original<'a>(
    auth: &RequestView<'a>,
    trusted: &CidrSet,
    fwd: Forwarded<'a>,
) -> Result<Option<RequestView<'a>>, ForwardedError> {
    let uri = match auth.path {
        AUTH_REQUEST_PATH => fwd.original_uri,
        AUTH_PATH => fwd.forwarded_uri,
        _ => return Ok(None),
    };
    if !via_trusted_proxy(auth, trusted) {
        return Err(ForwardedError::Untrusted(canonical(auth.peer)));
    }
    let uri = uri.map(str::trim).ok_or(ForwardedError::NoUri)?;
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
    Ok(Some(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> CidrSet {
        CidrSet::new([super::super::cidr::parse_net("127.0.0.0/8").unwrap()])
    }

    fn from(peer: &str) -> RequestView<'static> {
        at(peer, AUTH_PATH)
    }

    fn at(peer: &str, path: &'static str) -> RequestView<'static> {
        let mut r = RequestView::get(peer.parse().unwrap(), path);
        r.host = Some("auth.internal");
        r
    }

    fn decided<'a>(auth: &RequestView<'a>, fwd: Forwarded<'a>) -> RequestView<'a> {
        original(auth, &proxies(), fwd).unwrap().unwrap()
    }

    #[test]
    fn a_trusted_front_names_the_method_target_and_host() {
        let fwd = Forwarded {
            method: Some("POST"),
            forwarded_uri: Some("/login?next=/a"),
            original_uri: None,
            host: Some("shop.example"),
        };
        let r = decided(&from("127.0.0.5"), fwd);
        let got = (r.method, r.path, r.query, r.host);
        assert_eq!(
            got,
            ("POST", "/login", Some("next=/a"), Some("shop.example"))
        );
        let nginx = Forwarded {
            original_uri: Some("/x"),
            ..Forwarded::default()
        };
        let r = decided(&at("127.0.0.5", AUTH_REQUEST_PATH), nginx);
        assert_eq!(
            (r.method, r.path, r.host),
            ("GET", "/x", Some("auth.internal"))
        );
        // Any other path is a request of its own, whatever it carries.
        let own = original(&at("192.0.2.9", "/.tollgate/verify"), &proxies(), nginx);
        assert_eq!(own.map(|r| r.is_none()), Ok(true));
    }

    #[test]
    fn each_endpoint_believes_only_its_own_fronts_uri_header() {
        // A client's own header, copied into the auth request by the front, names nothing.
        let nginx_forged = Forwarded {
            forwarded_uri: Some("/open"),
            original_uri: Some("/protected/a"),
            ..Forwarded::default()
        };
        let r = decided(&at("127.0.0.5", AUTH_REQUEST_PATH), nginx_forged);
        assert_eq!(r.path, "/protected/a");
        let caddy_forged = Forwarded {
            forwarded_uri: Some("/protected/a"),
            original_uri: Some("/open"),
            ..Forwarded::default()
        };
        assert_eq!(
            decided(&from("127.0.0.5"), caddy_forged).path,
            "/protected/a"
        );
        let only_the_other = Forwarded {
            original_uri: Some("/open"),
            ..Forwarded::default()
        };
        assert_eq!(
            original(&from("127.0.0.5"), &proxies(), only_the_other).err(),
            Some(ForwardedError::NoUri)
        );
    }

    #[test]
    fn anyone_else_and_malformed_names_are_refused() {
        let fwd = Forwarded {
            forwarded_uri: Some("/x"),
            ..Forwarded::default()
        };
        let refused = |fwd| original(&from("127.0.0.5"), &proxies(), fwd).err();
        assert_eq!(
            original(&from("192.0.2.9"), &proxies(), fwd).err(),
            Some(ForwardedError::Untrusted("192.0.2.9".parse().unwrap()))
        );
        assert_eq!(refused(Forwarded::default()), Some(ForwardedError::NoUri));
        let full = Forwarded {
            forwarded_uri: Some("https://evil.example/x"),
            ..fwd
        };
        assert!(matches!(refused(full), Some(ForwardedError::NotAPath(_))));
        let method = Forwarded {
            method: Some("get /x HTTP/1.1"),
            ..fwd
        };
        assert!(matches!(
            refused(method),
            Some(ForwardedError::BadMethod(_))
        ));
    }
}
