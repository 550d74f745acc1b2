//! The crawler gates: a user agent that claims a `[[crawler]]` must be proved by its address.
//! Proved, the route's limit and challenge give way to the crawler's own limit; disproved, the
//! request is refused; not yet known, the front end is asked to look it up.
//!
//! Two gates: the claim is judged right after the cheap refusals, so that a lookup is asked for
//! before the request is counted anywhere (the front end decides again once it has the answer,
//! and that request must count once); a refusal waits until after the extreme-rate counter, so a
//! flood of false claims still earns its ban.

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::atomic::Ordering;

use super::Trip;
use crate::crawl::verdicts::Cached;
use crate::crawl::CrawlerLookup;
use crate::verdict::{Decision, Reason};

/// What the client's crawler claim came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Proved: the crawler's index.
    Proved(usize),
    /// Disproved: refused.
    Refused,
    /// Not decidable here (no resolver, or the lookup failed): an ordinary visitor.
    Visitor,
}

impl Trip<'_, '_> {
    /// Judges a crawler claim, or asks for the lookup that can.
    pub(super) fn crawler_claim(&mut self) -> ControlFlow<Decision> {
        let rules = &self.active.rules;
        let (Some(crawlers), Some(ua)) = (&rules.crawlers, self.ask.req.user_agent) else {
            return Continue(());
        };
        let Some(id) = crawlers.claimed(ua) else {
            return Continue(());
        };
        let def = &crawlers.defs[id];
        self.claim = Some(if def.networks.contains(self.ip) {
            Claim::Proved(id)
        } else if def.rdns.is_empty() {
            Claim::Refused
        } else {
            match self.state.crawlers.get(self.ip, id, self.ask.now_ns) {
                Some(Cached::Verified) => Claim::Proved(id),
                Some(Cached::Failed) => Claim::Refused,
                Some(Cached::Unknown) => Claim::Visitor,
                None if self.state.lookups.load(Ordering::Relaxed) => {
                    let lookup = CrawlerLookup::new(
                        self.ip,
                        def.name.clone(),
                        def.rdns.clone(),
                        crawlers.lookup_timeout,
                    );
                    return Break(Decision::Verify {
                        reason: Reason::CrawlerLookup,
                        lookup: Box::new(lookup),
                    });
                }
                None => Claim::Visitor,
            }
        });
        Continue(())
    }

    /// Refuses a disproved claim (after it was counted).
    pub(super) fn crawler_refusal(&self) -> ControlFlow<Decision> {
        match self.claim {
            Some(Claim::Refused) => Break(Decision::deny(403, Reason::CrawlerUnverified)),
            _ => Continue(()),
        }
    }

    /// The crawler the client is proved to be.
    pub(super) fn proved_crawler(&self) -> Option<usize> {
        match self.claim {
            Some(Claim::Proved(id)) => Some(id),
            _ => None,
        }
    }
}
