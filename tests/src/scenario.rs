//! The scenario table (`tests/scenarios.toml`), shared by every front end's tests.

use serde::Deserialize;

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
    pub fn expected_status(&self) -> u16 {
        if let Some(status) = self.status {
            return status;
        }
        match self.expect.as_str() {
            "allow" => 200,
            "rate_limited" => 429,
            _ => 403,
        }
    }
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

/// Runs `s` over real HTTP against a front end listening on `to`, whose upstream is `upstream`.
/// Panics with the scenario, step and request on the first mismatch.
pub fn run_over_http(s: &Scenario, to: std::net::SocketAddr, upstream: &crate::upstream::Upstream) {
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
                if let Some(xff) = &step.upstream_forwarded_for {
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
