//! `[networks]`: the prefix lengths of a client's network and the network's limits.

use super::Ctx;
use crate::rules::defaults::{self, NETWORK_V4_PREFIX_LEN, NETWORK_V6_PREFIX_LEN};
use crate::rules::raw::{RawNetworks, RawQuota};
use crate::rules::NetworkRules;

const SECTION: &str = "[networks]";

impl Ctx<'_, '_> {
    pub(super) fn networks(&mut self, raw: &RawNetworks) -> Option<NetworkRules> {
        let quota = RawQuota {
            requests: raw.requests.clone(),
            per_secs: raw.per_secs.clone(),
            burst: raw.burst.clone(),
        };
        let rules = NetworkRules {
            ipv4_prefix_len: self.int(
                SECTION,
                raw.ipv4_prefix_len.as_ref(),
                &NETWORK_V4_PREFIX_LEN,
            ) as u8,
            ipv6_prefix_len: self.int(
                SECTION,
                raw.ipv6_prefix_len.as_ref(),
                &NETWORK_V6_PREFIX_LEN,
            ) as u8,
            quota: self.quota(SECTION, &quota, defaults::NETWORK_LIMIT),
            violations: self.threshold(
                SECTION,
                raw.violations.as_ref(),
                raw.violations_window_secs.as_ref(),
                defaults::NETWORK_VIOLATIONS,
            ),
        };
        raw.enabled.unwrap_or(true).then_some(rules)
    }
}
