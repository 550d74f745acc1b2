//! The crawler gate: a user agent that claims a `[[crawler]]` must be proved by its address.
//! Proved, the route's limit and challenge give way to the crawler's own limit; disproved, the
//! request is refused; not yet known, the front end is asked to look it up.

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::atomic::Ordering;

use super::Trip;
use crate::crawl::verdicts::Cached;
use crate::crawl::CrawlerLookup;
use crate::verdict::{Decision, Reason};

impl Trip<'_, '_> {
    pub(super) fn crawler(&mut self) -> ControlFlow<Decision> {
        let rules = &self.active.rules;
        let (Some(crawlers), Some(ua)) = (&rules.crawlers, self.ask.req.user_agent) else {
            return Continue(());
        };
        let Some(id) = crawlers.claimed(ua) else {
            return Continue(());
        };
        let def = &crawlers.defs[id];
        if def.networks.contains(self.ip) {
            self.crawler = Some(id);
            return Continue(());
        }
        let unverified = || Break(Decision::deny(403, Reason::CrawlerUnverified));
        if def.rdns.is_empty() {
            return unverified();
        }
        match self.state.crawlers.get(self.ip, id, self.ask.now_ns) {
            Some(Cached::Verified) => {
                self.crawler = Some(id);
                Continue(())
            }
            Some(Cached::Failed) => unverified(),
            Some(Cached::Unknown) => Continue(()),
            None if self.state.lookups.load(Ordering::Relaxed) => {
                let lookup = CrawlerLookup::new(
                    self.ip,
                    def.name.clone(),
                    def.rdns.clone(),
                    crawlers.lookup_timeout,
                );
                Break(Decision::Verify {
                    reason: Reason::CrawlerLookup,
                    lookup: Box::new(lookup),
                })
            }
            None => Continue(()),
        }
    }
}
