//! The rules file exactly as written: serde structs with spans, no meaning attached yet.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo never silently does nothing.
//! Values that need checking beyond their type are `Spanned` so `compile` can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// The Pingora front end's section (listeners, upstreams, TLS): it parses and validates
    /// it; the core passes it through without reading it.
    #[serde(default, rename = "server")]
    pub _server: Option<serde::de::IgnoredAny>,
    /// The Pingora front end's fleet section (`redis_url`, deadlines): likewise.
    #[serde(default, rename = "fleet")]
    pub _fleet: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub paths: RawPaths,
    #[serde(default)]
    pub clients: RawClients,
    #[serde(default)]
    pub connections: RawConnections,
    #[serde(default)]
    pub networks: RawNetworks,
    #[serde(default)]
    pub lists: RawLists,
    #[serde(default)]
    pub limit: RawLimitSection,
    #[serde(default)]
    pub bans: RawBans,
    #[serde(default)]
    pub challenge: RawChallenge,
    #[serde(default)]
    pub clearance: RawClearance,
    pub score: Option<Spanned<RawScore>>,
    pub under_attack: Option<Spanned<RawUnderAttack>>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub crawlers: RawCrawlers,
    #[serde(default, rename = "crawler")]
    pub crawler_defs: Vec<RawCrawler>,
}

/// `[crawlers]`: verified crawlers' settings, and files of further definitions.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCrawlers {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    pub resolver: Option<Spanned<String>>,
    pub lookup_timeout_ms: Option<Spanned<i64>>,
    pub verified_ttl_secs: Option<Spanned<i64>>,
    pub unverified_ttl_secs: Option<Spanned<i64>>,
    pub limit: Option<Spanned<RawQuota>>,
}

/// One `[[crawler]]`, in the rules file or in a crawler file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawCrawler {
    pub name: Spanned<String>,
    pub user_agent: Spanned<String>,
    #[serde(default)]
    pub rdns: Vec<Spanned<String>>,
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
    #[serde(default)]
    pub network_files: Vec<Spanned<String>>,
    pub limit: Option<Spanned<RawQuota>>,
}

/// A crawler file (`[crawlers] files`): definitions only.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawCrawlerFile {
    #[serde(default, rename = "crawler")]
    pub crawlers: Vec<RawCrawler>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPaths {
    pub case_sensitive: Option<bool>,
    pub reject_ambiguous: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawClients {
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    pub client_ip_header: Option<Spanned<String>>,
    pub ipv4_prefix_len: Option<Spanned<i64>>,
    pub ipv6_prefix_len: Option<Spanned<i64>>,
    pub max_tracked_keys: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetworks {
    pub enabled: Option<bool>,
    pub ipv4_prefix_len: Option<Spanned<i64>>,
    pub ipv6_prefix_len: Option<Spanned<i64>>,
    pub requests: Option<Spanned<i64>>,
    pub per_secs: Option<Spanned<i64>>,
    pub burst: Option<Spanned<i64>>,
    pub violations: Option<Spanned<i64>>,
    pub violations_window_secs: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConnections {
    pub max_per_client: Option<Spanned<i64>>,
    pub header_timeout_secs: Option<Spanned<i64>>,
    pub max_header_bytes: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLists {
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_files: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny_files: Vec<Spanned<String>>,
}

/// A quota as written: `requests` per `per_secs` seconds with `burst`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub requests: Option<Spanned<i64>>,
    pub per_secs: Option<Spanned<i64>>,
    pub burst: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimitSection {
    pub enabled: Option<bool>,
    pub requests: Option<Spanned<i64>>,
    pub per_secs: Option<Spanned<i64>>,
    pub burst: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBans {
    pub enabled: Option<bool>,
    pub extreme_requests: Option<Spanned<i64>>,
    pub extreme_window_secs: Option<Spanned<i64>>,
    pub violations: Option<Spanned<i64>>,
    pub violations_window_secs: Option<Spanned<i64>>,
    pub ttl_secs: Option<Spanned<i64>>,
    pub max_ttl_secs: Option<Spanned<i64>>,
    pub escalation_factor: Option<Spanned<i64>>,
    pub forget_after_secs: Option<Spanned<i64>>,
    pub max_bans: Option<Spanned<i64>>,
    pub close_connection: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawChallenge {
    pub puzzle: Option<Spanned<String>>,
    pub difficulty: Option<Spanned<i64>>,
    pub range: Option<Spanned<i64>>,
    pub ttl_secs: Option<Spanned<i64>>,
    pub max_extra_difficulty: Option<Spanned<i64>>,
    pub penalty_decay_secs: Option<Spanned<i64>>,
    pub max_solved: Option<Spanned<i64>>,
    pub max_solved_per_client: Option<Spanned<i64>>,
    pub nojs_wait_secs: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawClearance {
    pub ttl_secs: Option<Spanned<i64>>,
    pub requests: Option<Spanned<i64>>,
    pub rate: Option<Spanned<RawQuota>>,
    pub max_grants_per_hour: Option<Spanned<i64>>,
    pub nojs_requests: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub action: Spanned<String>,
    pub path_prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub user_agent: Option<Spanned<String>>,
    #[serde(default)]
    pub ja4: Vec<Spanned<String>>,
    pub limit: Option<Spanned<RawQuota>>,
    pub status: Option<Spanned<i64>>,
    pub puzzle: Option<Spanned<String>>,
    pub difficulty: Option<Spanned<i64>>,
    pub range: Option<Spanned<i64>>,
    pub pass_on_score: Option<Spanned<bool>>,
    pub upgrade: Option<Spanned<bool>>,
    pub nojs: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScore {
    pub enabled: Option<bool>,
    pub rhythm: Option<bool>,
    pub base: Option<Spanned<i64>>,
    pub floor: Option<Spanned<i64>>,
    pub pass_per_minute: Option<Spanned<i64>>,
    #[serde(default)]
    pub weights: BTreeMap<Spanned<String>, Spanned<i64>>,
    #[serde(default, rename = "band")]
    pub bands: Vec<RawBand>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawBand {
    pub name: Spanned<String>,
    pub min: Spanned<i64>,
    pub pass: Option<bool>,
    pub extra_difficulty: Option<Spanned<i64>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawUnderAttack {
    pub requests_per_sec: Option<Spanned<i64>>,
    pub upstream_errors_per_sec: Option<Spanned<i64>>,
    pub release_percent: Option<Spanned<i64>>,
    pub cooldown_secs: Option<Spanned<i64>>,
}
