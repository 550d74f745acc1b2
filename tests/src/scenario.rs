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
