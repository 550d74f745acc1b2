//! From raw serde structs to compiled [`Rules`], collecting every error on the way.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::RegexBuilder;
use toml::Spanned;

use super::error::{one_line, Errors, InvalidRules};
use super::raw::{
    RawBans, RawChallenge, RawClearance, RawClients, RawLists, RawQuota, RawRoute, RawRules,
    RawServer,
};
use super::{
    BanRules, ChallengeRules, ClearanceRules, ClientSettings, Mode, Rules, ServerSettings,
    SourceReader,
};
use crate::ban::BanPolicy;
use crate::cidr::{parse_net, CidrSet};
use crate::clock::NS_PER_SEC;
use crate::limit::Quota;
use crate::pow::{Puzzle, HASHCASH_BITS, RANGE_SIZE};
use crate::route::{Action, Route};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9180";

/// Longest a challenge may stay valid; the replay cache is sized for it.
pub const MAX_CHALLENGE_TTL_SECS: u64 = 3_600;
/// Default puzzles: about half a second of a browser's time on a 2-core laptop (BENCHMARKS.md).
const DEFAULT_BITS: i64 = 21;
const DEFAULT_RANGE: i64 = 1 << 22;

/// Longest time a full burst may take to refill (10 years).
const MAX_QUOTA_SPAN_NS: u64 = 10 * 365 * 86_400 * NS_PER_SEC;

pub fn compile(text: &str, file: &Path, reader: &dyn SourceReader) -> Result<Rules, InvalidRules> {
    let name = file.display().to_string();
    let mut errs = Errors::new(&name, text);
    let raw: RawRules = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let msg = e.message().trim().lines().collect::<Vec<_>>().join("; ");
            errs.at(e.span().unwrap_or(0..0), None, msg);
            return Err(InvalidRules { errors: errs.list });
        }
    };
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut list_errors = Vec::new();
    let mut ctx = Ctx {
        errs: &mut errs,
        reader,
        base_dir,
        list_errors: &mut list_errors,
        rule: None,
    };
    let (challenge, defaults) = ctx.challenge(&raw.challenge);
    let rules = Rules {
        source: Arc::from(name.as_str()),
        mode: ctx.mode(raw.mode.as_ref()),
        server: ctx.server(&raw.server),
        clients: ctx.clients(&raw.clients),
        allow: ctx.list(&raw.lists, true),
        deny: ctx.list(&raw.lists, false),
        default_quota: ctx.default_quota(&raw),
        bans: ctx.bans(&raw.bans),
        clearance: ctx.clearance(&raw.clearance),
        routes: ctx.routes(&raw.routes, &defaults),
        score: ctx.score(raw.score.as_ref()),
        under_attack: ctx.under_attack(raw.under_attack.as_ref(), raw.score.as_ref()),
        challenge,
        list_files: ctx.list_paths(&raw.lists),
    };
    errs.list.extend(list_errors);
    errs.list
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    if errs.list.is_empty() {
        Ok(rules)
    } else {
        Err(InvalidRules { errors: errs.list })
    }
}

/// The `[challenge]` section's puzzle settings, which routes inherit.
struct PuzzleDefaults {
    kind: Option<Spanned<String>>,
    bits: i64,
    size: i64,
}

fn bits_range() -> Range<i64> {
    i64::from(*HASHCASH_BITS.start())..i64::from(*HASHCASH_BITS.end()) + 1
}

fn size_range() -> Range<i64> {
    *RANGE_SIZE.start() as i64..*RANGE_SIZE.end() as i64 + 1
}

pub(super) struct Ctx<'e, 'a> {
    pub(super) errs: &'e mut Errors<'a>,
    pub(super) reader: &'e dyn SourceReader,
    pub(super) base_dir: PathBuf,
    list_errors: &'e mut Vec<super::ConfigError>,
    /// The section or route being compiled, named in errors.
    pub(super) rule: Option<String>,
}

impl Ctx<'_, '_> {
    fn mode(&mut self, mode: Option<&Spanned<String>>) -> Mode {
        match mode.map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("enforce", _)) => Mode::Enforce,
            Some(("observe", _)) => Mode::Observe,
            Some(("off", _)) => Mode::Off,
            Some((other, span)) => {
                let msg = format!("mode {other:?} is not one of \"enforce\", \"observe\", \"off\"");
                self.errs.at(span, None, msg);
                Mode::Enforce
            }
        }
    }

    fn server(&mut self, raw: &RawServer) -> ServerSettings {
        let listen = self.addr(raw.listen.as_ref(), DEFAULT_LISTEN, "listen");
        let admin = self.addr(raw.admin.as_ref(), DEFAULT_ADMIN, "admin");
        let upstreams = raw
            .upstreams
            .iter()
            .filter_map(|u| self.socket_addr(u, "[server] upstreams"))
            .collect();
        let state_dir = PathBuf::from(raw.state_dir.as_deref().unwrap_or("tollgate-state"));
        ServerSettings {
            listen,
            admin,
            upstreams,
            state_dir,
            tls: self.tls(raw),
            h2c: raw.h2c.unwrap_or(false),
        }
    }

    fn addr(&mut self, raw: Option<&Spanned<String>>, default: &str, what: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        match raw {
            Some(s) => self
                .socket_addr(s, &format!("[server] {what}"))
                .unwrap_or(fallback),
            None => default.parse().unwrap_or(fallback),
        }
    }

    pub(super) fn socket_addr(&mut self, s: &Spanned<String>, what: &str) -> Option<SocketAddr> {
        let parsed = s.get_ref().parse::<SocketAddr>();
        if parsed.is_err() {
            let msg = format!("invalid address {:?}: expected IP:PORT", s.get_ref());
            self.errs.at(s.span(), Some(what), msg);
        }
        parsed.ok()
    }

    fn clients(&mut self, raw: &RawClients) -> ClientSettings {
        self.rule = Some("[clients]".into());
        let nets = raw
            .trusted_proxies
            .iter()
            .filter_map(|s| self.net(s, "[clients] trusted_proxies"));
        let trusted_proxies = CidrSet::new(nets.collect::<Vec<_>>());
        ClientSettings {
            trusted_proxies,
            ipv4_prefix_len: self.int(raw.ipv4_prefix_len.as_ref(), 32, 1..33, "ipv4_prefix_len")
                as u8,
            ipv6_prefix_len: self.int(raw.ipv6_prefix_len.as_ref(), 64, 1..129, "ipv6_prefix_len")
                as u8,
            max_tracked_keys: self.int(
                raw.max_tracked_keys.as_ref(),
                1_000_000,
                1_000..100_000_001,
                "max_tracked_keys",
            ) as usize,
        }
    }

    fn net(&mut self, s: &Spanned<String>, what: &str) -> Option<ipnet::IpNet> {
        match parse_net(s.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                self.errs.at(s.span(), Some(what), msg);
                None
            }
        }
    }

    /// An integer in `range`, or `default` when absent.
    pub(super) fn int(
        &mut self,
        v: Option<&Spanned<i64>>,
        default: i64,
        range: Range<i64>,
        what: &str,
    ) -> i64 {
        let Some(v) = v else { return default };
        let n = *v.get_ref();
        if range.contains(&n) {
            n
        } else {
            let msg = format!(
                "{what} = {n} is out of range {}..={}",
                range.start,
                range.end - 1
            );
            self.errs.at(v.span(), self.rule.as_deref(), msg);
            default
        }
    }

    fn list(&mut self, raw: &RawLists, allow: bool) -> CidrSet {
        let (inline, files, what) = if allow {
            (&raw.allow, &raw.allow_files, "[lists] allow")
        } else {
            (&raw.deny, &raw.deny_files, "[lists] deny")
        };
        let mut nets: Vec<ipnet::IpNet> = inline.iter().filter_map(|s| self.net(s, what)).collect();
        for f in files {
            self.list_file(f, &mut nets);
        }
        CidrSet::new(nets)
    }

    /// One network per line; `#` starts a comment. Errors point into the list file itself.
    fn list_file(&mut self, f: &Spanned<String>, nets: &mut Vec<ipnet::IpNet>) {
        let path = self.base_dir.join(f.get_ref());
        let text = match self.reader.read(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read list file {}: {e}", path.display());
                self.errs.at(f.span(), Some("[lists]"), msg);
                return;
            }
        };
        let name = path.display().to_string();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            match parse_net(entry) {
                Ok(n) => nets.push(n),
                Err(msg) => self.list_errors.push(super::ConfigError {
                    file: name.clone(),
                    line: i + 1,
                    column: line
                        .find(entry)
                        .map_or(1, |c| line[..c].chars().count() + 1),
                    rule: None,
                    message: msg,
                }),
            }
        }
    }

    fn list_paths(&self, raw: &RawLists) -> Vec<PathBuf> {
        let files = raw.allow_files.iter().chain(&raw.deny_files);
        files.map(|f| self.base_dir.join(f.get_ref())).collect()
    }

    fn default_quota(&mut self, raw: &RawRules) -> Option<Quota> {
        let l = &raw.limit;
        let q = RawQuota {
            requests: l.requests.clone(),
            per_secs: l.per_secs.clone(),
            burst: l.burst.clone(),
        };
        self.rule = Some("[limit]".into());
        let quota = self.quota(&q, (20, 1, 40));
        l.enabled.unwrap_or(true).then_some(quota)
    }

    /// A quota with the given defaults for absent fields.
    fn quota(&mut self, q: &RawQuota, defaults: (i64, i64, i64)) -> Quota {
        let mut field = |v: Option<&Spanned<i64>>, default: i64, what: &str| {
            let n = self.int(v, default, 1..1_000_000_001, what);
            let n = u32::try_from(n).ok().and_then(NonZeroU32::new);
            n.unwrap_or(NonZeroU32::MIN)
        };
        let requests = field(q.requests.as_ref(), defaults.0, "requests");
        let per_secs = field(q.per_secs.as_ref(), defaults.1, "per_secs");
        // An absent burst is at least one period's worth of requests.
        let burst = field(
            q.burst.as_ref(),
            defaults.2.max(i64::from(requests.get())),
            "burst",
        );
        // governor multiplies the emission interval by the burst; keep the product far from u64.
        let period_ns = u64::from(per_secs.get()) * NS_PER_SEC / u64::from(requests.get());
        if period_ns.saturating_mul(u64::from(burst.get())) > MAX_QUOTA_SPAN_NS {
            let spans = [&q.burst, &q.per_secs, &q.requests];
            let span = spans.into_iter().flatten().next().map(Spanned::span);
            let msg = format!("burst = {burst} at one request per {period_ns} ns spans more than 10 years; lower burst or per_secs");
            self.errs
                .at(span.unwrap_or(0..0), self.rule.as_deref(), msg);
        }
        Quota {
            requests,
            per_secs,
            burst,
        }
    }

    fn bans(&mut self, raw: &RawBans) -> BanRules {
        self.rule = Some("[bans]".into());
        let enabled = raw.enabled.unwrap_or(true);
        let extreme = self.threshold(
            raw.extreme_requests.as_ref(),
            raw.extreme_window_secs.as_ref(),
            (600, 10),
        );
        let violations = self.threshold(
            raw.violations.as_ref(),
            raw.violations_window_secs.as_ref(),
            (100, 60),
        );
        let ttl_secs = self.int(raw.ttl_secs.as_ref(), 300, 1..31_536_001, "ttl_secs") as u64;
        let max_ttl_secs = self.int(
            raw.max_ttl_secs.as_ref(),
            86_400,
            1..31_536_001,
            "max_ttl_secs",
        ) as u64;
        if max_ttl_secs < ttl_secs {
            if let Some(v) = &raw.max_ttl_secs {
                self.errs.at(
                    v.span(),
                    Some("[bans]"),
                    format!("max_ttl_secs = {max_ttl_secs} is below ttl_secs = {ttl_secs}"),
                );
            }
        }
        let policy = BanPolicy {
            ttl_secs,
            max_ttl_secs: max_ttl_secs.max(ttl_secs),
            escalation_factor: self.int(
                raw.escalation_factor.as_ref(),
                4,
                1..1_001,
                "escalation_factor",
            ) as u32,
            forget_after_secs: self.int(
                raw.forget_after_secs.as_ref(),
                86_400,
                0..31_536_001,
                "forget_after_secs",
            ) as u64,
            max_bans: self.int(raw.max_bans.as_ref(), 100_000, 1..10_000_001, "max_bans") as usize,
        };
        BanRules {
            extreme: extreme.filter(|_| enabled),
            violations: violations.filter(|_| enabled),
            policy,
            close_connection: raw.close_connection.unwrap_or(true),
        }
    }

    /// `count` events per `window` seconds as a quota with burst = count; count 0 disables.
    fn threshold(
        &mut self,
        count: Option<&Spanned<i64>>,
        window: Option<&Spanned<i64>>,
        defaults: (i64, i64),
    ) -> Option<Quota> {
        let n = self.int(count, defaults.0, 0..1_000_000_001, "threshold count");
        let w = self.int(window, defaults.1, 1..86_401, "window_secs");
        let n = NonZeroU32::new(u32::try_from(n).ok()?)?;
        let w = NonZeroU32::new(u32::try_from(w).ok()?)?;
        Some(Quota {
            requests: n,
            per_secs: w,
            burst: n,
        })
    }

    /// The section, and the defaults routes inherit from it.
    fn challenge(&mut self, raw: &RawChallenge) -> (ChallengeRules, PuzzleDefaults) {
        self.rule = Some("[challenge]".into());
        let (bits, size) = (bits_range(), size_range());
        let defaults = PuzzleDefaults {
            kind: raw.puzzle.clone(),
            bits: self.int(raw.difficulty.as_ref(), DEFAULT_BITS, bits, "difficulty"),
            size: self.int(raw.range.as_ref(), DEFAULT_RANGE, size, "range"),
        };
        let puzzle = self.puzzle(raw.puzzle.as_ref(), &defaults, None, None);
        let max_ttl = MAX_CHALLENGE_TTL_SECS as i64;
        let rules = ChallengeRules {
            puzzle,
            ttl_secs: self.int(raw.ttl_secs.as_ref(), 300, 10..max_ttl + 1, "ttl_secs") as u64,
            max_extra_steps: self.int(
                raw.max_extra_difficulty.as_ref(),
                6,
                0..17,
                "max_extra_difficulty",
            ) as u32,
            penalty_decay_secs: self.int(
                raw.penalty_decay_secs.as_ref(),
                600,
                1..86_401,
                "penalty_decay_secs",
            ) as u64,
            max_solved: self.int(
                raw.max_solved.as_ref(),
                1_000_000,
                1_000..100_000_001,
                "max_solved",
            ) as usize,
        };
        (rules, defaults)
    }

    /// The puzzle of kind `kind` (else the section's), with a route's own `bits` or `size` over
    /// the section's defaults. A route may only set the field its puzzle uses.
    fn puzzle(
        &mut self,
        kind: Option<&Spanned<String>>,
        defaults: &PuzzleDefaults,
        bits: Option<&Spanned<i64>>,
        size: Option<&Spanned<i64>>,
    ) -> Puzzle {
        // An invalid kind is reported where it is written, once.
        let own = kind.is_some();
        let kind = kind.or(defaults.kind.as_ref());
        let name = kind.map_or("hashcash", |k| k.get_ref().as_str());
        let rule = self.rule.clone();
        match name {
            "range" => {
                if let Some(b) = bits {
                    let msg = "difficulty is only used with puzzle = \"hashcash\"";
                    self.errs.at(b.span(), rule.as_deref(), msg);
                }
                let size = self.int(size, defaults.size, size_range(), "range");
                Puzzle::Range { size: size as u64 }
            }
            _ => {
                if let (Some(k), true, false) = (kind, own, name == "hashcash") {
                    let msg = format!("puzzle {name:?} is not one of \"hashcash\", \"range\"");
                    self.errs.at(k.span(), rule.as_deref(), msg);
                }
                if let Some(s) = size {
                    let msg = "range is only used with puzzle = \"range\"";
                    self.errs.at(s.span(), rule.as_deref(), msg);
                }
                let bits = self.int(bits, defaults.bits, bits_range(), "difficulty");
                Puzzle::Hashcash { bits: bits as u32 }
            }
        }
    }

    fn clearance(&mut self, raw: &RawClearance) -> ClearanceRules {
        self.rule = Some("[clearance]".into());
        ClearanceRules {
            ttl_secs: self.int(raw.ttl_secs.as_ref(), 3_600, 10..2_592_001, "ttl_secs") as u64,
            budget: self.int(raw.requests.as_ref(), 2_000, 1..1_000_001, "requests") as u32,
            rate: raw
                .rate
                .as_ref()
                .map(|q| self.quota(q.get_ref(), (20, 1, 60))),
            grants_per_hour: self.threshold(raw.max_grants_per_hour.as_ref(), None, (60, 3_600)),
        }
    }

    fn routes(&mut self, raw: &[RawRoute], challenge: &PuzzleDefaults) -> Vec<Route> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for r in raw {
            let name = r.name.get_ref().as_str();
            let label = format!("route {name:?}");
            if name.trim().is_empty() {
                self.errs.at(r.name.span(), None, "route name is empty");
            } else if seen.contains(&name) {
                self.errs
                    .at(r.name.span(), Some(&label), "duplicate route name");
            }
            seen.push(name);
            self.rule = Some(label.clone());
            if let Some(route) = self.route(r, &label, challenge) {
                out.push(route);
            }
        }
        self.rule = None;
        out
    }

    fn route(&mut self, r: &RawRoute, label: &str, defaults: &PuzzleDefaults) -> Option<Route> {
        let action = self.action(r, label)?;
        let puzzle = if action == Action::Challenge {
            let (bits, size) = (r.difficulty.as_ref(), r.range.as_ref());
            Some(self.puzzle(r.puzzle.as_ref(), defaults, bits, size))
        } else {
            let fields = [
                &r.puzzle.as_ref().map(Spanned::span),
                &r.difficulty.as_ref().map(Spanned::span),
                &r.range.as_ref().map(Spanned::span),
                &r.pass_on_score.as_ref().map(Spanned::span),
            ];
            if let Some(span) = fields.into_iter().flatten().next() {
                self.errs.at(
                    span.clone(),
                    Some(label),
                    "puzzle, difficulty, range and pass_on_score are only used with action = \"challenge\"",
                );
            }
            None
        };
        if let Some(p) = &r.path_prefix {
            if !p.get_ref().starts_with('/') {
                self.errs.at(
                    p.span(),
                    Some(label),
                    format!("path_prefix {:?} must start with '/'", p.get_ref()),
                );
            }
        }
        let methods = r.methods.iter().map(|m| self.method(m, label)).collect();
        let user_agent = r.user_agent.as_ref().and_then(|ua| {
            let built = RegexBuilder::new(ua.get_ref()).size_limit(1 << 20).build();
            built
                .map_err(|e| {
                    self.errs.at(
                        ua.span(),
                        Some(label),
                        format!("invalid user_agent regex: {}", one_line(&e)),
                    )
                })
                .ok()
        });
        let quota = r.limit.as_ref().map(|q| {
            if action != Action::Limit && action != Action::Challenge {
                self.errs.at(
                    q.span(),
                    Some(label),
                    "limit is set but action is not \"limit\" or \"challenge\"",
                );
            }
            self.quota(q.get_ref(), (20, 1, 40))
        });
        Some(Route {
            name: Arc::from(r.name.get_ref().as_str()),
            path_prefix: r.path_prefix.as_ref().map(|p| p.get_ref().clone()),
            methods,
            host: r.host.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
            user_agent,
            action,
            quota,
            puzzle,
            pass_on_score: r.pass_on_score.as_ref().is_some_and(|p| *p.get_ref()),
        })
    }

    fn action(&mut self, r: &RawRoute, label: &str) -> Option<Action> {
        let status = r.status.as_ref();
        if status.is_some() && r.action.get_ref() != "deny" {
            if let Some(s) = status {
                self.errs.at(
                    s.span(),
                    Some(label),
                    "status is only used with action = \"deny\"",
                );
            }
        }
        match r.action.get_ref().as_str() {
            "allow" => Some(Action::Allow),
            "limit" => Some(Action::Limit),
            "challenge" => Some(Action::Challenge),
            "deny" => {
                let status = self.int(status, 403, 400..600, "status") as u16;
                Some(Action::Deny { status })
            }
            other => {
                let msg = format!(
                    "action {other:?} is not one of \"allow\", \"deny\", \"limit\", \"challenge\""
                );
                self.errs.at(r.action.span(), Some(label), msg);
                None
            }
        }
    }

    fn method(&mut self, m: &Spanned<String>, label: &str) -> String {
        let s = m.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.errs
                .at(m.span(), Some(label), format!("invalid HTTP method {s:?}"));
        }
        s.to_ascii_uppercase()
    }
}
