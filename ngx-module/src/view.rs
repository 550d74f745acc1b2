//! An nginx request as the core's [`RequestView`]: borrowed header values, connection facts
//! from nginx itself (HTTP version, requests on the connection, TLS), and the client address
//! as the realip module left it.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;

#[cfg(ngx_http_v3)]
use ngx::ffi::NGX_HTTP_VERSION_30;
use ngx::ffi::{
    ngx_connection_t, ngx_http_request_t, ngx_list_part_t, ngx_pnalloc, ngx_str_t, ngx_table_elt_t,
    sockaddr_in, sockaddr_in6, AF_INET, AF_INET6, NGX_HTTP_VERSION_10, NGX_HTTP_VERSION_20,
    NGX_HTTP_VERSION_9,
};
use ngx::http::Request;
use tollgate_core::UNKNOWN_PEER;
use tollgate_core::{ConnectionView, HttpVersion, RequestView};

/// Text the view could not borrow: repeated headers joined the way the core expects, and bytes
/// that were not UTF-8 (decoded lossily, so one stray byte can neither hide a path from its
/// route nor a forwarding header from the core, as in the proxy).
#[derive(Default)]
pub struct Joined {
    cookie: Option<String>,
    forwarded_for: Option<String>,
    client_ip_header: Option<String>,
    target: Option<String>,
    uri: Option<String>,
}

fn text(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

/// `v` as text, lossily for the headers whose absence would change who the client is.
fn lossy(v: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(v)
}

/// Adds one occurrence of a header. The first stays borrowed when it is valid UTF-8; once
/// anything had to be owned (a repeat, or lossy bytes), `all` holds every value so far.
fn join<'a>(first: &mut Option<&'a str>, all: &mut Option<String>, value: Cow<'a, str>, sep: &str) {
    if let Some(s) = all {
        s.push_str(sep);
        s.push_str(&value);
        return;
    }
    *all = match (*first, value) {
        (None, Cow::Borrowed(v)) => {
            *first = Some(v);
            None
        }
        (None, Cow::Owned(v)) => Some(v),
        (Some(f), v) => Some(format!("{f}{sep}{v}")),
    };
}

/// The core's view of `req`, in one pass over its headers (no allocation unless a cookie or
/// forwarding header repeats). `joined` holds what had to be joined.
/// `ip_header` is the engine's `with_client_ip_header` name: the header read into
/// `client_ip_header`.
pub fn view<'a>(
    req: &'a Request,
    joined: &'a mut Joined,
    ip_header: Option<&str>,
) -> RequestView<'a> {
    let r: &ngx_http_request_t = req.as_ref();
    // The target as sent, checked for ambiguity and kept for the return URL; rules match the
    // URI nginx routes on (decoded, after the rewrite phase), canonicalised by the core.
    let raw = req.unparsed_uri().as_bytes();
    let target: &str = match lossy(raw) {
        Cow::Borrowed(t) => t,
        Cow::Owned(t) => joined.target.insert(t),
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut v = RequestView::get(peer(req.connection()), path);
    v.routed_path = Some(match lossy(r.uri.as_bytes()) {
        Cow::Borrowed(u) => u,
        Cow::Owned(u) => joined.uri.insert(u),
    });
    v.host = None; // set below from the request's own Host, if it has one
    v.resolved_by_front_end = crate::realip::rewrote(r);
    v.tls_hello = crate::hello::of(r);
    v.conn = connection(r);
    v.method = text(r.method_name.as_bytes()).unwrap_or("");
    v.query = query;
    let (mut cookie, mut xff, mut named) = (None, None, None);
    for (name, value) in req.headers_in_iterator() {
        let name = name.as_bytes();
        let is = |h: &str| name.eq_ignore_ascii_case(h.as_bytes());
        if is("cookie") {
            join(
                &mut cookie,
                &mut joined.cookie,
                lossy(value.as_bytes()),
                "; ",
            );
            continue;
        }
        if is("x-forwarded-for") {
            join(
                &mut xff,
                &mut joined.forwarded_for,
                lossy(value.as_bytes()),
                ",",
            );
            continue;
        }
        if ip_header.is_some_and(is) {
            join(
                &mut named,
                &mut joined.client_ip_header,
                lossy(value.as_bytes()),
                ",",
            );
            continue;
        }
        let Some(value) = text(value.as_bytes()) else {
            continue;
        };
        let slot = if is("host") {
            &mut v.host
        } else if is("user-agent") {
            &mut v.user_agent
        } else if is("x-forwarded-proto") {
            &mut v.forwarded_proto
        } else if is("accept-language") {
            &mut v.accept_language
        } else if is("accept") {
            &mut v.accept
        } else if is("accept-encoding") {
            &mut v.accept_encoding
        } else if is("connection") {
            &mut v.connection
        } else if is("sec-fetch-site") {
            &mut v.sec_fetch_site
        } else if is("sec-fetch-mode") {
            &mut v.sec_fetch_mode
        } else if is("sec-fetch-dest") {
            &mut v.sec_fetch_dest
        } else if is("content-type") {
            &mut v.content_type
        } else {
            continue;
        };
        slot.get_or_insert(value); // first value of each, as the proxy does
    }
    v.cookie = joined.cookie.as_deref().or(cookie);
    v.forwarded_for = joined.forwarded_for.as_deref().or(xff);
    v.client_ip_header = joined.client_ip_header.as_deref().or(named);
    v
}

/// TLS, protocol and the request's place on its connection, as nginx counts them.
fn connection(r: &ngx_http_request_t) -> ConnectionView {
    let version = match r.http_version as u32 {
        NGX_HTTP_VERSION_9 | NGX_HTTP_VERSION_10 => HttpVersion::Http10,
        NGX_HTTP_VERSION_20 => HttpVersion::H2,
        #[cfg(ngx_http_v3)]
        NGX_HTTP_VERSION_30 => HttpVersion::H3,
        _ => HttpVersion::Http11,
    };
    // SAFETY: a request's connection is live for the request; on HTTP/2 `r->connection` is a
    // per-stream copy whose count is stale, and the stream points at the real one.
    let (tls, requests) = unsafe {
        let c = &*r.connection;
        let counted: *const ngx_connection_t = if r.stream.is_null() {
            r.connection
        } else {
            (*(*r.stream).connection).connection
        };
        (!c.ssl.is_null(), (*counted).requests)
    };
    ConnectionView {
        tls,
        version,
        requests: u32::try_from(requests).unwrap_or(u32::MAX),
    }
}

/// The client address (after realip, when it is configured).
fn peer(c: *mut ngx_connection_t) -> IpAddr {
    // SAFETY: a request's connection and its sockaddr are live for the request; the family
    // says which sockaddr type it is.
    unsafe {
        let sa = (*c).sockaddr;
        if sa.is_null() {
            return UNKNOWN_PEER;
        }
        match u32::from((*sa).sa_family) {
            AF_INET => {
                let sin = &*sa.cast::<sockaddr_in>();
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            AF_INET6 => {
                let sin6 = &*sa.cast::<sockaddr_in6>();
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.__in6_u.__u6_addr8))
            }
            _ => UNKNOWN_PEER,
        }
    }
}

/// Rewrites the request's `Cookie` headers to `value` (the core's forwarding decision: the
/// clearance cookie taken out), which nginx's proxy, FastCGI and the `$cookie_` variables then
/// read. A list entry cannot be removed (other header fields point into the list), so the first
/// `Cookie` header carries the value and later ones are emptied. An empty value leaves
/// `Cookie:` empty, which reads as no cookie.
///
/// # Safety
/// `r` must be a live request with nothing borrowing its headers.
pub unsafe fn replace_cookie(r: *mut ngx_http_request_t, value: &str) {
    // SAFETY: the header list and its parts belong to the live request; each part's `elts`
    // holds `nelts` table entries; the copy of `value` lives in the request's pool.
    unsafe {
        let pool = (*r).pool;
        let mut part: *mut ngx_list_part_t = &mut (*r).headers_in.headers.part;
        let mut first = true;
        while !part.is_null() {
            let elts = (*part).elts.cast::<ngx_table_elt_t>();
            for i in 0..(*part).nelts {
                let h = &mut *elts.add(i);
                if !h.key.as_bytes().eq_ignore_ascii_case(b"cookie") {
                    continue;
                }
                h.value.len = 0;
                if first && !value.is_empty() {
                    let p = ngx_pnalloc(pool, value.len()).cast::<u8>();
                    if !p.is_null() {
                        ptr::copy_nonoverlapping(value.as_ptr(), p, value.len());
                        h.value = ngx_str_t {
                            len: value.len(),
                            data: p,
                        };
                    }
                }
                first = false;
            }
            part = (*part).next;
        }
    }
}
