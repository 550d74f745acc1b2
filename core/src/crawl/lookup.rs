//! One forward-confirmed reverse-DNS check, as data: the front end resolves, the core judges.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Most PTR names of one address that are looked up forward: a hostile reverse zone may list
/// hundreds.
const MAX_CANDIDATES: usize = 4;

/// A lookup the core needs before it can decide a crawler's claim: PTR of [`ip`](Self::ip),
/// then A/AAAA of each [`candidate`](Self::candidates) name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrawlerLookup {
    ip: IpAddr,
    crawler: Arc<str>,
    suffixes: Arc<[String]>,
    timeout: Duration,
}

impl CrawlerLookup {
    pub(crate) fn new(ip: IpAddr, crawler: Arc<str>, suffixes: Arc<[String]>, t: Duration) -> Self {
        Self {
            ip,
            crawler,
            suffixes,
            timeout: t,
        }
    }

    /// The address whose claim is checked.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The crawler it claims to be.
    pub fn crawler(&self) -> &str {
        &self.crawler
    }

    /// The deadline for the whole lookup, PTR and forward queries together.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Of the address's PTR names, those in one of the crawler's domains (at a label boundary:
    /// `crawl-1.googlebot.com` is in `googlebot.com`, `evilgooglebot.com` is not), lowercase
    /// and without the root dot; at most a few.
    pub fn candidates<'n>(&self, ptr_names: impl IntoIterator<Item = &'n str>) -> Vec<String> {
        ptr_names
            .into_iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| self.suffixes.iter().any(|s| in_domain(n, s)))
            .take(MAX_CANDIDATES)
            .collect()
    }

    /// Whether a candidate's forward addresses hold the client's: the claim is proved.
    pub fn confirmed_by(&self, forward: &[IpAddr]) -> bool {
        let ip = crate::request::key::canonical(self.ip);
        forward
            .iter()
            .any(|a| crate::request::key::canonical(*a) == ip)
    }
}

fn in_domain(name: &str, domain: &str) -> bool {
    name == domain || crate::request::route::subdomain_of(name, domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup() -> CrawlerLookup {
        let suffixes: Arc<[String]> = vec!["googlebot.com".into(), "google.com".into()].into();
        let ip = "66.249.66.1".parse().unwrap();
        CrawlerLookup::new(ip, "googlebot".into(), suffixes, Duration::from_secs(2))
    }

    #[test]
    fn candidates_are_names_inside_the_crawlers_domains_only() {
        let names = [
            "crawl-66-249-66-1.GoogleBot.com.",
            "evilgooglebot.com",
            "googlebot.com.attacker.net",
            "google.com",
            "x.google.com.",
        ];
        let got = lookup().candidates(names);
        assert_eq!(
            got,
            [
                "crawl-66-249-66-1.googlebot.com",
                "google.com",
                "x.google.com"
            ]
        );
    }

    #[test]
    fn a_hostile_reverse_zone_gets_a_few_forward_lookups_only() {
        let many: Vec<String> = (0..100).map(|i| format!("h{i}.googlebot.com")).collect();
        let got = lookup().candidates(many.iter().map(String::as_str));
        assert_eq!(got.len(), MAX_CANDIDATES);
    }

    #[test]
    fn the_forward_answer_must_hold_the_address_itself() {
        let l = lookup();
        assert!(l.confirmed_by(&["66.249.66.1".parse().unwrap()]));
        assert!(l.confirmed_by(&["::ffff:66.249.66.1".parse().unwrap()]));
        assert!(!l.confirmed_by(&["66.249.66.2".parse().unwrap()]));
        assert!(!l.confirmed_by(&[]));
    }
}
