//! The rules file as the proxy reads it: the core's rules plus the `[server]` section, which
//! only this front end has (listeners, upstreams, TLS, the state directory).
//!
//! The file is read once; the core parses everything but `[server]`, this module parses
//! `[server]`, and both report errors the same way (`file:line:column`, sorted), so
//! `tollgate check`, start and reload reject a bad `[server]` exactly like a bad route.

mod fleet;
mod server;

use std::path::Path;

use tollgate_core::{parse_rules, read_rules_text, FsReader, InvalidRules, Rules};

pub use fleet::{FleetLimits, FleetSettings};
pub use server::{ServerSettings, TlsCert, TlsListener, UpstreamTimeouts};

/// A validated rules file.
#[derive(Clone, Debug)]
pub struct Config {
    pub rules: Rules,
    pub server: ServerSettings,
    pub fleet: FleetSettings,
}

/// Reads and validates the rules file at `path`: every error in every section, or the whole.
pub fn load(path: &Path) -> Result<Config, InvalidRules> {
    let text = read_rules_text(path, &FsReader)?;
    let rules = parse_rules(&text, path, &FsReader);
    let server = server::parse(&text, path, &FsReader);
    let fleet = fleet::parse(&text, path);
    match (rules, server, fleet) {
        (Ok(rules), Ok(server), Ok(fleet)) => Ok(Config {
            rules,
            server,
            fleet,
        }),
        (rules, server, fleet) => {
            let mut errors = rules.err().map(|e| e.errors).unwrap_or_default();
            let others = server.err().into_iter().chain(fleet.err()).flatten();
            for e in others {
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            Err(InvalidRules { errors })
        }
    }
}

/// What changed in `[server]` between two files, one line per difference, for the reload log.
pub fn describe_changes(old: &ServerSettings, new: &ServerSettings) -> Vec<String> {
    let mut out = Vec::new();
    if old.upstreams != new.upstreams {
        out.push(format!(
            "upstreams: {:?} -> {:?}",
            old.upstreams, new.upstreams
        ));
    }
    if old.timeouts != new.timeouts {
        out.push(format!(
            "upstream timeouts: {:?} -> {:?}",
            old.timeouts, new.timeouts
        ));
    }
    let restart = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        format!("{what}: {a:?} -> {b:?} (takes effect on restart)")
    };
    if old.listen != new.listen {
        out.push(restart("listen", &old.listen, &new.listen));
    }
    if old.admin != new.admin {
        out.push(restart("admin", &old.admin, &new.admin));
    }
    if old.tls != new.tls || old.h2c != new.h2c {
        let (a, b) = ((&old.tls, old.h2c), (&new.tls, new.h2c));
        out.push(restart("tls/h2c", &a, &b));
    }
    if old.state_dir != new.state_dir {
        out.push(restart("state_dir", &old.state_dir, &new.state_dir));
    }
    out
}
