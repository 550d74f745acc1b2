//! The request as the core sees it: borrowed strings, no framework types.

use std::net::IpAddr;

use crate::request::TlsHello;

/// The protocol a request arrived in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpVersion {
    Http10,
    #[default]
    Http11,
    H2,
    H3,
}

/// Facts about the connection a request came on. A front end gathers them once per connection
/// (the TLS handshake and ALPN decide them) and counts the requests it carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionView {
    /// The request arrived over TLS terminated by the front end.
    pub tls: bool,
    pub version: HttpVersion,
    /// 1-based index of this request on its connection; 0 when the front end cannot tell
    /// (HTTP/2 streams in Pingora).
    pub requests: u32,
}

/// Everything the core reads from one request. Front ends fill it from their own request type.
#[derive(Clone, Debug)]
pub struct RequestView<'a> {
    /// Address of the TCP peer (the client, or a proxy in front of us).
    pub peer: IpAddr,
    pub conn: ConnectionView,
    pub method: &'a str,
    /// `Host` header or HTTP/2 `:authority`, possibly with a port.
    pub host: Option<&'a str>,
    /// Path as sent, without the query. The core computes the canonical path rules match.
    pub path: &'a str,
    /// The path the server itself routes on, already percent-decoded, when it differs from
    /// `path` (nginx's URI after its rewrite phase). Rules match its canonical form; `path`
    /// is still checked for ambiguity.
    pub routed_path: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// `X-Forwarded-For`, all occurrences joined with `,` in order.
    pub forwarded_for: Option<&'a str>,
    /// The value of `[clients] client_ip_header` when it is not `X-Forwarded-For` (the front end
    /// reads the header [`Engine::client_ip_header`](crate::Engine::client_ip_header) names;
    /// several occurrences joined with `,`).
    pub client_ip_header: Option<&'a str>,
    /// `X-Forwarded-Proto`, believed from trusted proxies only.
    pub forwarded_proto: Option<&'a str>,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// `Cookie`, all occurrences joined with "; ".
    pub cookie: Option<&'a str>,
    /// `Accept-Language`: the challenge page's language, and a browser trait.
    pub accept_language: Option<&'a str>,
    /// The headers environment scoring reads (first value of each).
    pub accept: Option<&'a str>,
    pub accept_encoding: Option<&'a str>,
    /// `Connection` (HTTP/1.x only).
    pub connection: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    pub sec_fetch_mode: Option<&'a str>,
    /// `Sec-Fetch-Dest`: a document or one of its assets (request rhythm tells them apart).
    pub sec_fetch_dest: Option<&'a str>,
    /// The front end itself replaced the TCP peer with the client a proxy named (nginx's realip
    /// module): the connection, like a trusted proxy's, says nothing about the client.
    pub resolved_by_front_end: bool,
    /// The ClientHello this connection opened with, when TLS ended at this front end.
    pub tls_hello: Option<&'a TlsHello>,
    /// `Content-Type` (CSP reports are recognised by it).
    pub content_type: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// A GET for `path` from `peer` over plain HTTP/1.1 with `Host: localhost` and no other
    /// headers: the start of most tests.
    pub fn get(peer: IpAddr, path: &'a str) -> Self {
        Self {
            peer,
            conn: ConnectionView {
                tls: false,
                version: HttpVersion::Http11,
                requests: 1,
            },
            method: "GET",
            host: Some("localhost"),
            path,
            routed_path: None,
            user_agent: None,
            forwarded_for: None,
            client_ip_header: None,
            forwarded_proto: None,
            query: None,
            cookie: None,
            accept_language: None,
            accept: None,
            accept_encoding: None,
            connection: None,
            sec_fetch_site: None,
            sec_fetch_mode: None,
            sec_fetch_dest: None,
            content_type: None,
            tls_hello: None,
            resolved_by_front_end: false,
        }
    }
}
