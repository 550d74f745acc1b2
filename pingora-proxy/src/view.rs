//! Translating a Pingora request into the core's [`RequestView`].

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, Version};
use pingora::proxy::Session;
use tollgate_core::UNKNOWN_PEER;
use tollgate_core::{ConnectionView, Forwarded, HttpVersion, RequestView, TlsHello};

use crate::hello::Hellos;

/// Header values the view borrows; joined only when a header repeats.
pub struct Headers<'a> {
    pub forwarded_for: Option<Cow<'a, str>>,
    pub cookie: Option<Cow<'a, str>>,
    /// The rules' `client_ip_header`, when it is not `X-Forwarded-For`.
    pub client_ip_header: Option<Cow<'a, str>>,
}

/// The TCP peer's address.
pub fn peer(session: &Session) -> IpAddr {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map_or(UNKNOWN_PEER, |a| a.ip())
}

/// The headers that may repeat; `ip_header` is the engine's `client_ip_header`.
pub fn headers<'a>(session: &'a Session, ip_header: Option<&str>) -> Headers<'a> {
    let headers = &session.req_header().headers;
    Headers {
        forwarded_for: joined(headers, "x-forwarded-for", ", "),
        cookie: joined(headers, "cookie", "; "),
        client_ip_header: ip_header.and_then(|name| joined(headers, name, ",")),
    }
}

/// The ClientHello of a TLS connection, found by its socket's cookie (a `getsockopt` and a
/// table lookup: done once per HTTP/1.x connection, and never for cleartext).
pub fn hello(session: &Session, hellos: &Hellos) -> Option<Arc<TlsHello>> {
    let digest = session.digest()?;
    digest.ssl_digest.as_ref()?;
    let cookie = digest.socket_digest.as_ref()?.socket_cookie().ok()?;
    hellos.get(cookie)
}

/// The connection's facts: TLS and ALPN come from Pingora's per-connection digest (set once at
/// the handshake); `requests` is the count the proxy carries across keep-alive requests.
pub fn connection(session: &Session, requests: u32) -> ConnectionView {
    let version = match session.req_header().version {
        Version::HTTP_09 | Version::HTTP_10 => HttpVersion::Http10,
        Version::HTTP_2 => HttpVersion::H2,
        Version::HTTP_3 => HttpVersion::H3,
        _ => HttpVersion::Http11,
    };
    ConnectionView {
        tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        version,
        requests,
    }
}

/// Builds the view; `owned` must come from [`headers`] on the same session.
pub fn view<'a>(
    session: &'a Session,
    owned: &'a Headers<'a>,
    conn: ConnectionView,
    hello: Option<&'a TlsHello>,
) -> RequestView<'a> {
    let req = session.req_header();
    let host = req
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header(&req.headers, "host"));
    let h = &req.headers;
    RequestView {
        peer: peer(session),
        conn,
        method: req.method.as_str(),
        host,
        path: req.uri.path(),
        routed_path: None,
        user_agent: header(&req.headers, "user-agent"),
        forwarded_for: owned.forwarded_for.as_deref(),
        client_ip_header: owned.client_ip_header.as_deref(),
        forwarded_proto: header(h, "x-forwarded-proto"),
        query: req.uri.query(),
        cookie: owned.cookie.as_deref(),
        accept_language: header(h, "accept-language"),
        accept: header(h, "accept"),
        accept_encoding: header(h, "accept-encoding"),
        connection: header(h, "connection"),
        sec_fetch_site: header(h, "sec-fetch-site"),
        sec_fetch_mode: header(h, "sec-fetch-mode"),
        sec_fetch_dest: header(h, "sec-fetch-dest"),
        content_type: header(h, "content-type"),
        tls_hello: hello,
        resolved_by_front_end: false, // believed forwarding is the core's to resolve
    }
}

/// The headers a front proxy names the request it asks about in (the core decides which of
/// them an auth request's endpoint believes).
pub fn forwarded(session: &Session) -> Forwarded<'_> {
    let h = &session.req_header().headers;
    Forwarded {
        method: header(h, "x-forwarded-method"),
        forwarded_uri: header(h, "x-forwarded-uri"),
        original_uri: header(h, "x-original-uri"),
        host: header(h, "x-forwarded-host"),
    }
}

/// First value of `name` as text; a non-UTF-8 value counts as absent.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// All values of `name` joined with `sep` (", " for RFC 9110 lists, "; " for cookies, which
/// HTTP/2 clients may split over several fields), borrowed when there is one.
/// Non-UTF-8 bytes become U+FFFD rather than dropping the value: a present-but-garbled
/// `X-Forwarded-For` must read as a malformed hop, never as "no header" (which would let a client
/// behind a trusted proxy fall back to a forged `X-Real-IP`).
fn joined<'a>(headers: &'a HeaderMap, name: &str, sep: &str) -> Option<Cow<'a, str>> {
    let mut values = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let first = values.next()?;
    match values.next() {
        None => Some(first),
        Some(second) => {
            let mut all = format!("{first}{sep}{second}");
            for v in values {
                all.push_str(sep);
                all.push_str(&v);
            }
            Some(Cow::Owned(all))
        }
    }
}
