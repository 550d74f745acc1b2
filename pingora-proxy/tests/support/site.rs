//! A `tollgate` over TLS (ALPN h2 + http/1.1) with a generated certificate, the default weights
//! and bands, a pass_on_score route and a challenged one, plus the client helpers the scoring
//! and TLS-stack tests share: curl and wget bound to their own source address, the log line of a
//! client, its score and signals.
#![allow(dead_code)] // each test file uses its own share of these

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{log_field, write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

pub const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Default weights and bands; a TLS listener with a generated certificate (the harness moves
/// it to a port of its own with `--tls-listen`).
pub const TLS_RULES: &str = r#"
[server]
tls_listen = "127.0.0.1:8443"
tls_self_signed = true
[score]
[[route]]
name = "protected"
path_prefix = "/protected/"
action = "challenge"
[[route]]
name = "articles"
path_prefix = "/articles/"
action = "challenge"
pass_on_score = true
"#;

pub struct Site {
    pub t: Tollgate,
    pub upstream: Upstream,
    pub tls: SocketAddr,
    _dir: TempDir,
}

impl Site {
    pub fn start() -> Self {
        Self::start_with(TLS_RULES)
    }

    /// A site on `rules` (TLS on, as [`TLS_RULES`] sets it).
    pub fn start_with(rules: &str) -> Self {
        let dir = TempDir::new("score");
        let upstream = Upstream::start().unwrap();
        let rules = write_rules(&dir.0, rules);
        let t = Tollgate::launch(bin(), &dir.0, &rules, &Launch::new(upstream.addr).tls());
        let tls = t.tls.expect("launched with TLS");
        Site {
            t,
            upstream,
            tls,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.tls)
    }

    /// The first log line about `client` whose message is `what` ("refused" or "granted").
    pub fn line(&self, client: &str, what: &str) -> String {
        let mut found = None;
        let seen = eventually(Duration::from_secs(5), || {
            found = self.t.log().lines().find_map(|l| {
                (l.contains(&format!("client={client} ")) && l.contains(what))
                    .then(|| l.to_string())
            });
            found.is_some()
        });
        assert!(seen, "no {what} line for {client}:\n{}", self.t.log());
        found.unwrap_or_default()
    }
}

/// Score and signal names of `client`'s first refusal.
pub fn scored(site: &Site, client: &str) -> (i32, Vec<String>) {
    let line = site.line(client, "refused");
    let score = log_field(&line, "score").parse().unwrap();
    let signals = log_field(&line, "signals")
        .split(',')
        .map(str::to_string)
        .collect();
    (score, signals)
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed? .ci/run installs it)"))
}

pub fn curl(from: &str, args: &[&str], url: &str) -> String {
    let out = run(Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ])
        .args(["--interface", from, "--max-time", "10"])
        .args(args)
        .arg(url));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn assert_has(signals: &[String], want: &[&str], not: &[&str], who: &str) {
    for w in want {
        assert!(
            signals.iter().any(|s| s == w),
            "{who}: {w} missing from {signals:?}"
        );
    }
    for n in not {
        assert!(
            !signals.iter().any(|s| s == n),
            "{who}: unexpected {n} in {signals:?}"
        );
    }
}
