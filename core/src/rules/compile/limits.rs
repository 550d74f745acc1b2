//! `[limit]` and `[bans]`: quotas (checked to stay far from governor's overflow) and ban
//! thresholds and policy.

use std::num::NonZeroU32;

use toml::Spanned;

use super::Ctx;
use crate::clock::NS_PER_SEC;
use crate::limit::{BanPolicy, Quota};
use crate::rules::defaults::{self, QuotaDefaults, ThresholdDefaults};
use crate::rules::raw::{RawBans, RawLimitSection, RawQuota};
use crate::rules::BanRules;

const BANS: &str = "[bans]";

impl Ctx<'_, '_> {
    pub(super) fn default_quota(&mut self, raw: &RawLimitSection) -> Option<Quota> {
        let RawLimitSection {
            enabled,
            requests,
            per_secs,
            burst,
        } = raw;
        let q = RawQuota {
            requests: requests.clone(),
            per_secs: per_secs.clone(),
            burst: burst.clone(),
        };
        let quota = self.quota("[limit]", &q, defaults::LIMIT);
        enabled.unwrap_or(true).then_some(quota)
    }

    /// A quota in section `sec`, with `d` for absent fields.
    pub(super) fn quota(&mut self, sec: &str, q: &RawQuota, d: QuotaDefaults) -> Quota {
        let RawQuota {
            requests,
            per_secs,
            burst,
        } = q;
        let mut field = |v: Option<&Spanned<i64>>, default: i64, int: &defaults::Int| {
            let int = defaults::Int { default, ..*int };
            let n = self.int(sec, v, &int);
            let n = u32::try_from(n).ok().and_then(NonZeroU32::new);
            n.unwrap_or(NonZeroU32::MIN)
        };
        let req = field(requests.as_ref(), d.requests, &defaults::QUOTA_REQUESTS);
        let per = field(per_secs.as_ref(), d.per_secs, &defaults::QUOTA_PER_SECS);
        // An absent burst is at least one period's worth of requests.
        let least = d.burst.max(i64::from(req.get()));
        let bur = field(burst.as_ref(), least, &defaults::QUOTA_BURST);
        // governor multiplies the emission interval by the burst; keep the product far from u64.
        let period_ns = u64::from(per.get()) * NS_PER_SEC / u64::from(req.get());
        let span_ns = defaults::MAX_QUOTA_SPAN_SECS * NS_PER_SEC;
        if period_ns.saturating_mul(u64::from(bur.get())) > span_ns {
            let spans = [burst, per_secs, requests];
            let span = spans.into_iter().flatten().next().map(Spanned::span);
            let msg = format!("burst = {bur} at one request per {period_ns} ns spans more than 10 years; lower burst or per_secs");
            self.errs.at(span.unwrap_or(0..0), Some(sec), msg);
        }
        Quota {
            requests: req,
            per_secs: per,
            burst: bur,
        }
    }

    pub(super) fn bans(&mut self, raw: &RawBans) -> BanRules {
        let RawBans {
            enabled,
            extreme_requests,
            extreme_window_secs,
            violations,
            violations_window_secs,
            ttl_secs,
            max_ttl_secs,
            escalation_factor,
            forget_after_secs,
            max_bans,
            close_connection,
        } = raw;
        let enabled = enabled.unwrap_or(true);
        let extreme = self.threshold(
            BANS,
            extreme_requests.as_ref(),
            extreme_window_secs.as_ref(),
            defaults::EXTREME,
        );
        let violations = self.threshold(
            BANS,
            violations.as_ref(),
            violations_window_secs.as_ref(),
            defaults::VIOLATIONS,
        );
        let ttl = self.int(BANS, ttl_secs.as_ref(), &defaults::BAN_TTL_SECS) as u64;
        let max_ttl = self.int(BANS, max_ttl_secs.as_ref(), &defaults::BAN_MAX_TTL_SECS) as u64;
        if let (true, Some(v)) = (max_ttl < ttl, max_ttl_secs) {
            let msg = format!("max_ttl_secs = {max_ttl} is below ttl_secs = {ttl}");
            self.errs.at(v.span(), Some(BANS), msg);
        }
        let factor = self.int(
            BANS,
            escalation_factor.as_ref(),
            &defaults::ESCALATION_FACTOR,
        );
        let forget = self.int(
            BANS,
            forget_after_secs.as_ref(),
            &defaults::FORGET_AFTER_SECS,
        );
        let max_bans = self.int(BANS, max_bans.as_ref(), &defaults::MAX_BANS);
        BanRules {
            extreme: extreme.filter(|_| enabled),
            violations: violations.filter(|_| enabled),
            policy: BanPolicy {
                ttl_secs: ttl,
                max_ttl_secs: max_ttl.max(ttl),
                escalation_factor: factor as u32,
                forget_after_secs: forget as u64,
                max_bans: max_bans as usize,
            },
            close_connection: close_connection.unwrap_or(defaults::CLOSE_BANNED),
        }
    }

    /// `count` events per `window` seconds as a quota with burst = count; count 0 disables.
    pub(super) fn threshold(
        &mut self,
        sec: &str,
        count: Option<&Spanned<i64>>,
        window: Option<&Spanned<i64>>,
        d: ThresholdDefaults,
    ) -> Option<Quota> {
        let count_int = defaults::Int {
            default: d.count,
            ..defaults::THRESHOLD_COUNT
        };
        let window_int = defaults::Int {
            default: d.window_secs,
            ..defaults::THRESHOLD_WINDOW_SECS
        };
        let n = self.int(sec, count, &count_int);
        let w = self.int(sec, window, &window_int);
        let n = NonZeroU32::new(u32::try_from(n).ok()?)?;
        let w = NonZeroU32::new(u32::try_from(w).ok()?)?;
        Some(Quota {
            requests: n,
            per_secs: w,
            burst: n,
        })
    }
}
