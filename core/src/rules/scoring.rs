//! The `[score]` and `[under_attack]` sections: weights by signal name, bands, thresholds.

use std::sync::Arc;

use toml::Spanned;

use super::compile::Ctx;
use super::raw::{RawBand, RawScore, RawUnderAttack};
use crate::attack::AttackRules;
use crate::score::{Band, ScoreRules};
use crate::signal::Signal;

/// Weights, scores and band minimums stay far from overflow when summed.
const POINTS: std::ops::Range<i64> = -1_000..1_001;

impl Ctx<'_, '_> {
    pub(super) fn score(&mut self, raw: Option<&Spanned<RawScore>>) -> Option<ScoreRules> {
        let raw = raw?.get_ref();
        self.rule = Some("[score]".into());
        let base = self.int(raw.base.as_ref(), 50, POINTS, "base") as i32;
        let floor = self.int(raw.floor.as_ref(), 10, POINTS, "floor") as i32;
        let bands = if raw.bands.is_empty() {
            ScoreRules::default_bands()
        } else {
            self.bands(&raw.bands)
        };
        let mut rules = ScoreRules::new(base, floor, bands);
        for (name, weight) in &raw.weights {
            match Signal::from_name(name.get_ref()) {
                Some(s) => {
                    let w = self.int(Some(weight), 0, POINTS, name.get_ref());
                    rules.set_weight(s, w as i32);
                }
                None => {
                    let known: Vec<_> = Signal::ALL.iter().map(|s| s.name()).collect();
                    let msg = format!(
                        "unknown signal {:?}; signals are: {}",
                        name.get_ref(),
                        known.join(", ")
                    );
                    self.errs.at(name.span(), Some("[score.weights]"), msg);
                }
            }
        }
        raw.enabled.unwrap_or(true).then_some(rules)
    }

    /// Bands sorted highest `min` first; names and minimums must be unique.
    fn bands(&mut self, raw: &[RawBand]) -> Vec<Band> {
        let mut out: Vec<Band> = Vec::new();
        for b in raw {
            let name = b.name.get_ref();
            self.rule = Some(format!("[[score.band]] {name:?}"));
            let min = self.int(Some(&b.min), 0, POINTS, "min") as i32;
            let extra = self.int(b.extra_difficulty.as_ref(), 0, -16..17, "extra_difficulty");
            if out.iter().any(|o| &*o.name == name.as_str()) {
                self.errs
                    .at(b.name.span(), self.rule.as_deref(), "duplicate band name");
            } else if out.iter().any(|o| o.min == min) {
                let msg = format!("another band already starts at min = {min}");
                self.errs.at(b.min.span(), self.rule.as_deref(), msg);
            }
            out.push(Band {
                name: Arc::from(name.as_str()),
                min,
                pass: b.pass.unwrap_or(false),
                extra_difficulty: extra as i32,
            });
        }
        self.rule = Some("[score]".into());
        out.sort_by_key(|b| std::cmp::Reverse(b.min));
        out
    }

    pub(super) fn under_attack(
        &mut self,
        raw: Option<&Spanned<RawUnderAttack>>,
        score: Option<&Spanned<RawScore>>,
    ) -> Option<AttackRules> {
        let spanned = raw?;
        let raw = spanned.get_ref();
        self.rule = Some("[under_attack]".into());
        if score.is_none_or(|s| s.get_ref().enabled == Some(false)) {
            let msg = "under-attack mode acts through scores: it needs an enabled [score] section";
            self.errs.at(spanned.span(), Some("[under_attack]"), msg);
        }
        let mut rate = |v: Option<&Spanned<i64>>, what: &str| {
            let n = self.int(v, 0, 0..1_000_000_001, what) as u64;
            (n > 0).then_some(n)
        };
        let requests_per_sec = rate(raw.requests_per_sec.as_ref(), "requests_per_sec");
        let upstream_errors_per_sec = rate(
            raw.upstream_errors_per_sec.as_ref(),
            "upstream_errors_per_sec",
        );
        if requests_per_sec.is_none() && upstream_errors_per_sec.is_none() {
            let msg = "set requests_per_sec or upstream_errors_per_sec (or remove the section)";
            self.errs.at(spanned.span(), Some("[under_attack]"), msg);
        }
        Some(AttackRules {
            requests_per_sec,
            upstream_errors_per_sec,
            release_percent: self.int(raw.release_percent.as_ref(), 50, 1..101, "release_percent")
                as u64,
            cooldown_secs: self.int(raw.cooldown_secs.as_ref(), 30, 1..86_401, "cooldown_secs")
                as u64,
        })
    }
}
