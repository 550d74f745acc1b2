//! The scenario table (`tests/scenarios/*.toml`), shared by every front end's tests: loaded and
//! checked once, then run as one test case per scenario on each front end.

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use libtest_mimic::Trial;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use tollgate_core::{
    hardest_work_bits, mint_clearance, parse_rules, Clearance, FsReader, Keyring, Kind, Reason,
};

use crate::{now_secs, TEST_SECRET_HEX};

/// The table's files, by theme. Test cases are named `theme::scenario name`.
const FILES: [(&str, &str); 9] = [
    ("limits", include_str!("../scenarios/limits.toml")),
    ("bans", include_str!("../scenarios/bans.toml")),
    ("lists", include_str!("../scenarios/lists.toml")),
    ("forwarding", include_str!("../scenarios/forwarding.toml")),
    ("routes", include_str!("../scenarios/routes.toml")),
    ("challenge", include_str!("../scenarios/challenge.toml")),
    ("score", include_str!("../scenarios/score.toml")),
    ("paths", include_str!("../scenarios/paths.toml")),
    ("crawlers", include_str!("../scenarios/crawlers.toml")),
];

/// Scenarios in the table, and of those the ones a front end over HTTP runs. Literals, so a
/// scenario wrongly marked `core_only` (or a file left out) fails the count.
pub const SCENARIOS: usize = 46;
pub const OVER_HTTP: usize = 41;

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct File {
    /// The rules of every scenario in the file that gives none of its own.
    #[serde(default)]
    rules: Option<String>,
    #[serde(rename = "scenario")]
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file it is in (set at load).
    #[serde(skip)]
    pub theme: &'static str,
    pub name: String,
    /// A complete rules file, minus `[server]` (each harness supplies its own listener); the
    /// file's `rules` when left out.
    #[serde(default)]
    pub rules: String,
    /// Needs what only the core can do (IPv6 prefixes, moving the clock).
    #[serde(default)]
    pub core_only: bool,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Source address of the TCP connection.
    pub peer: String,
    #[serde(default = "get")]
    pub method: String,
    #[serde(default = "root")]
    pub path: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub forwarded_for: Option<String>,
    pub real_ip: Option<String>,
    /// Send the same request this many times, expecting the same outcome each time.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Decision kind (`Kind::as_str`): allow, deny, rate_limited, banned, challenge, pass, serve.
    #[serde(deserialize_with = "kind")]
    pub expect: Kind,
    /// Decision reason (`Reason::as_str`), when the step pins it.
    #[serde(default, deserialize_with = "reason")]
    pub reason: Option<Reason>,
    /// The `X-Forwarded-For` the upstream must receive (allowed requests only).
    pub upstream_forwarded_for: Option<String>,
    /// On an allowed step over HTTP: the path a permissive upstream resolved the request to
    /// (see `upstream::permissive`), so a pass is checked to land where the rules thought.
    pub upstream_path: Option<String>,
    /// The HTTP status front ends must answer with, when not the kind's usual one.
    pub status: Option<u16>,
    /// Send a clearance cookie.
    pub clearance: Option<Cookie>,
    /// More request headers, as `[name, value]` pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Core only: the environment signals that must fire, comma-separated in bit order
    /// (`Signals::names`), `-` for none.
    pub signals: Option<String>,
    /// Core only: move the clock forward before this step.
    #[serde(default)]
    pub advance_secs: u64,
    /// The connection is TLS / HTTP/2 (core only: the HTTP harness speaks cleartext HTTP/1.1).
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub h2: bool,
}

/// The clearance cookie a step sends.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Cookie {
    /// Minted for this peer and user agent.
    Valid,
    /// Signed with another key.
    Forged,
    /// Minted for another address.
    Stolen,
    /// Expired before the request.
    Expired,
}

fn kind<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
    let s = String::deserialize(d)?;
    Kind::parse(&s).ok_or_else(|| {
        let all: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        D::Error::custom(format!(
            "unknown decision kind {s:?}: one of {}",
            all.join(", ")
        ))
    })
}

fn reason<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Reason>, D::Error> {
    let s = String::deserialize(d)?;
    let r = Reason::parse(&s).ok_or_else(|| D::Error::custom(format!("unknown reason {s:?}")))?;
    Ok(Some(r))
}

fn get() -> String {
    "GET".into()
}

fn root() -> String {
    "/".into()
}

fn one() -> u32 {
    1
}

impl Step {
    /// The HTTP status a front end must answer with for this step's expectation.
    /// The first of `headers` named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn expected_status(&self) -> u16 {
        if let Some(status) = self.status {
            return status;
        }
        match self.expect {
            Kind::Allow | Kind::Serve => 200,
            Kind::Pass | Kind::Claim => 303,
            Kind::RateLimited => 429,
            Kind::Deny | Kind::Banned | Kind::Challenge | Kind::Verify | Kind::Meter => 403,
        }
    }
}

impl Scenario {
    /// The `Cookie` header for `step` at `now_secs` (the scenario's start: one time for every
    /// step, so every step's cookie is the same clearance and its budget carries), minted with
    /// [`TEST_SECRET_HEX`] under this scenario's rules.
    pub fn cookie(&self, step: &Step, now_secs: u64) -> Option<String> {
        let kind = step.clearance?;
        let rules = parse_rules(&self.rules, Path::new("scenario.toml"), &FsReader)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let ours = Keyring::from_hex(TEST_SECRET_HEX).unwrap_or_else(|e| panic!("{e}"));
        let theirs = Keyring::from_bytes(&[0x42; 32]).unwrap_or_else(|e| panic!("{e}"));
        let mut peer: IpAddr = step.peer.parse().unwrap_or_else(|e| panic!("peer: {e}"));
        let (mut issued, mut keys) = (now_secs, &ours);
        match kind {
            Cookie::Valid => {}
            Cookie::Forged => keys = &theirs,
            Cookie::Stolen => peer = [127, 0, 0, 254].into(),
            Cookie::Expired => issued = now_secs.saturating_sub(2 * rules.clearance.ttl_secs),
        }
        let grant = Clearance {
            issued_unix_secs: issued,
            expires_unix_secs: issued + rules.clearance.ttl_secs,
            budget: rules.clearance.budget,
            work_bits: hardest_work_bits(&rules),
            serial: serial_of(&self.name),
        };
        let value = mint_clearance(keys, &rules, peer, step.user_agent.as_deref(), &grant);
        Some(format!("{}={value}", tollgate_core::CLEARANCE_COOKIE))
    }
}

/// A serial that is the same for every step of a scenario and differs between scenarios and
/// test runs (the run's start time, read once).
fn serial_of(name: &str) -> [u8; 16] {
    static RUN: OnceLock<u64> = OnceLock::new();
    let run = *RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&h.to_be_bytes());
    s[8..].copy_from_slice(&run.to_be_bytes());
    s
}

/// Every scenario of every file, checked: a malformed file, a typo in a kind, reason or cookie,
/// or a core-only field in a scenario run over HTTP fails every test that asked for it.
pub fn table() -> Vec<Scenario> {
    let mut all = Vec::new();
    for (theme, text) in FILES {
        let file: File = toml::from_str(text).unwrap_or_else(|e| bad_table(theme, &e.to_string()));
        for mut s in file.scenarios {
            s.theme = theme;
            if s.rules.is_empty() {
                s.rules = file.rules.clone().unwrap_or_default();
            }
            if let Some(i) = s
                .steps
                .iter()
                .position(|st| st.expected_status() == 403 && st.reason.is_none())
            {
                bad_table(
                    theme,
                    &format!("{:?} step {i}: a 403 must name its reason", s.name),
                );
            }
            if !s.core_only && s.steps.iter().any(|st| st.tls || st.h2) {
                bad_table(
                    theme,
                    &format!("{:?} sets tls or h2 but is not core_only", s.name),
                );
            }
            if !s.core_only && s.steps.iter().any(|st| st.advance_secs > 0) {
                bad_table(
                    theme,
                    &format!(
                        "{:?} moves the clock (advance_secs) but is not core_only",
                        s.name
                    ),
                );
            }
            all.push(s);
        }
    }
    all
}

#[allow(clippy::panic)] // test-only crate: a broken table must stop every test loudly
fn bad_table(theme: &str, why: &str) -> ! {
    panic!("tests/scenarios/{theme}.toml is invalid: {why}")
}

/// One test case per scenario, named `{prefix}theme::name` and run by `run`; over HTTP
/// (`http`) the core-only scenarios are left out. A last case checks the count against the
/// literals above.
pub fn trials<F>(prefix: &str, http: bool, run: F) -> Vec<Trial>
where
    F: Fn(&Scenario) + Clone + Send + Sync + 'static,
{
    let table = table();
    let chosen: Vec<Scenario> = table
        .into_iter()
        .filter(|s| !(http && s.core_only))
        .collect();
    let want = if http { OVER_HTTP } else { SCENARIOS };
    let got = chosen.len();
    let mut trials: Vec<Trial> = chosen
        .into_iter()
        .map(|s| {
            let run = run.clone();
            Trial::test(format!("{prefix}{}::{}", s.theme, s.name), move || {
                run(&s);
                Ok(())
            })
        })
        .collect();
    trials.push(Trial::test(
        format!("{prefix}table::scenario_count"),
        move || {
            if got == want {
                Ok(())
            } else {
                Err(format!("ran {got} scenarios, the table has {want}").into())
            }
        },
    ));
    trials
}

/// Runs `s` over real HTTP against a front end listening on `to`, whose upstream is `upstream`.
/// Panics with the scenario, step and request on the first mismatch.
pub fn run_over_http(s: &Scenario, to: std::net::SocketAddr, upstream: &crate::upstream::Upstream) {
    run_over_http_as(s, to, upstream, FrontEnd::Proxy)
}

/// Which front end answers, for the two things they carry out differently.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrontEnd {
    /// The proxy sets `X-Forwarded-For` itself (checked), and closes a new connection from a
    /// peer already serving a ban at accept, unanswered: an `active_ban` step passes either
    /// answered (403) or dropped.
    Proxy,
    /// nginx sends what the operator's `proxy_set_header` says (the upstream's
    /// `X-Forwarded-For` is not checked), and answers every banned request.
    Nginx,
}

/// [`run_over_http`] against a given front end.
pub fn run_over_http_as(
    s: &Scenario,
    to: std::net::SocketAddr,
    upstream: &crate::upstream::Upstream,
    front: FrontEnd,
) {
    let start = now_secs();
    for (i, step) in s.steps.iter().enumerate() {
        for n in 0..step.repeat {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(h) = &step.host {
                headers.push(("Host", h));
            }
            if let Some(ua) = &step.user_agent {
                headers.push(("User-Agent", ua));
            }
            if let Some(x) = &step.forwarded_for {
                headers.push(("X-Forwarded-For", x));
            }
            if let Some(x) = &step.real_ip {
                headers.push(("X-Real-IP", x));
            }
            for (k, v) in &step.headers {
                headers.push((k, v));
            }
            let cookie = s.cookie(step, start);
            if let Some(c) = &cookie {
                headers.push(("Cookie", c));
            }
            let from: std::net::IpAddr = step
                .peer
                .parse()
                .unwrap_or_else(|e| panic!("{}: peer: {e}", s.name));
            let hits_before = upstream.hits();
            let resp = match crate::http::request(from, to, &step.method, &step.path, &headers) {
                Ok(resp) => resp,
                Err(_) if front == FrontEnd::Proxy && step.reason == Some(Reason::ActiveBan) => {
                    assert_eq!(upstream.hits(), hits_before, "{} / step {i}", s.name);
                    continue;
                }
                Err(e) => panic!("{} / step {i} / request {n}: {e}", s.name),
            };
            let what = format!("{} / step {i} / request {n}: {resp:?}", s.name);
            assert_eq!(resp.status, step.expected_status(), "{what}");
            let reason = resp.header("x-tollgate-reason");
            if step.expect == Kind::Allow {
                assert_eq!(
                    upstream.hits(),
                    hits_before + 1,
                    "allowed request must reach the upstream: {what}"
                );
                assert_eq!(reason, None, "{what}");
                if let Some(want) = &step.upstream_path {
                    let got = upstream.last_resolved();
                    assert_eq!(got.as_deref(), Some(want.as_str()), "{what}");
                }
                if let (Some(xff), FrontEnd::Proxy) = (&step.upstream_forwarded_for, front) {
                    assert_eq!(
                        upstream.last_forwarded_for().as_deref(),
                        Some(xff.as_str()),
                        "{what}"
                    );
                }
            } else {
                assert_eq!(
                    upstream.hits(),
                    hits_before,
                    "refused request reached the upstream: {what}"
                );
                if let Some(want) = step.reason {
                    assert_eq!(reason, Some(want.as_str()), "{what}");
                }
                if matches!(step.expect, Kind::RateLimited | Kind::Banned) {
                    let secs = resp
                        .header("retry-after")
                        .and_then(|v| v.parse::<u64>().ok());
                    assert!(
                        secs.is_some_and(|s| s >= 1),
                        "Retry-After in seconds: {what}"
                    );
                }
            }
        }
    }
}
