//! The request as the core sees it, and who sent it.
//!
//! A front end fills a [`RequestView`] with borrowed strings. From it the core finds the real
//! client (trusted proxies only) and the [`ClientKey`] it is counted under, the path as the
//! upstream will understand it, list membership ([`CidrSet`]) and the first [`Route`] that
//! matches.

pub(crate) mod cidr;
pub(crate) mod client;
pub(crate) mod cookie;
pub(crate) mod forward;
pub(crate) mod glob;
pub(crate) mod hello;
pub(crate) mod key;
pub(crate) mod original;
pub(crate) mod path;
pub(crate) mod route;
mod view;

pub use cidr::CidrSet;
pub use client::IpHeader;
pub use forward::{Forwarding, STRIPPED_HEADERS};
pub use hello::{HelloError, TlsHello, MAX_HELLO_RECORD};
pub use key::{ClientKey, UNKNOWN_PEER};
pub use original::{is_auth_path, Forwarded, ForwardedError, AUTH_PATH, AUTH_REQUEST_PATH};
pub use path::{canonical as canonical_path, Ambiguity, Canonical};
pub use route::{host_without_port, Action, Route, RouteId};
pub use view::{ConnectionView, HttpVersion, RequestView};
