//! The rules file: parse (TOML) → validate (every error, with positions) → compiled [`Rules`].
//!
//! Nothing here touches the filesystem directly: list files named in the rules are read through a
//! [`SourceReader`] the front end supplies, so the core stays I/O-free and tests can feed text.

mod compile;
mod defaults;
mod diff;
pub(crate) mod error;
mod raw;
mod structure;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diff::describe_changes;
pub use error::{ConfigError, InvalidRules};

use crate::crawl::CrawlerRules;
use crate::limit::{BanPolicy, Quota};
use crate::request::{CidrSet, IpHeader, Route, RouteId};
use crate::score::{AttackRules, ScoreRules};
use crate::toll::Puzzle;

/// Reads files named by a rules file (list files). Front ends pass [`FsReader`].
pub trait SourceReader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// Reads from the local filesystem. The core never calls it by itself.
pub struct FsReader;

impl SourceReader for FsReader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Whether the core enforces its decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Decide and enforce.
    Enforce,
    /// Decide and report, but allow everything (for trying new rules on live traffic).
    Observe,
    /// Allow everything without deciding.
    Off,
}

/// `[paths]`: how request paths meet the routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRules {
    /// Match `path_prefix` with ASCII case (default: ignore case, as many upstreams do).
    pub case_sensitive: bool,
    /// Refuse targets that stay ambiguous after canonicalisation with 400 `bad_path`
    /// (default); otherwise match their once-decoded form.
    pub reject_ambiguous: bool,
}

/// `[networks]`: every request also counts against its client's network (an IPv4 /24, an IPv6
/// /48), under a higher limit, so that spreading a flood over the addresses one network owns
/// (65,536 /64s in a /48) buys no more than one network's share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    /// The network's limit; past it, 429 `network_rate_limit`.
    pub quota: Quota,
    /// Network refusals per window that ban the whole network; `None`: never.
    pub violations: Option<Quota>,
}

/// `[connections]`: what one client may hold open, enforced by front ends at accept and while
/// headers arrive, before any request is complete enough to be rate limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionRules {
    /// Open connections per client key (direct peers; trusted proxies and allow-listed
    /// addresses are exempt); 0: no cap.
    pub max_per_client: u32,
    /// A request's header must be complete this long after its first byte.
    pub header_timeout_secs: u32,
    /// Most bytes of one request's header (request line included).
    pub max_header_bytes: u32,
}

/// How client addresses are found and keyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    pub trusted_proxies: CidrSet,
    /// The one header that names the client, believed from `trusted_proxies` only.
    pub ip_header: IpHeader,
    /// Its name for front ends to read, unless it is `X-Forwarded-For`.
    pub ip_header_name: Option<Arc<str>>,
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    pub max_tracked_keys: usize,
}

/// Ban thresholds; `None` disables that trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanRules {
    /// Extreme rate: more than `requests` per `per_secs` (burst = requests) bans.
    pub extreme: Option<Quota>,
    /// Too many rate-limit violations per window bans.
    pub violations: Option<Quota>,
    pub policy: BanPolicy,
    /// Close the connection after answering a banned client.
    pub close_connection: bool,
}

/// How challenges are issued (the `[challenge]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeRules {
    /// The puzzle of challenge routes that do not choose their own.
    pub puzzle: Puzzle,
    /// How long an issued challenge may be answered.
    pub ttl_secs: u64,
    /// Most doublings of work added for misbehaving clients.
    pub max_extra_steps: u32,
    /// One doubling is forgiven after this long.
    pub penalty_decay_secs: u64,
    /// Most solved challenges remembered against replay.
    pub max_solved: usize,
    /// Answers one client key may have accepted per `ttl_secs` (so live in the replay cache at
    /// once); `None`: no cap. Past it that key gets 429 `challenge_busy`, and nobody else does.
    pub solved_per_client: Option<Quota>,
    /// How long a visitor without JavaScript waits on a `nojs = "wait"` route.
    pub nojs_wait_secs: u64,
}

/// What a solved challenge buys (the `[clearance]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearanceRules {
    pub ttl_secs: u64,
    /// Requests one clearance may make.
    pub budget: u32,
    /// Rate limit per clearance; `None`: only the budget.
    pub rate: Option<Quota>,
    /// Clearances one client key may obtain per hour before each further one makes its next
    /// puzzle harder; `None`: no limit.
    pub grants_per_hour: Option<Quota>,
    /// Requests a clearance earned by waiting (no JavaScript) may make.
    pub nojs_budget: u32,
}

/// A validated, compiled rules file. Immutable; replaced whole on reload.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Where the rules came from (for logs).
    pub source: Arc<str>,
    pub mode: Mode,
    pub paths: PathRules,
    pub clients: ClientSettings,
    pub connections: ConnectionRules,
    /// `None` when `[networks] enabled = false`.
    pub networks: Option<NetworkRules>,
    pub allow: CidrSet,
    pub deny: CidrSet,
    /// Applies when no route sets its own quota; `None` when `[limit] enabled = false`.
    pub default_quota: Option<Quota>,
    pub bans: BanRules,
    pub challenge: ChallengeRules,
    pub clearance: ClearanceRules,
    pub routes: Vec<Route>,
    /// Environment scoring (`[score]`); `None`: challenge routes ignore scores.
    pub score: Option<ScoreRules>,
    /// Under-attack thresholds (`[under_attack]`); `None`: never engaged.
    pub under_attack: Option<AttackRules>,
    /// Verified crawlers (`[crawlers]`, `[[crawler]]`); `None`: none defined.
    pub crawlers: Option<CrawlerRules>,
    /// List and crawler files the rules read, so a front end can reload when one changes.
    pub list_files: Vec<PathBuf>,
}

impl Rules {
    /// The route `id` names (an id from these rules).
    pub fn route(&self, id: RouteId) -> Option<&Route> {
        self.routes.get(id.index())
    }

    /// The route called `name`.
    pub fn route_named(&self, name: &str) -> Option<RouteId> {
        let i = self.routes.iter().position(|r| *r.name == *name)?;
        Some(RouteId::new(i))
    }
}

/// Parses and validates rules `text` that came from `file` (used in messages and to resolve
/// relative list-file paths).
pub fn parse_rules(
    text: &str,
    file: &Path,
    reader: &dyn SourceReader,
) -> Result<Rules, InvalidRules> {
    compile::compile(text, file, reader)
}

/// Reads `path` through `reader`, then [`parse_rules`].
pub fn load_rules(path: &Path, reader: &dyn SourceReader) -> Result<Rules, InvalidRules> {
    parse_rules(&read_rules_text(path, reader)?, path, reader)
}

/// The text of rules file `path`; a read failure is reported like any other rules error.
pub fn read_rules_text(path: &Path, reader: &dyn SourceReader) -> Result<String, InvalidRules> {
    reader.read(path).map_err(|e| InvalidRules {
        errors: vec![ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            rule: None,
            message: format!("cannot read rules file: {e}"),
        }],
    })
}
