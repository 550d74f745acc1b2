//! The rules in force and the limiters compiled for them: swapped as one on reload.

use std::sync::Arc;

use crate::limit::limiter::Limiter;
use crate::request::RouteId;
use crate::rules::Rules;
use crate::toll::TollLimiters;

/// Rules plus the limiters compiled for them.
#[derive(Debug)]
pub(crate) struct Active {
    pub rules: Arc<Rules>,
    pub limiters: Limiters,
}

#[derive(Debug, Default)]
pub(crate) struct Limiters {
    pub default: Option<Limiter>,
    /// One per route, `None` where the route uses the default quota or none.
    pub routes: Vec<Option<Limiter>>,
    pub extreme: Option<Limiter>,
    pub violations: Option<Limiter>,
    /// Per clearance cookie (keyed by its serial).
    pub clearance: Option<Limiter>,
    /// Clearances granted per client key.
    pub grants: Option<Limiter>,
    /// Passes on score per client key.
    pub passes: Option<Limiter>,
    /// Accepted answers per client key and challenge lifetime.
    pub solved: Option<Limiter>,
    /// Requests per client network (`[networks]`), and its refusals toward a network ban.
    pub network: Option<Limiter>,
    pub network_violations: Option<Limiter>,
    /// One per `[[crawler]]`, for it once verified.
    pub crawlers: Vec<Option<Limiter>>,
}

impl Limiters {
    /// The limiter `route` applies: its own, else the default.
    pub fn for_route(&self, route: RouteId) -> Option<&Limiter> {
        match self.routes.get(route.index()) {
            Some(Some(own)) => Some(own),
            _ => self.default.as_ref(),
        }
    }

    /// The limiter whose store is `name` (in a fleet, where every limiter has one).
    pub fn named(&self, name: &str) -> Option<&Limiter> {
        let fixed = [
            &self.default,
            &self.extreme,
            &self.violations,
            &self.clearance,
            &self.grants,
            &self.passes,
            &self.solved,
            &self.network,
            &self.network_violations,
        ];
        let all = fixed.into_iter().chain(&self.routes).chain(&self.crawlers);
        all.flatten().find(|l| l.name() == Some(name))
    }

    /// The limiters the toll applies itself.
    pub fn toll(&self) -> TollLimiters<'_> {
        TollLimiters {
            clearance: self.clearance.as_ref(),
            grants: self.grants.as_ref(),
            passes: self.passes.as_ref(),
            solved: self.solved.as_ref(),
        }
    }
}
