//! Route rules: which requests get which action.
//!
//! Rules are tried in file order and the first match wins, so operators write specific rules
//! (`/login`) before general ones. A rule matches when every condition it sets matches.

use std::sync::Arc;

use regex::Regex;

use super::glob::PathGlobs;
use super::path::PathPrefix;
use super::RequestView;
use crate::limit::Quota;
use crate::toll::Puzzle;

/// A route by its position in the rules that compiled it; valid for those rules only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteId(usize);

impl RouteId {
    pub(crate) fn new(index: usize) -> Self {
        RouteId(index)
    }

    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// What a matched route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Proxy without a rate limit (the extreme threshold still counts).
    Allow,
    /// Refuse with the rule's status.
    Deny { status: u16 },
    /// Apply the rule's own quota, or the default one.
    Limit,
    /// Require a solved challenge, after the rate limit.
    Challenge,
}

/// One compiled route rule.
#[derive(Clone, Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub path_prefix: Option<PathPrefix>,
    /// Glob patterns on the canonical path (any of them); `None`: any path.
    pub paths: Option<PathGlobs>,
    /// Upper-case method names; empty means any method.
    pub methods: Vec<String>,
    /// Lower-case host; `*.example.com` matches subdomains.
    pub host: Option<String>,
    pub user_agent: Option<Regex>,
    /// JA4 fingerprints of the TLS ClientHello (any of them); a request without one (cleartext,
    /// or TLS ended elsewhere) never matches.
    pub ja4: Vec<String>,
    pub action: Action,
    /// A quota of this route's own (`None`: the default quota).
    pub quota: Option<Quota>,
    /// For `challenge` routes, the puzzle to pay (before any penalty).
    pub puzzle: Option<Puzzle>,
    /// For `challenge` routes: a score in a band with `pass = true` passes without a puzzle.
    pub pass_on_score: bool,
    /// Requests may switch protocols (WebSocket): their `Upgrade` header reaches the upstream.
    /// After a 101 the connection's bytes flow unmetered, so this is off unless a route says so.
    pub upgrade: bool,
    /// For `challenge` routes (`nojs = "wait"`): a visitor without JavaScript may pay in time,
    /// following the page's delayed link to a clearance with a smaller budget.
    pub nojs_wait: bool,
}

impl Route {
    /// Whether the rule matches `req`, whose canonical path (see `request::path`) is `path`.
    pub fn matches(&self, req: &RequestView<'_>, path: &str) -> bool {
        if let Some(prefix) = &self.path_prefix {
            if !prefix.covers(path) {
                return false;
            }
        }
        if let Some(globs) = &self.paths {
            if !globs.matches(path) {
                return false;
            }
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == req.method) {
            return false;
        }
        if let Some(want) = &self.host {
            if !host_matches(want, req.host.unwrap_or("")) {
                return false;
            }
        }
        if let Some(re) = &self.user_agent {
            if !re.is_match(req.user_agent.unwrap_or("")) {
                return false;
            }
        }
        if !self.ja4.is_empty() {
            let seen = req.tls_hello.map(|h| h.ja4.as_str());
            if !seen.is_some_and(|j| self.ja4.iter().any(|want| want == j)) {
                return false;
            }
        }
        true
    }
}

/// The first route matching `req`, by the canonical form of its path.
pub fn first_match(routes: &[Route], req: &RequestView<'_>) -> Option<RouteId> {
    if routes.is_empty() {
        return None;
    }
    let path = super::path::canonical(req.path).path;
    match_canonical(routes, req, &path)
}

/// The first route matching `req`, whose canonical path is `path`.
pub fn match_canonical(routes: &[Route], req: &RequestView<'_>, path: &str) -> Option<RouteId> {
    routes
        .iter()
        .position(|r| r.matches(req, path))
        .map(RouteId)
}

fn host_matches(want: &str, host: &str) -> bool {
    // `example.com.` is the same name as `example.com`.
    let host = host_without_port(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    match want.strip_prefix("*.") {
        Some(suffix) => subdomain_of(host, suffix),
        None => host.eq_ignore_ascii_case(want),
    }
}

/// Whether `name` is a subdomain of `domain` (at a label boundary, ASCII case ignored):
/// `a.example.com` is in `example.com`, `example.com` itself and `badexample.com` are not.
pub(crate) fn subdomain_of(name: &str, domain: &str) -> bool {
    // Byte slices: a non-ASCII name must not split a character and panic.
    let (h, s) = (name.as_bytes(), domain.as_bytes());
    h.len() > s.len() + 1
        && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
        && h[h.len() - s.len() - 1] == b'.'
}

/// A `Host` value without its port: `name:port` → `name`, `[v6]:port` → `[v6]`; a bare IPv6
/// literal stays whole.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert!(host_matches("example.com", "Example.com:8080"));
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert!(host_matches("[::1]", "[::1]:80"));
        assert!(!host_matches("a.com", ""));
        assert!(host_matches("admin.example.com", "admin.example.com."));
        assert_eq!(host_without_port("localhost:9180"), "localhost");
        assert_eq!(host_without_port("[::1]:9180"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port("evil.example:x"), "evil.example:x");
        assert!(!host_matches("*.a.com", "ééééééé.a.co"));
    }
}
