//! What a client pays: the route's puzzle, harder by its offences, easier or harder by its
//! score's band.

use super::{Ask, Puzzle, Tolls};
use crate::clock::NS_PER_SEC;
use crate::request::RouteId;
use crate::rules::Rules;

impl Tolls {
    /// The puzzle `route` asks for before penalties (the `[challenge]` default if none).
    pub(super) fn base_puzzle(&self, rules: &Rules, route: Option<RouteId>) -> Puzzle {
        route
            .and_then(|id| rules.route(id))
            .and_then(|r| r.puzzle)
            .unwrap_or(rules.challenge.puzzle)
    }

    /// The puzzle client `ask` must solve for `route` now.
    pub(super) fn required(&self, ask: &Ask<'_, '_>, route: Option<RouteId>) -> Puzzle {
        let steps = i32::try_from(self.penalty_steps(ask)).unwrap_or(i32::MAX);
        self.base_puzzle(ask.rules, route)
            .adjust(steps.saturating_add(self.band_steps(ask)))
    }

    /// The client's current score (the request's, or its answer's in `verify`) is below the
    /// floor. False without scoring.
    pub(super) fn below_floor(&self, ask: &Ask<'_, '_>) -> bool {
        match (&ask.rules.score, ask.score) {
            (Some(sr), Some(score)) => score.value < sr.floor,
            _ => false,
        }
    }

    /// Doublings (or halvings) the client's score band adds; 0 without scoring. Only a
    /// consistent browser without a penalty gets a discount: a script sending the right headers
    /// cannot, and a discount never cancels an offence.
    pub(super) fn band_steps(&self, ask: &Ask<'_, '_>) -> i32 {
        let (Some(sr), Some(score)) = (&ask.rules.score, ask.score) else {
            return 0;
        };
        let steps = sr.band(score.value).map_or(0, |b| b.extra_difficulty);
        if steps < 0 && (!score.signals.consistent_browser() || self.penalty_steps(ask) > 0) {
            0
        } else {
            steps
        }
    }

    /// Doublings the client's offences add, capped.
    pub(super) fn penalty_steps(&self, ask: &Ask<'_, '_>) -> u32 {
        let c = &ask.rules.challenge;
        self.penalties
            .steps(ask.key, ask.now_ns, c.penalty_decay_secs * NS_PER_SEC)
            .min(c.max_extra_steps)
    }
}
