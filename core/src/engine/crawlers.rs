//! What a front end with a resolver does for the crawler gate: say that it runs lookups, and
//! hand back what each one found.

use std::sync::atomic::Ordering;

use super::Engine;
use crate::clock::NS_PER_SEC;
use crate::crawl::verdicts::Cached;
use crate::crawl::{CrawlerLookup, UNKNOWN_TTL_SECS};

impl Engine {
    /// This front end runs the lookups [`Decision::Verify`](crate::Decision::Verify) asks for.
    /// Without it, a claim that only DNS could prove is not believed, and the claimant is
    /// treated as any other visitor (neither exempt nor refused).
    pub fn enable_crawler_lookups(&self) {
        self.state.lookups.store(true, Ordering::Relaxed);
    }

    /// Records what `lookup` found: `Some(true)` the claim is proved, `Some(false)` it is not
    /// (no PTR name in the crawler's domains, or none that resolves back to the address),
    /// `None` the lookup did not finish (deadline, resolver failure). Kept for the rules'
    /// `verified_ttl_secs` / `unverified_ttl_secs`, or a minute when unknown.
    pub fn record_crawler(&self, lookup: &CrawlerLookup, proved: Option<bool>) {
        let rules = self.rules();
        let Some(crawlers) = &rules.crawlers else {
            return;
        };
        // Looked up under rules since reloaded: judged by the crawler's current definition.
        let Some(id) = crawlers.named(lookup.crawler()) else {
            return;
        };
        let (cached, ttl) = match proved {
            Some(true) => (Cached::Verified, crawlers.verified_ttl_secs),
            Some(false) => (Cached::Failed, crawlers.unverified_ttl_secs),
            None => (
                Cached::Unknown,
                UNKNOWN_TTL_SECS.min(crawlers.unverified_ttl_secs),
            ),
        };
        let now = self.clock.now_ns();
        let until = now.saturating_add(ttl.saturating_mul(NS_PER_SEC));
        self.state.crawlers.put(lookup.ip(), id, cached, until, now);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::rules::{parse_rules, FsReader};
    use crate::toll::Keyring;
    use crate::verdict::{Decision, Kind, Reason};
    use crate::{CoreClock, Engine, RequestView};

    const RULES: &str = r#"
[crawlers]
verified_ttl_secs = 3600
unverified_ttl_secs = 300
[[crawler]]
name = "googlebot"
user_agent = "Googlebot"
rdns = ["googlebot.com"]
[[route]]
name = "site"
path_prefix = "/"
action = "challenge"
"#;
    const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1)";

    fn engine() -> Engine {
        let rules = parse_rules(RULES, Path::new("t.toml"), &FsReader).unwrap();
        let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
        Engine::new(rules, keys, CoreClock::manual(1_000_000_000_000))
    }

    /// The lookup `ip`'s claim asks for; panics if it asks for none.
    fn asked(e: &Engine, ip: &str) -> crate::CrawlerLookup {
        match decide(e, ip) {
            Decision::Verify { lookup, .. } => *lookup,
            d => panic!("{ip}: a lookup should be asked for, not {d:?}"),
        }
    }

    fn decide(e: &Engine, ip: &str) -> Decision {
        let mut v = RequestView::get(ip.parse().unwrap(), "/page");
        v.host = Some("example.com");
        v.user_agent = Some(GOOGLEBOT);
        e.decide(&v).decision
    }

    #[test]
    fn without_lookups_a_dns_only_claim_is_an_ordinary_visitor() {
        let e = engine();
        assert_eq!(decide(&e, "66.249.66.1").reason(), Reason::RouteChallenge);
    }

    #[test]
    fn a_lookup_is_asked_for_once_and_its_outcome_decides() {
        let e = engine();
        e.enable_crawler_lookups();
        let lookup = asked(&e, "66.249.66.1");
        assert_eq!(lookup.crawler(), "googlebot");
        e.record_crawler(&lookup, Some(true));
        assert_eq!(decide(&e, "66.249.66.1").reason(), Reason::CrawlerVerified);

        let lookup = asked(&e, "203.0.113.9");
        e.record_crawler(&lookup, Some(false));
        let refused = decide(&e, "203.0.113.9");
        assert_eq!(
            (refused.kind(), refused.reason()),
            (Kind::Deny, Reason::CrawlerUnverified)
        );

        let lookup = asked(&e, "198.51.100.7");
        e.record_crawler(&lookup, None);
        assert_eq!(decide(&e, "198.51.100.7").reason(), Reason::RouteChallenge);
    }

    #[test]
    fn verdicts_expire_with_their_ttl() {
        let e = engine();
        e.enable_crawler_lookups();
        let lookup = asked(&e, "203.0.113.9");
        e.record_crawler(&lookup, Some(false));
        e.clock.advance(std::time::Duration::from_secs(299));
        assert_eq!(
            decide(&e, "203.0.113.9").reason(),
            Reason::CrawlerUnverified
        );
        e.clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(decide(&e, "203.0.113.9").kind(), Kind::Verify);
    }
}
