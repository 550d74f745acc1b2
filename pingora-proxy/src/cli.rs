//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// An edge filter in front of web apps: rate limits, bans, allow/deny lists, hot-reloaded rules.
#[derive(Parser, Debug)]
#[command(name = "tollgate", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy. Rules reload on file change and on SIGHUP; SIGTERM shuts down gracefully.
    Run(RunArgs),
    /// Validate rules files: print every error with file:line:column, exit 1 if any.
    Check(CheckArgs),
    /// Solve a site's challenge on all cores and print the clearance cookie (for API clients,
    /// monitoring and tests): `curl -b "$(tollgate solve URL)" URL`.
    Solve(SolveArgs),
    /// Mint a clearance cookie from the signing key for a given client address and user agent,
    /// e.g. to load-test cleared traffic with wrk.
    Token(TokenArgs),
    /// Replace the signing key in a key file, keeping the old key valid for a grace period.
    /// Then reload the proxy (SIGHUP or POST /reload) to start signing with the new key.
    /// Without a key file yet, write the first key (mode 0600).
    RotateSecret(RotateArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Public listener, e.g. 0.0.0.0:80 (overrides [server] listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Upstream IP:PORT; repeat for several (overrides [server] upstreams).
    #[arg(long = "upstream")]
    pub upstreams: Vec<SocketAddr>,
    /// TLS listener address (overrides [server] tls_listen; the certificate settings stay those
    /// of [server], which must configure TLS).
    #[arg(long)]
    pub tls_listen: Option<SocketAddr>,
    /// Forward-auth listener for nginx auth_request, Caddy forward_auth and Traefik forwardAuth
    /// (overrides [server] auth_listen).
    #[arg(long)]
    pub auth_listen: Option<SocketAddr>,
    /// Admin listener for /metrics, /bans, /healthz (overrides [server] admin).
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// Directory for persisted bans and the pid file (overrides [server] state_dir).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// DNS server for verifying crawlers, IP:PORT (overrides [crawlers] resolver; default: the
    /// system's, from /etc/resolv.conf).
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Where the built-in demo backend listens when no upstream is configured.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub demo_backend: SocketAddr,
    /// Worker threads for the proxy (default: number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Most refusal log lines per second; the rest are counted in
    /// tollgate_log_lines_suppressed_total and summarised.
    #[arg(long, default_value_t = 50)]
    pub log_refusals_per_sec: u64,
    /// Seconds to keep serving in-flight requests after SIGTERM.
    #[arg(long, default_value_t = 5)]
    pub grace_secs: u64,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// The rules file: for `run`, listeners, upstreams and policy (flags override [server]); for
/// `token`, prefix lengths and the clearance's lifetime and budget.
#[derive(Args, Debug, Clone)]
pub struct RulesArg {
    /// Rules file (TOML).
    #[arg(
        long = "rules",
        short = 'r',
        value_name = "FILE",
        default_value = "rules/default.toml",
        env = "TOLLGATE_RULES"
    )]
    pub path: PathBuf,
}

impl RulesArg {
    /// Loads and validates the file; every error is in the message.
    pub fn load(&self) -> anyhow::Result<crate::config::Config> {
        crate::config::load(&self.path).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Where the signing key is: this file, else $TOLLGATE_SECRET (hex), else STATE_DIR/secret.key
/// (created with mode 0600 on first run).
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Key file (TOML: current = "hex", and during a rotation previous/previous_until).
    #[arg(long, env = "TOLLGATE_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// The protected URL, e.g. http://127.0.0.1:8080/login.
    pub url: String,
    /// User agent to send; the clearance is bound to it (and to this machine's address).
    #[arg(long, default_value = concat!("tollgate-solve/", env!("CARGO_PKG_VERSION")))]
    pub user_agent: String,
    /// Solver threads (default: number of CPUs).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Print only the cookie's value, without `tollgate_clearance=`.
    #[arg(long)]
    pub value_only: bool,
    /// For https:// URLs: trust the certificate authorities in this PEM file instead of the
    /// system's (e.g. a site's private CA).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// For https:// URLs: accept any certificate, unverified (development certificates only:
    /// anyone on the path can read and change the traffic).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Client address the cookie is bound to (its prefix under the rules' prefix lengths).
    #[arg(long)]
    pub ip: std::net::IpAddr,
    /// User agent the cookie is bound to, exactly as the client will send it.
    #[arg(long)]
    pub user_agent: String,
    #[command(flatten)]
    pub rules: RulesArg,
    /// State directory holding secret.key (overrides [server] state_dir).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Lifetime (default: [clearance] ttl_secs).
    #[arg(long)]
    pub ttl_secs: Option<u64>,
    /// Request budget (default: [clearance] requests). Load tests want a large one.
    #[arg(long)]
    pub requests: Option<u32>,
    /// For an HTTPS site: the cookie is named `__Host-tollgate_clearance`, as tollgate names it
    /// over TLS (or behind a trusted proxy that says X-Forwarded-Proto: https).
    #[arg(long)]
    pub https: bool,
    #[command(flatten)]
    pub key: KeyArgs,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    /// Key file to rotate (default: STATE_DIR/secret.key).
    #[arg(long, env = "TOLLGATE_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// State directory holding secret.key.
    #[arg(long, default_value = "tollgate-state")]
    pub state_dir: PathBuf,
    /// How long the old key keeps verifying: at least the clearance lifetime.
    #[arg(long, default_value_t = 3600)]
    pub grace_secs: u64,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Rules files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
