//! The scenario table (`tests/scenarios.toml`), shared by every front end's tests.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use tollgate_core::Clearance;
use tollgate_core::FsReader;
use tollgate_core::{hardest_work_bits, mint_clearance};
use tollgate_core::{parse_rules, Keyring};

use crate::TEST_SECRET_HEX;

const TABLE: &str = include_str!("../scenarios.toml");

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Table {
    #[serde(rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// A complete rules file, minus `[server]` (each harness supplies its own listener).
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
    /// Decision kind: allow, deny, rate_limited, banned, challenge.
    pub expect: String,
    /// Decision reason (`Reason::as_str`), when the step pins it.
    pub reason: Option<String>,
    /// The `X-Forwarded-For` the upstream must receive (allowed requests only).
    pub upstream_forwarded_for: Option<String>,
    /// The HTTP status front ends must answer with, when not the kind's usual one.
    pub status: Option<u16>,
    /// Send a clearance cookie: "valid" (minted for this peer and user agent), "forged" (signed
    /// with another key), "stolen" (minted for another address), "expired".
    pub clearance: Option<String>,
    /// More request headers, as `[name, value]` pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Core only: the environment signals that must fire, comma-separated in bit order
    /// (`Signals::names`), `-` for none.
    pub signals: Option<String>,
    /// Core only: move the clock forward before this step.
    #[serde(default)]
    pub advance_secs: u64,
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
        match self.expect.as_str() {
            "allow" | "serve" => 200,
            "pass" => 303,
            "rate_limited" => 429,
            _ => 403,
        }
    }
}

impl Scenario {
    /// The `Cookie` header for `step` at `now_secs`, minted with [`TEST_SECRET_HEX`] under this
    /// scenario's rules. Every step of a scenario shares one clearance serial, so budgets carry.
    pub fn cookie(&self, step: &Step, now_secs: u64) -> Option<String> {
        let kind = step.clearance.as_deref()?;
        let rules = parse_rules(&self.rules, Path::new("scenario.toml"), &FsReader)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let ours = Keyring::from_hex(TEST_SECRET_HEX).unwrap_or_else(|e| panic!("{e}"));
        let theirs = Keyring::from_bytes(&[0x42; 32]).unwrap_or_else(|e| panic!("{e}"));
        let mut peer: IpAddr = step.peer.parse().unwrap_or_else(|e| panic!("peer: {e}"));
        let (mut issued, mut keys) = (now_secs, &ours);
        match kind {
            "valid" => {}
            "forged" => keys = &theirs,
            "stolen" => peer = [127, 0, 0, 254].into(),
            "expired" => issued = now_secs.saturating_sub(2 * rules.clearance.ttl_secs),
            other => panic!("{}: unknown clearance {other:?}", self.name),
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

/// A serial that is the same for every step of a scenario and differs between scenarios and runs.
fn serial_of(name: &str) -> [u8; 16] {
    let mut s = [0u8; 16];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    s[..8].copy_from_slice(&h.to_be_bytes());
    s[8..].copy_from_slice(&(nanos / 60_000_000_000).to_be_bytes());
    s
}

/// Parses the table; a malformed table fails the test that asked for it.
pub fn table() -> Table {
    match toml::from_str(TABLE) {
        Ok(t) => t,
        Err(e) => panic_table(e),
    }
}

#[allow(clippy::panic)] // test-only crate: a broken table must stop every test loudly
fn panic_table(e: toml::de::Error) -> Table {
    panic!("tests/scenarios.toml is invalid: {e}")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `s` over real HTTP against a front end listening on `to`, whose upstream is `upstream`.
/// Panics with the scenario, step and request on the first mismatch.
pub fn run_over_http(s: &Scenario, to: std::net::SocketAddr, upstream: &crate::upstream::Upstream) {
    run_over_http_as(s, to, upstream, UpstreamHeaders::Tollgates)
}

/// Whose the front end's upstream request headers are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpstreamHeaders {
    /// The proxy sets `X-Forwarded-For` itself: check it.
    Tollgates,
    /// nginx sends what the operator's `proxy_set_header` says: the decision is checked, the
    /// upstream's `X-Forwarded-For` is not.
    Operators,
}

/// [`run_over_http`], saying whose the upstream headers are.
pub fn run_over_http_as(
    s: &Scenario,
    to: std::net::SocketAddr,
    upstream: &crate::upstream::Upstream,
    upstream_headers: UpstreamHeaders,
) {
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
            let cookie = s.cookie(step, now_secs());
            if let Some(c) = &cookie {
                headers.push(("Cookie", c));
            }
            let from: std::net::IpAddr = step
                .peer
                .parse()
                .unwrap_or_else(|e| panic!("{}: peer: {e}", s.name));
            let hits_before = upstream.hits();
            let resp = crate::http::request(from, to, &step.method, &step.path, &headers)
                .unwrap_or_else(|e| panic!("{} / step {i} / request {n}: {e}", s.name));
            let what = format!("{} / step {i} / request {n}: {resp:?}", s.name);
            assert_eq!(resp.status, step.expected_status(), "{what}");
            let reason = resp.header("x-tollgate-reason");
            if step.expect == "allow" {
                assert_eq!(
                    upstream.hits(),
                    hits_before + 1,
                    "allowed request must reach the upstream: {what}"
                );
                assert_eq!(reason, None, "{what}");
                if let (Some(xff), UpstreamHeaders::Tollgates) =
                    (&step.upstream_forwarded_for, upstream_headers)
                {
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
                if let Some(want) = &step.reason {
                    assert_eq!(reason, Some(want.as_str()), "{what}");
                }
            }
        }
    }
}
