//! Every default and accepted range of the rules file, in one place.
//!
//! `rules/default.toml` documents these values for operators; the rules-file tests load it and
//! check that it compiles to these defaults.

use crate::toll::pow::{HASHCASH_BITS, RANGE_SIZE};
use crate::toll::MAX_CHALLENGE_TTL_SECS;

/// An integer setting: its key, its default, and the inclusive range it accepts.
#[derive(Clone, Copy, Debug)]
pub(super) struct Int {
    pub key: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

const fn int(key: &'static str, default: i64, min: i64, max: i64) -> Int {
    Int {
        key,
        default,
        min,
        max,
    }
}

/// Defaults of a quota's absent fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct QuotaDefaults {
    pub requests: i64,
    pub per_secs: i64,
    pub burst: i64,
}

/// A count per window, as `[bans]` thresholds and grants per hour are written.
#[derive(Clone, Copy, Debug)]
pub(super) struct ThresholdDefaults {
    pub count: i64,
    pub window_secs: i64,
}

const YEAR_SECS: i64 = 31_536_000;
const BILLION: i64 = 1_000_000_000;

// [clients]
pub(super) const IPV4_PREFIX_LEN: Int = int("ipv4_prefix_len", 32, 1, 32);
pub(super) const IPV6_PREFIX_LEN: Int = int("ipv6_prefix_len", 64, 1, 128);
pub(super) const MAX_TRACKED_KEYS: Int = int("max_tracked_keys", 1_000_000, 1_000, 100_000_000);

// [networks]: 50 times the default client limit, per IPv4 /24 and IPv6 /48 (room for a NAT'd
// office or a carrier's /24 full of people; a /48 spray gets 1,000 requests a second, not 65,536
// clients' worth).
pub(super) const NETWORK_V4_PREFIX_LEN: Int = int("ipv4_prefix_len", 24, 1, 32);
pub(super) const NETWORK_V6_PREFIX_LEN: Int = int("ipv6_prefix_len", 48, 1, 128);
pub(super) const NETWORK_LIMIT: QuotaDefaults = QuotaDefaults {
    requests: 1_000,
    per_secs: 1,
    burst: 2_000,
};
pub(super) const NETWORK_VIOLATIONS: ThresholdDefaults = ThresholdDefaults {
    count: 5_000,
    window_secs: 60,
};

// [connections]
pub(super) const MAX_CONNECTIONS_PER_CLIENT: Int = int("max_per_client", 128, 0, 1_000_000);
pub(super) const HEADER_TIMEOUT_SECS: Int = int("header_timeout_secs", 10, 1, 300);
pub(super) const MAX_HEADER_BYTES: Int = int("max_header_bytes", 32_768, 1_024, 1_048_576);

// Quotas: [limit], a route's `limit`, [clearance] `rate`.
pub(super) const QUOTA_REQUESTS: Int = int("requests", 0, 1, BILLION);
pub(super) const QUOTA_PER_SECS: Int = int("per_secs", 0, 1, BILLION);
pub(super) const QUOTA_BURST: Int = int("burst", 0, 1, BILLION);
pub(super) const LIMIT: QuotaDefaults = QuotaDefaults {
    requests: 20,
    per_secs: 1,
    burst: 40,
};
pub(super) const CLEARANCE_RATE: QuotaDefaults = QuotaDefaults {
    requests: 20,
    per_secs: 1,
    burst: 60,
};
/// Longest time a full burst may take to refill (10 years), in seconds.
pub(super) const MAX_QUOTA_SPAN_SECS: u64 = 10 * YEAR_SECS as u64;

// [bans]
pub(super) const EXTREME: ThresholdDefaults = ThresholdDefaults {
    count: 600,
    window_secs: 10,
};
pub(super) const VIOLATIONS: ThresholdDefaults = ThresholdDefaults {
    count: 100,
    window_secs: 60,
};
pub(super) const THRESHOLD_COUNT: Int = int("threshold count", 0, 0, BILLION);
pub(super) const THRESHOLD_WINDOW_SECS: Int = int("window_secs", 0, 1, 86_400);
pub(super) const BAN_TTL_SECS: Int = int("ttl_secs", 300, 1, YEAR_SECS);
pub(super) const BAN_MAX_TTL_SECS: Int = int("max_ttl_secs", 86_400, 1, YEAR_SECS);
pub(super) const ESCALATION_FACTOR: Int = int("escalation_factor", 4, 1, 1_000);
pub(super) const FORGET_AFTER_SECS: Int = int("forget_after_secs", 86_400, 0, YEAR_SECS);
pub(super) const MAX_BANS: Int = int("max_bans", 100_000, 1, 10_000_000);
pub(super) const CLOSE_BANNED: bool = true;

// [challenge]: the default puzzles cost a browser with WebAssembly SIMD about half a second on
// 2 cores (BENCHMARKS.md: 2^23 hashes at about 11 MH/s per core), and a native solver more than
// before the browser got that fast.
pub(super) const DIFFICULTY: Int = int(
    "difficulty",
    23,
    *HASHCASH_BITS.start() as i64,
    *HASHCASH_BITS.end() as i64,
);
pub(super) const RANGE: Int = int(
    "range",
    1 << 24,
    *RANGE_SIZE.start() as i64,
    *RANGE_SIZE.end() as i64,
);
pub(super) const CHALLENGE_TTL_SECS: Int = int("ttl_secs", 300, 10, MAX_CHALLENGE_TTL_SECS as i64);
pub(super) const MAX_EXTRA_DIFFICULTY: Int = int("max_extra_difficulty", 6, 0, 16);
pub(super) const PENALTY_DECAY_SECS: Int = int("penalty_decay_secs", 600, 1, 86_400);
pub(super) const MAX_SOLVED: Int = int("max_solved", 1_000_000, 1_000, 100_000_000);
/// How long a visitor without JavaScript waits on a `nojs = "wait"` route before its link works.
pub(super) const NOJS_WAIT_SECS: Int = int("nojs_wait_secs", 5, 1, 120);
pub(super) const MAX_SOLVED_PER_CLIENT: Int = int("max_solved_per_client", 300, 0, 100_000_000);

// [clearance]
pub(super) const CLEARANCE_TTL_SECS: Int = int("ttl_secs", 3_600, 10, 2_592_000);
pub(super) const CLEARANCE_REQUESTS: Int = int("requests", 2_000, 1, 1_000_000);
/// A waited-for clearance buys fewer requests than a paid one: time is cheaper than CPU for a
/// script that can wait in parallel.
pub(super) const NOJS_REQUESTS: Int = int("nojs_requests", 100, 1, 1_000_000);
/// Passes on score per client key per minute: a page with its subresources, a few times over.
pub(super) const PASSES_PER_MINUTE: ThresholdDefaults = ThresholdDefaults {
    count: 300,
    window_secs: 60,
};

pub(super) const GRANTS_PER_HOUR: ThresholdDefaults = ThresholdDefaults {
    count: 60,
    window_secs: 3_600,
};

// Routes
pub(super) const DENY_STATUS: Int = int("status", 403, 400, 599);

// [score]: weights, scores and band minimums stay far from overflow when summed.
pub(super) const SCORE_BASE: Int = int("base", 50, -1_000, 1_000);
pub(super) const SCORE_FLOOR: Int = int("floor", 10, -1_000, 1_000);
pub(super) const BAND_MIN: Int = int("min", 0, -1_000, 1_000);
pub(super) const BAND_EXTRA_DIFFICULTY: Int = int("extra_difficulty", 0, -16, 16);
/// A signal's weight (the key is the signal's name).
pub(super) const WEIGHT: Int = int("weight", 0, -1_000, 1_000);

// [under_attack]
pub(super) const ATTACK_RATE: Int = int("rate", 0, 0, BILLION);
pub(super) const RELEASE_PERCENT: Int = int("release_percent", 50, 1, 100);
pub(super) const COOLDOWN_SECS: Int = int("cooldown_secs", 30, 1, 86_400);

// [crawlers]: a verified crawler fetches at a steady pace; 10 a second with a burst of 50 is
// more than Googlebot asks of a large site, and a crawler past it is told to slow down (429).
pub(super) const CRAWLER_LIMIT: QuotaDefaults = QuotaDefaults {
    requests: 10,
    per_secs: 1,
    burst: 50,
};
pub(super) const LOOKUP_TIMEOUT_MS: Int = int("lookup_timeout_ms", 2_000, 100, 30_000);
pub(super) const VERIFIED_TTL_SECS: Int = int("verified_ttl_secs", 3_600, 60, 86_400);
pub(super) const UNVERIFIED_TTL_SECS: Int = int("unverified_ttl_secs", 300, 10, 86_400);
