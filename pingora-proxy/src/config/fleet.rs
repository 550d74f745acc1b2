//! The `[fleet]` section: the Redis (or Valkey) through which several instances share bans,
//! one-time answers and the rest. Absent: the instance keeps its state to itself.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tollgate_core::{line_col, ConfigError};
use toml::Spanned;

const SECTION: &str = "[fleet]";
/// The default deadline of one call to the store.
const DEADLINE_MS: i64 = 50;

/// Where the fleet's shared state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSettings {
    /// `redis://host:port/db` or `rediss://…`; `None`: no fleet.
    pub redis_url: Option<String>,
    /// Longest wait for one call; past it the instance decides on its own (`deadline_ms`, 50).
    pub deadline: Duration,
    /// Prefix of every key and channel (`key_prefix`, "tollgate"): several fleets, one store.
    pub key_prefix: String,
    /// For `rediss://` with a private CA (`ca_file`, PEM, relative to the rules file): the roots
    /// the store's certificate must chain to, instead of the public ones.
    pub ca_pem: Option<Vec<u8>>,
    /// How route limits are shared (`limits`, "reconciled").
    pub limits: FleetLimits,
}

/// How a fleet shares route limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FleetLimits {
    /// Each instance counts locally and the counts are exchanged every few milliseconds: no
    /// request waits on the store; the price is a documented slack.
    #[default]
    Reconciled,
    /// The store meters every limited request (GCRA in one script): exact across the fleet,
    /// for a round trip per request.
    Exact,
}

#[derive(Deserialize, Debug, Default)]
struct RawFile {
    #[serde(default)]
    fleet: Option<RawFleet>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    redis_url: Option<Spanned<String>>,
    deadline_ms: Option<Spanned<i64>>,
    key_prefix: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    limits: Option<Spanned<String>>,
}

/// `[fleet]` of the rules file `text` (read from `file`).
pub fn parse(text: &str, file: &Path) -> Result<FleetSettings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut error = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_col(text, span.start);
        errors.push(ConfigError {
            file: file.display().to_string(),
            line,
            column,
            rule: Some(SECTION.into()),
            message,
        });
    };
    // Syntax errors are the core's to report; a file that parses but whose `[fleet]` does not
    // (an unknown key, a wrong type) is this section's.
    let raw = match toml::from_str::<RawFile>(text) {
        Ok(f) => f.fleet.unwrap_or_default(),
        Err(_) if toml::from_str::<toml::Table>(text).is_err() => RawFleet::default(),
        Err(e) => {
            let msg = e.message().trim().lines().collect::<Vec<_>>().join("; ");
            error(e.span().unwrap_or(0..0), msg);
            RawFleet::default()
        }
    };
    let redis_url = raw.redis_url.map(|u| {
        if let Err(e) = redis::Client::open(u.get_ref().as_str()) {
            error(
                u.span(),
                // Not the URL itself: it may hold the store's password.
                format!("redis_url: {e} (e.g. \"redis://127.0.0.1:6379/0\")"),
            );
        }
        u.into_inner()
    });
    let deadline = match raw.deadline_ms {
        Some(d) if !(1..=5_000).contains(d.get_ref()) => {
            error(
                d.span(),
                format!("deadline_ms = {} is out of range 1..=5000", d.get_ref()),
            );
            DEADLINE_MS
        }
        Some(d) => *d.get_ref(),
        None => DEADLINE_MS,
    };
    let key_prefix = match raw.key_prefix {
        Some(p)
            if p.get_ref().is_empty()
                || p.get_ref()
                    .contains(['{', '}', ' ', '*', '?', '[', ']', '\\']) =>
        {
            error(
                p.span(),
                format!(
                    "key_prefix {:?}: not empty, and none of {{ }} * ? [ ] \\ or spaces",
                    p.get_ref()
                ),
            );
            "tollgate".into()
        }
        Some(p) => p.into_inner(),
        None => "tollgate".into(),
    };
    let ca_pem = raw.ca_file.and_then(|f| {
        let path = file.parent().unwrap_or(Path::new("")).join(f.get_ref());
        match std::fs::read(&path) {
            Ok(pem) if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE") => {
                Some(pem)
            }
            Ok(_) => {
                error(
                    f.span(),
                    format!("ca_file {} holds no PEM CERTIFICATE block", path.display()),
                );
                None
            }
            Err(e) => {
                error(
                    f.span(),
                    format!("cannot read ca_file {}: {e}", path.display()),
                );
                None
            }
        }
    });
    let limits = match raw
        .limits
        .as_ref()
        .map(|l| (l.get_ref().as_str(), l.span()))
    {
        None | Some(("reconciled", _)) => FleetLimits::Reconciled,
        Some(("exact", _)) => FleetLimits::Exact,
        Some((other, span)) => {
            error(
                span,
                format!("limits = {other:?}: \"reconciled\" (the default) or \"exact\""),
            );
            FleetLimits::Reconciled
        }
    };
    let settings = FleetSettings {
        limits,
        ca_pem,
        redis_url,
        deadline: Duration::from_millis(deadline as u64),
        key_prefix,
    };
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}
