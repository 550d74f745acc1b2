//! Verified crawlers: search engines and feed fetchers cannot solve a challenge, so a site that
//! challenges every page would drop out of search. A request whose user agent claims a known
//! crawler is believed only when its address proves it: inside the crawler's published networks,
//! or by forward-confirmed reverse DNS (the address's PTR name ends with one of the crawler's
//! domains, and that name's A/AAAA records hold the address).
//!
//! DNS is I/O, so the core only decides *that* a lookup is needed ([`CrawlerLookup`]) and what
//! its answers prove; a front end with a resolver runs it and hands the outcome back, which is
//! remembered in a bounded cache ([`verdicts`]).

mod lookup;
pub(crate) mod verdicts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use regex::RegexSet;

pub use lookup::CrawlerLookup;

use crate::limit::Quota;
use crate::request::CidrSet;

/// Most `[[crawler]]` definitions one rules file may hold (a verdict names its crawler in 8 bits).
pub(crate) const MAX_CRAWLERS: usize = 256;

/// One `[[crawler]]` definition, compiled.
#[derive(Clone, Debug)]
pub struct Crawler {
    pub name: Arc<str>,
    /// Domains its reverse-DNS names end with (lowercase, without the leading dot); empty: the
    /// crawler is known by its networks only.
    pub rdns: Arc<[String]>,
    /// Addresses it publishes; a claimant from one of them needs no lookup.
    pub networks: CidrSet,
    /// The limit a verified crawler is held to, per client key, instead of the route's.
    pub quota: Quota,
}

/// `[crawlers]` and its definitions, compiled.
#[derive(Clone, Debug)]
pub struct CrawlerRules {
    pub defs: Vec<Crawler>,
    /// Every definition's user-agent pattern, in definition order.
    agents: RegexSet,
    /// How long a lookup may take; past it the claimant is treated as an ordinary visitor.
    pub lookup_timeout: Duration,
    /// How long a confirmed address stays confirmed.
    pub verified_ttl_secs: u64,
    /// How long a failed verification stays failed.
    pub unverified_ttl_secs: u64,
    /// The resolver front ends ask; `None`: the system's.
    pub resolver: Option<SocketAddr>,
}

/// What a lookup that ran out of time or met a broken resolver is remembered as: long enough
/// not to hammer a sick resolver, short enough not to hold a real crawler up.
pub(crate) const UNKNOWN_TTL_SECS: u64 = 60;

impl CrawlerRules {
    pub(crate) fn new(defs: Vec<Crawler>, agents: RegexSet, settings: CrawlerSettings) -> Self {
        Self {
            defs,
            agents,
            lookup_timeout: settings.lookup_timeout,
            verified_ttl_secs: settings.verified_ttl_secs,
            unverified_ttl_secs: settings.unverified_ttl_secs,
            resolver: settings.resolver,
        }
    }

    /// The first crawler (in definition order) whose user agent `ua` claims to be.
    pub(crate) fn claimed(&self, ua: &str) -> Option<usize> {
        // Most user agents claim no crawler: the yes/no search is the cheaper one.
        if !self.agents.is_match(ua) {
            return None;
        }
        self.agents.matches(ua).iter().next()
    }

    /// The definition called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| *d.name == *name)
    }
}

/// The `[crawlers]` settings besides the definitions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrawlerSettings {
    pub lookup_timeout: Duration,
    pub verified_ttl_secs: u64,
    pub unverified_ttl_secs: u64,
    pub resolver: Option<SocketAddr>,
}
