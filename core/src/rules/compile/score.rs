//! The `[score]` and `[under_attack]` sections: weights by signal name, bands, thresholds.

use std::sync::Arc;

use toml::Spanned;

use super::Ctx;
use crate::rules::defaults;
use crate::rules::raw::{RawBand, RawScore, RawUnderAttack};
use crate::score::{AttackRules, Band, ScoreRules, Signal};

const SCORE: &str = "[score]";
const ATTACK: &str = "[under_attack]";

impl Ctx<'_, '_> {
    pub(super) fn score(&mut self, raw: Option<&Spanned<RawScore>>) -> Option<ScoreRules> {
        let RawScore {
            enabled,
            rhythm,
            base,
            floor,
            pass_per_minute,
            weights,
            bands,
        } = raw?.get_ref();
        let passes = self.threshold(
            SCORE,
            pass_per_minute.as_ref(),
            None,
            defaults::PASSES_PER_MINUTE,
        );
        let base = self.int(SCORE, base.as_ref(), &defaults::SCORE_BASE) as i32;
        let floor = self.int(SCORE, floor.as_ref(), &defaults::SCORE_FLOOR) as i32;
        let bands = if bands.is_empty() {
            ScoreRules::default_bands()
        } else {
            self.bands(bands)
        };
        let mut rules = ScoreRules::new(base, floor, bands);
        rules.passes = passes;
        rules.rhythm = rhythm.unwrap_or(true);
        for (name, weight) in weights {
            let Some(s) = Signal::parse(name.get_ref()) else {
                let known: Vec<_> = Signal::ALL.iter().map(|s| s.as_str()).collect();
                let msg = format!(
                    "unknown signal {:?}; signals are: {}",
                    name.get_ref(),
                    known.join(", ")
                );
                self.errs.at(name.span(), Some("[score.weights]"), msg);
                continue;
            };
            let w = self.int_named(SCORE, Some(weight), &defaults::WEIGHT, name.get_ref());
            rules.set_weight(s, w as i32);
        }
        enabled.unwrap_or(true).then_some(rules)
    }

    /// Bands sorted highest `min` first; names and minimums must be unique.
    fn bands(&mut self, raw: &[RawBand]) -> Vec<Band> {
        let mut out: Vec<Band> = Vec::new();
        for b in raw {
            let RawBand {
                name,
                min,
                pass,
                extra_difficulty,
            } = b;
            let label = format!("[[score.band]] {:?}", name.get_ref());
            let at = self.int(&label, Some(min), &defaults::BAND_MIN) as i32;
            let extra = self.int(
                &label,
                extra_difficulty.as_ref(),
                &defaults::BAND_EXTRA_DIFFICULTY,
            );
            if out.iter().any(|o| *o.name == **name.get_ref()) {
                self.errs
                    .at(name.span(), Some(&label), "duplicate band name");
            } else if out.iter().any(|o| o.min == at) {
                let msg = format!("another band already starts at min = {at}");
                self.errs.at(min.span(), Some(&label), msg);
            }
            out.push(Band {
                name: Arc::from(name.get_ref().as_str()),
                min: at,
                pass: pass.unwrap_or(false),
                extra_difficulty: extra as i32,
            });
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.min));
        out
    }

    pub(super) fn under_attack(
        &mut self,
        raw: Option<&Spanned<RawUnderAttack>>,
        score: Option<&Spanned<RawScore>>,
    ) -> Option<AttackRules> {
        let spanned = raw?;
        let RawUnderAttack {
            requests_per_sec,
            upstream_errors_per_sec,
            release_percent,
            cooldown_secs,
        } = spanned.get_ref();
        if score.is_none_or(|s| s.get_ref().enabled == Some(false)) {
            let msg = "under-attack mode acts through scores: it needs an enabled [score] section";
            self.errs.at(spanned.span(), Some(ATTACK), msg);
        }
        let mut rate = |v: Option<&Spanned<i64>>, key: &str| {
            let n = self.int_named(ATTACK, v, &defaults::ATTACK_RATE, key) as u64;
            (n > 0).then_some(n)
        };
        let requests = rate(requests_per_sec.as_ref(), "requests_per_sec");
        let errors = rate(upstream_errors_per_sec.as_ref(), "upstream_errors_per_sec");
        if requests.is_none() && errors.is_none() {
            let msg = "set requests_per_sec or upstream_errors_per_sec (or remove the section)";
            self.errs.at(spanned.span(), Some(ATTACK), msg);
        }
        let release = self.int(ATTACK, release_percent.as_ref(), &defaults::RELEASE_PERCENT);
        let cooldown = self.int(ATTACK, cooldown_secs.as_ref(), &defaults::COOLDOWN_SECS);
        Some(AttackRules {
            requests_per_sec: requests,
            upstream_errors_per_sec: errors,
            release_percent: release as u64,
            cooldown_secs: cooldown as u64,
        })
    }
}
