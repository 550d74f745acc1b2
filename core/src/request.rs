//! The request as the core sees it: borrowed strings, no framework types.

use std::net::IpAddr;

/// Everything the core reads from one request. Front ends fill it from their own request type.
#[derive(Clone, Debug)]
pub struct RequestView<'a> {
    /// Address of the TCP peer (the client, or a proxy in front of us).
    pub peer: IpAddr,
    pub method: &'a str,
    /// `Host` header or HTTP/2 `:authority`, possibly with a port.
    pub host: Option<&'a str>,
    /// Path as sent, without the query.
    pub path: &'a str,
    pub user_agent: Option<&'a str>,
    /// `X-Forwarded-For`, all occurrences joined with `,` in order.
    pub forwarded_for: Option<&'a str>,
    /// `X-Real-IP`.
    pub real_ip: Option<&'a str>,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// `Cookie`, all occurrences joined with "; ".
    pub cookie: Option<&'a str>,
    /// `Accept-Language`, for the challenge page's language.
    pub accept_language: Option<&'a str>,
    /// The request arrived over TLS.
    pub tls: bool,
}

impl<'a> RequestView<'a> {
    /// A GET for `path` from `peer` with no other headers: the start of most tests.
    pub fn get(peer: IpAddr, path: &'a str) -> Self {
        Self {
            peer,
            method: "GET",
            host: None,
            path,
            user_agent: None,
            forwarded_for: None,
            real_ip: None,
            query: None,
            cookie: None,
            accept_language: None,
            tls: false,
        }
    }
}
