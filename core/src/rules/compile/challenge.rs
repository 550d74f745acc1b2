//! `[challenge]` and `[clearance]`: the puzzles challenge routes inherit, and what a solved
//! challenge buys.

use std::num::NonZeroU32;

use toml::Spanned;

use super::Ctx;
use crate::limit::limiter::Quota;
use crate::rules::defaults;
use crate::rules::raw::{RawChallenge, RawClearance};
use crate::rules::{ChallengeRules, ClearanceRules};
use crate::toll::Puzzle;

const CHALLENGE: &str = "[challenge]";
const CLEARANCE: &str = "[clearance]";

/// The `[challenge]` section's puzzle settings, which routes inherit.
pub(super) struct PuzzleDefaults {
    kind: Option<Spanned<String>>,
    bits: i64,
    size: i64,
}

impl Ctx<'_, '_> {
    /// The section, and the defaults routes inherit from it.
    pub(super) fn challenge(&mut self, raw: &RawChallenge) -> (ChallengeRules, PuzzleDefaults) {
        let RawChallenge {
            puzzle,
            difficulty,
            range,
            ttl_secs,
            max_extra_difficulty,
            penalty_decay_secs,
            max_solved,
            max_solved_per_client,
            nojs_wait_secs,
        } = raw;
        let inherited = PuzzleDefaults {
            kind: puzzle.clone(),
            bits: self.int(CHALLENGE, difficulty.as_ref(), &defaults::DIFFICULTY),
            size: self.int(CHALLENGE, range.as_ref(), &defaults::RANGE),
        };
        let own = self.puzzle(CHALLENGE, puzzle.as_ref(), &inherited, None, None);
        let ttl = self.int(CHALLENGE, ttl_secs.as_ref(), &defaults::CHALLENGE_TTL_SECS);
        let extra = self.int(
            CHALLENGE,
            max_extra_difficulty.as_ref(),
            &defaults::MAX_EXTRA_DIFFICULTY,
        );
        let decay = self.int(
            CHALLENGE,
            penalty_decay_secs.as_ref(),
            &defaults::PENALTY_DECAY_SECS,
        );
        let solved = self.int(CHALLENGE, max_solved.as_ref(), &defaults::MAX_SOLVED);
        let per_client = self.int(
            CHALLENGE,
            max_solved_per_client.as_ref(),
            &defaults::MAX_SOLVED_PER_CLIENT,
        );
        let rules = ChallengeRules {
            puzzle: own,
            ttl_secs: ttl as u64,
            max_extra_steps: extra as u32,
            penalty_decay_secs: decay as u64,
            max_solved: solved as usize,
            solved_per_client: per_ttl(per_client, ttl),
            nojs_wait_secs: self.int(
                CHALLENGE,
                nojs_wait_secs.as_ref(),
                &defaults::NOJS_WAIT_SECS,
            ) as u64,
        };
        (rules, inherited)
    }

    /// The puzzle of kind `kind` (else the section's), with a route's own `bits` or `size` over
    /// the section's defaults. A route may only set the field its puzzle uses.
    pub(super) fn puzzle(
        &mut self,
        sec: &str,
        kind: Option<&Spanned<String>>,
        inherited: &PuzzleDefaults,
        bits: Option<&Spanned<i64>>,
        size: Option<&Spanned<i64>>,
    ) -> Puzzle {
        // An invalid kind is reported where it is written, once.
        let own = kind.is_some();
        let kind = kind.or(inherited.kind.as_ref());
        let name = kind.map_or("hashcash", |k| k.get_ref().as_str());
        if name == "range" {
            if let Some(b) = bits {
                let msg = "difficulty is only used with puzzle = \"hashcash\"";
                self.errs.at(b.span(), Some(sec), msg);
            }
            let int = defaults::Int {
                default: inherited.size,
                ..defaults::RANGE
            };
            let size = self.int(sec, size, &int);
            return Puzzle::Range { size: size as u64 };
        }
        if let (Some(k), true, false) = (kind, own, name == "hashcash") {
            let msg = format!("puzzle {name:?} is not one of \"hashcash\", \"range\"");
            self.errs.at(k.span(), Some(sec), msg);
        }
        if let Some(s) = size {
            let msg = "range is only used with puzzle = \"range\"";
            self.errs.at(s.span(), Some(sec), msg);
        }
        let int = defaults::Int {
            default: inherited.bits,
            ..defaults::DIFFICULTY
        };
        let bits = self.int(sec, bits, &int);
        Puzzle::Hashcash { bits: bits as u32 }
    }

    pub(super) fn clearance(&mut self, raw: &RawClearance) -> ClearanceRules {
        let RawClearance {
            ttl_secs,
            requests,
            rate,
            max_grants_per_hour,
            nojs_requests,
        } = raw;
        let ttl = self.int(CLEARANCE, ttl_secs.as_ref(), &defaults::CLEARANCE_TTL_SECS);
        let budget = self.int(CLEARANCE, requests.as_ref(), &defaults::CLEARANCE_REQUESTS);
        ClearanceRules {
            ttl_secs: ttl as u64,
            budget: budget as u32,
            nojs_budget: self.int(CLEARANCE, nojs_requests.as_ref(), &defaults::NOJS_REQUESTS)
                as u32,
            rate: rate
                .as_ref()
                .map(|q| self.quota(CLEARANCE, q.get_ref(), defaults::CLEARANCE_RATE)),
            grants_per_hour: self.threshold(
                CLEARANCE,
                max_grants_per_hour.as_ref(),
                None,
                defaults::GRANTS_PER_HOUR,
            ),
        }
    }
}

/// `n` per `ttl_secs`, all of them at once if need be; `None` for 0.
fn per_ttl(n: i64, ttl_secs: i64) -> Option<Quota> {
    let n = NonZeroU32::new(u32::try_from(n).ok()?)?;
    let per_secs = NonZeroU32::new(u32::try_from(ttl_secs).ok()?)?;
    Some(Quota {
        requests: n,
        per_secs,
        burst: n,
    })
}
